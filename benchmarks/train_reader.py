"""Train the reader (qa/reader.safetensors, qa/reader.json) from a SQuAD training file.

    .venv/bin/python benchmarks/train_reader.py ../shared/data/squad/squad-v1.1-train-44.json

Only that file is read; dev-a never is. Seeded, so the same command rebuilds the same
weights on the same machine.

1. A few articles (seeded) are held out of training: they are what the reader is measured
   on while it trains, and what its thresholds are calibrated on afterwards
   (benchmarks/calibrate_reader.py), so that no threshold is set on data it learnt from.
2. Hard negatives come from our own retrieval: the packaged model's cosine and BM25 over
   every paragraph of the training articles, fused; a question's negatives are the best
   fused paragraphs that hold none of its gold answers. With --answerless, some of a
   question's negatives are instead its own paragraph without the sentences that hold
   the answer: the same subject and the question's words, no answer, which is what a
   reader must refuse when the articles cover a story but not the fact asked for.
3. Three epochs, each pairing every question with its own paragraph (cut to fit around
   the answer) and NEGATIVES fresh draws from its hard negatives. The loss is the
   relevance logit's binary cross-entropy plus, on the positives, the cross-entropy of
   the answer's first and last word piece. The word embeddings stay frozen (they ship
   with the packaged model, not in our file). bf16 autocast where the CPU has it. No
   attention dropout, so that torch's fused attention runs: the packaged model's 0.1
   makes a step 1.7x slower and held out no better (BENCHMARKS.md).
"""

from __future__ import annotations

import argparse
import json
import math
import random
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Sequence

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import index  # noqa: E402, F401  (offline switches first)
from index.embedding import Embedder  # noqa: E402
from index.precision import autocast, cpu_has_bf16  # noqa: E402
from index.sentences import sentence_spans  # noqa: E402
from qa import reader as reader_module  # noqa: E402
from qa.retrieval import RRF_K  # noqa: E402
from qa.squad import exact_match, f1_score, holds_answer  # noqa: E402
from index.terms import terms  # noqa: E402

if TYPE_CHECKING:
    import torch
    from tokenizers import Tokenizer

    from qa._reader_model import ReaderModel

HOLDOUT = 6  # articles kept out of training, for measuring and calibrating
POOL = 12  # fused paragraphs a question's negatives are drawn from


@dataclass(frozen=True)
class Paragraph:
    article: str
    title: str
    text: str


@dataclass(frozen=True)
class Question:
    text: str
    paragraph: int  # index into the paragraphs
    answers: tuple[str, ...]
    start: int  # first gold answer's characters in the paragraph
    end: int


@dataclass(frozen=True)
class Example:
    question: str
    title: str
    text: str
    label: float
    answer: tuple[int, int] | None  # characters in `text`


def load(path: Path) -> tuple[list[Paragraph], list[Question]]:
    data = json.loads(path.read_text(encoding="utf-8"))["data"]
    paragraphs: list[Paragraph] = []
    questions: list[Question] = []
    for entry in data:
        title = str(entry["title"]).replace("_", " ")
        for para in entry["paragraphs"]:
            paragraphs.append(Paragraph(str(entry["title"]), title, para["context"]))
            for qa in para["qas"]:
                if not qa["answers"]:
                    continue
                first = qa["answers"][0]
                start = int(first["answer_start"])
                questions.append(Question(
                    qa["question"], len(paragraphs) - 1,
                    tuple(dict.fromkeys(a["text"] for a in qa["answers"])),
                    start, start + len(first["text"]),
                ))
    return paragraphs, questions


def split(paragraphs: Sequence[Paragraph], seed: int, holdout: int) -> tuple[set[str], set[str]]:
    articles = sorted({p.article for p in paragraphs})
    held = set(random.Random(seed).sample(articles, min(holdout, len(articles) // 2)))
    return set(articles) - held, held


def hard_negatives(
    paragraphs: Sequence[Paragraph], questions: Sequence[Question], allowed: Sequence[int],
    embedder: Embedder,
) -> dict[int, list[int]]:
    """For each question (by index), the best fused paragraphs among `allowed` that hold
    none of its answers."""
    import bm25s

    texts = [f"{paragraphs[i].title}. {paragraphs[i].text}" for i in allowed]
    with autocast():
        dense = embedder.encode(texts) @ embedder.encode([q.text for q in questions]).T  # (P, Q)
    lexical = bm25s.BM25()
    lexical.index([terms(t) for t in texts], show_progress=False)
    pools: dict[int, list[int]] = {}
    for n, question in enumerate(questions):
        fused: dict[int, float] = {}
        dense_order = np.argsort(-dense[:, n])[: 2 * POOL]
        query = terms(question.text)
        lexical_scores = lexical.get_scores(query) if query else np.zeros(len(allowed))
        for ranking in (dense_order, np.argsort(-lexical_scores)[: 2 * POOL]):
            for rank, j in enumerate(ranking):
                fused[int(j)] = fused.get(int(j), 0.0) + 1 / (RRF_K + rank + 1)
        ordered = [allowed[j] for j in sorted(fused, key=lambda j: -fused[j])]
        pools[n] = [
            i for i in ordered
            if i != question.paragraph and not holds_answer(paragraphs[i].text, question.answers)
        ][:POOL]
    return pools


def without_answer(paragraph: Paragraph, question: Question) -> str | None:
    """The paragraph without the sentences that hold the question's first gold answer, or
    None when nothing would be left or another of its answers would still be there."""
    spans = sentence_spans(paragraph.text)
    kept = [paragraph.text[a:b] for a, b in spans if b <= question.start or a >= question.end]
    if not kept or len(kept) == len(spans):
        return None
    text = " ".join(kept)
    return None if holds_answer(text, question.answers) else text


def window(text: str, offsets: np.ndarray, room: int, around: tuple[int, int] | None, rng: random.Random) -> tuple[str, int]:
    """A piece of `text` of at most `room` word pieces (holding `around`, a character span,
    somewhere random inside it) and where it starts in `text`."""
    if len(offsets) <= room:
        return text, 0
    if around is None:
        first = 0
    else:
        a = int(np.searchsorted(offsets[:, 1], around[0], side="right"))
        b = int(np.searchsorted(offsets[:, 0], around[1], side="left"))
        lo, hi = max(0, b - room), min(a, len(offsets) - room)
        first = rng.randint(lo, hi) if lo <= hi else a
    last = min(len(offsets), first + room)
    start, end = int(offsets[first, 0]), int(offsets[last - 1, 1])
    return text[start:end], start


def examples_for_epoch(
    paragraphs: Sequence[Paragraph], questions: Sequence[Question], pools: dict[int, list[int]],
    negatives: int, rng: random.Random, tokenizer: Tokenizer, room: int,
    answerless: dict[int, str] | None = None,
) -> list[Example]:
    """Each question with its own paragraph and `negatives` others: its paragraph without
    the answer where `answerless` (by question) has one, the rest drawn from its hard
    negatives."""
    offsets_of: dict[int | str, np.ndarray] = {}

    def offsets(i: int | str) -> np.ndarray:
        if i not in offsets_of:
            text = i if isinstance(i, str) else paragraphs[i].text
            encoding = tokenizer.encode(text, add_special_tokens=False)
            offsets_of[i] = np.asarray(encoding.offsets, dtype=np.int64).reshape(-1, 2)
        return offsets_of[i]

    found: list[Example] = []
    for n, question in enumerate(questions):
        own = paragraphs[question.paragraph]
        text, shift = window(own.text, offsets(question.paragraph), room, (question.start, question.end), rng)
        found.append(Example(question.text, own.title, text, 1.0, (question.start - shift, question.end - shift)))
        drawn = negatives
        gutted = (answerless or {}).get(n)
        if gutted is not None and negatives:
            text, _ = window(gutted, offsets(gutted), room, None, rng)
            found.append(Example(question.text, own.title, text, 0.0, None))
            drawn -= 1
        pool = pools.get(n, [])
        for i in rng.sample(pool, min(drawn, len(pool))):
            text, _ = window(paragraphs[i].text, offsets(i), room, None, rng)
            found.append(Example(question.text, paragraphs[i].title, text, 0.0, None))
    return found


def batches(examples: list[Example], size: int, rng: random.Random) -> list[list[Example]]:
    """Shuffled batches of examples of similar length (less padding, same mix)."""
    order = examples[:]
    rng.shuffle(order)
    groups = []
    for at in range(0, len(order), size * 50):
        chunk = sorted(order[at : at + size * 50], key=lambda e: len(e.text))
        groups += [chunk[i : i + size] for i in range(0, len(chunk), size)]
    rng.shuffle(groups)
    return groups


def targets(batch: reader_module.Batch, examples: Sequence[Example]) -> tuple[list[int], list[int]]:
    """Positions of each positive's first and last answer piece (-100: none, ignored)."""
    starts, ends = [], []
    for n, example in enumerate(examples):
        offsets = batch.offsets[n]
        if example.answer is None or not len(offsets):
            starts.append(-100)
            ends.append(-100)
            continue
        a, b = example.answer
        inside = np.flatnonzero((offsets[:, 1] > a) & (offsets[:, 0] < b))
        if not len(inside):
            starts.append(-100)
            ends.append(-100)
            continue
        starts.append(batch.passage_start[n] + int(inside[0]))
        ends.append(batch.passage_start[n] + int(inside[-1]))
    return starts, ends


def loss_of(model: ReaderModel, batch: reader_module.Batch, examples: Sequence[Example]) -> torch.Tensor:
    import torch
    import torch.nn.functional as F

    relevance, start, end = model(*reader_module.to_tensors(batch))
    passage = torch.from_numpy(batch.token_type_ids == 1)
    passage[torch.arange(len(examples)), torch.from_numpy(batch.attention_mask.sum(1) - 1)] = False  # final [SEP]
    start = start.masked_fill(~passage, -1e4)
    end = end.masked_fill(~passage, -1e4)
    labels = torch.tensor([e.label for e in examples])
    loss = F.binary_cross_entropy_with_logits(relevance, labels)
    s, e = targets(batch, examples)
    s_t, e_t = torch.tensor(s), torch.tensor(e)
    if (s_t >= 0).any():
        loss = loss + (F.cross_entropy(start, s_t, ignore_index=-100) + F.cross_entropy(end, e_t, ignore_index=-100)) / 2
    return loss


def passage_room(max_length: int) -> int:
    """Word pieces left for the passage after a long question and title."""
    return max_length - 2 * 24 - 4


def for_training(model: ReaderModel, lr: float) -> torch.optim.Optimizer:
    """Put the model in training mode with its word embeddings frozen (they ship with the
    packaged model); its optimizer, the heads at ten times the body's rate."""
    import torch

    model.bert.embeddings.word_embeddings.weight.requires_grad_(False)
    model.train()
    head = [p for n, p in model.named_parameters() if not n.startswith("bert.")]
    body = [p for n, p in model.named_parameters() if n.startswith("bert.") and p.requires_grad]
    return torch.optim.AdamW([{"params": body, "lr": lr}, {"params": head, "lr": lr * 10}], weight_decay=0.01)


def train_step(
    model: ReaderModel, optimizer: torch.optim.Optimizer, tokenizer: Tokenizer, group: Sequence[Example],
    max_length: int,
) -> torch.Tensor:
    """One optimiser step on a batch of examples; its loss."""
    import torch

    batch = reader_module.encode(
        tokenizer, [e.question for e in group], [e.title for e in group], [e.text for e in group], max_length
    )
    with autocast():
        loss = loss_of(model, batch, group)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    optimizer.step()
    optimizer.zero_grad(set_to_none=True)
    return loss


def measure(
    model: ReaderModel, tokenizer: Tokenizer, paragraphs: Sequence[Paragraph], questions: Sequence[Question],
    pools: dict[int, list[int]], limit: int, max_length: int,
) -> dict[str, float]:
    """On held-out questions: the share whose own paragraph the reader ranks above the
    hard negatives; the short answer's exact match and F1 on its own paragraph; and the
    share whose own paragraph it scores above that paragraph without the answer."""
    picked = top1 = exact = f1 = 0.0
    gutted = above_gutted = 0
    model.eval()
    for n, question in list(enumerate(questions))[:limit]:
        ids = [question.paragraph, *pools.get(n, [])[:3]]
        texts = [paragraphs[i].text for i in ids]
        titles = [paragraphs[i].title for i in ids]
        if (without := without_answer(paragraphs[question.paragraph], question)) is not None:
            texts, titles = [*texts, without], [*titles, titles[0]]
        batch = reader_module.encode(tokenizer, [question.text] * len(texts), titles, texts, max_length)
        readings = reader_module.read_batch(model, batch)
        if without is not None:
            gutted += 1
            above_gutted += readings[0].score > readings.pop().score
        top1 += float(int(np.argmax([r.score for r in readings])) == 0)
        span = readings[0].span()
        guess = texts[0][span.start : span.end] if span else ""
        exact += float(any(exact_match(guess, a) for a in question.answers))
        f1 += max(f1_score(guess, a) for a in question.answers)
        picked += 1
    model.train()
    return {"top1": top1 / picked, "exact": exact / picked, "f1": f1 / picked, "questions": picked,
            "above_answerless": above_gutted / max(gutted, 1)}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("squad", type=Path, help="a SQuAD v1.1 training file (train-44)")
    parser.add_argument("--out", type=Path, default=ROOT / "qa", help="folder for reader.safetensors and reader.json")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--epochs", type=float, default=3.0)
    parser.add_argument("--negatives", type=int, default=2, help="hard negatives per question per epoch")
    parser.add_argument("--answerless", type=int, default=0, choices=(0, 1),
                        help="of a question's negatives, this many are its own paragraph without the answer")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--lr", type=float, default=8e-5)
    parser.add_argument("--max-length", type=int, default=256, help="word pieces per training input")
    parser.add_argument("--attention-dropout", type=float, default=0.0,
                        help="dropout on the attention weights (0: torch's fused attention, 1.7x faster a step "
                             "than the packaged model's 0.1: benchmarks/train_speed.py)")
    parser.add_argument("--max-steps", type=int, default=None, help="stop after this many steps (a smoke run)")
    parser.add_argument("--holdout", type=int, default=HOLDOUT, help="articles kept out of training")
    parser.add_argument("--measure", type=int, default=600, help="held-out questions measured after each epoch")
    parser.add_argument("--no-calibrate", action="store_true",
                        help="leave the thresholds as they are (else benchmarks/calibrate_reader.py runs)")
    parser.add_argument("--news", type=Path, default=None,
                        help="news questions for the calibration to fit on as well (none by default)")
    parser.add_argument("--news-store", choices=("all", "named"), default="all",
                        help="the calibration's news store: every BBC article, or those the questions name")
    args = parser.parse_args(argv)

    import torch

    from qa._reader_model import WORD_EMBEDDINGS, initial_model, trained_state

    random.seed(args.seed)
    np.random.seed(args.seed)
    torch.manual_seed(args.seed)
    rng = random.Random(args.seed)
    started = time.perf_counter()
    paragraphs, questions = load(args.squad)
    training, held = split(paragraphs, args.seed, args.holdout)
    train_q = [q for q in questions if paragraphs[q.paragraph].article in training]
    held_q = [q for q in questions if paragraphs[q.paragraph].article in held]
    embedder = Embedder()
    in_training = [i for i, p in enumerate(paragraphs) if p.article in training]
    in_held = [i for i, p in enumerate(paragraphs) if p.article in held]
    pools = hard_negatives(paragraphs, train_q, in_training, embedder)
    answerless: dict[int, str] = {}  # by training question
    if args.answerless:
        for n, q in enumerate(train_q):
            if (text := without_answer(paragraphs[q.paragraph], q)) is not None:
                answerless[n] = text
    held_pools = hard_negatives(paragraphs, held_q, in_held, embedder) if held_q else {}
    print(f"{len(train_q)} training questions ({len(training)} articles), {len(held_q)} held out "
          f"({len(held)} articles); negatives mined in {time.perf_counter() - started:.0f} s"
          + (f"; {len(answerless)} paragraphs without their answer" if args.answerless else ""), flush=True)

    tokenizer = reader_module.tokenizer_for()
    model = initial_model(embedder.path, args.attention_dropout)
    optimizer = for_training(model, args.lr)
    per_epoch = math.ceil(len(train_q) * (1 + args.negatives) / args.batch_size)
    total = args.max_steps or math.ceil(per_epoch * args.epochs)
    warmup = max(1, total // 16)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: min((step + 1) / warmup, max(0.0, (total - step) / (total - warmup)))
    )
    room = passage_room(args.max_length)
    step, epoch, history = 0, 0, []
    while step < total:
        epoch += 1
        examples = examples_for_epoch(
            paragraphs, train_q, pools, args.negatives, rng, tokenizer, room, answerless
        )
        plan = batches(examples, args.batch_size, rng)
        running = 0.0
        for n, group in enumerate(plan, start=1):
            loss = train_step(model, optimizer, tokenizer, group, args.max_length)
            schedule.step()
            step += 1
            running += float(loss.detach())
            if n % 100 == 0:
                print(f"epoch {epoch} step {step}/{total} loss {running / 100:.3f} "
                      f"{time.perf_counter() - started:.0f} s", flush=True)
                running = 0.0
            if step >= total:
                break
        if held_q and args.measure:
            figures = measure(model, tokenizer, paragraphs, held_q, held_pools, args.measure, reader_module.MAX_LENGTH)
            history.append({"epoch": epoch, "step": step, **figures})
            print(f"held out after epoch {epoch}: {figures}", flush=True)

    args.out.mkdir(parents=True, exist_ok=True)
    from safetensors.torch import save_file

    state = trained_state(model)
    assert WORD_EMBEDDINGS not in state
    save_file(state, str(args.out / "reader.safetensors"))
    config_path = args.out / "reader.json"
    old = json.loads(config_path.read_text()) if config_path.is_file() else {}
    config = {
        "format": 1,
        "base": embedder.model_name,
        "max_length": reader_module.MAX_LENGTH,
        "trained": {
            "file": args.squad.name, "seed": args.seed, "epochs": args.epochs, "steps": step,
            "negatives": args.negatives, "answerless": args.answerless, "batch_size": args.batch_size, "lr": args.lr,
            "max_length": args.max_length, "attention_dropout": args.attention_dropout,
            "bf16": cpu_has_bf16(),
            "minutes": round((time.perf_counter() - started) / 60, 1),
            "held_out": sorted(held), "measured": history,
        },
        "calibration": old.get("calibration", {}),
    }
    config_path.write_text(json.dumps(config, indent=1) + "\n")
    size = (args.out / "reader.safetensors").stat().st_size
    print(f"wrote {args.out / 'reader.safetensors'} ({size / 1e6:.1f} MB) in {config['trained']['minutes']} min")
    if not args.no_calibrate and held:
        sys.path.insert(0, str(ROOT / "benchmarks"))
        from calibrate_reader import main as calibrate

        news = ["--news", str(args.news), "--news-store", args.news_store] if args.news else []
        return calibrate([str(args.squad), "--weights", str(args.out), *news])
    return 0


if __name__ == "__main__":
    sys.exit(main())
