"""Set the reader's two thresholds on train-44 articles it was not trained on.

    .venv/bin/python benchmarks/calibrate_reader.py ../shared/data/squad/squad-v1.1-train-44.json

All of the file's articles go into one store, the ones `benchmarks/train_reader.py` held
out of training (listed in qa/reader.json) under a source of their own. Their questions,
which the reader never saw, are asked through the product's retrieval and reader twice:
of the whole store (in corpus), and of the store without the held-out articles (out of
corpus: a source filter), so that both are asked of a store of the real size, where
chance matches are likelier than in a small one. Then:
- `abstain_below`: the reader's score of the best passage under which the answer
  abstains, set so that WRONG_ABSTAIN of the in-corpus questions abstain;
- `runner_up_within`: how close to the best passage's score a further passage must come
  for its best sentence to join the answer, the one that puts a gold answer in the most
  responses while the median answer stays within MEDIAN_WORDS words.
Both are written into qa/reader.json, with the figures they give on these questions.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from typing import Sequence

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import index  # noqa: E402, F401  (offline switches first)
from index.embedding import Embedder  # noqa: E402
from index.filters import Filters  # noqa: E402
from index.ingest import ingest_articles  # noqa: E402
from index.settings import Settings  # noqa: E402
from qa.engine import Engine  # noqa: E402
from qa.extractive import read_sentences  # noqa: E402
from qa.reader import Reader  # noqa: E402
from qa.retrieval import Passage  # noqa: E402
from qa.squad import SquadQuestion, holds_answer, load_squad  # noqa: E402

WRONG_ABSTAIN = 0.03  # the bar allows 4% on unseen articles; leave room
MEDIAN_WORDS = 38  # the bar allows 40
MAX_SENTENCES = 5
MARGINS = [m / 4 for m in range(0, 33)]
HELD_OUT, TRAINED = "held out", "trained on"


def read_passages(engine: Engine, question: str, filters: Filters | None = None) -> list[Passage]:
    """The passages the reader read for `question`, best first, as the product reads them."""
    found = engine.retriever.search(question, engine.settings.top_k, filters=filters)
    passages = engine.reader.rerank(question, found)  # type: ignore[union-attr]
    return [p for p in passages if p.reading is not None]


def top_score(read: list[Passage]) -> float:
    return read[0].reading.score if read else float("-inf")  # type: ignore[union-attr]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("squad", type=Path, help="the SQuAD training file the reader was trained on")
    parser.add_argument("--weights", type=Path, default=ROOT / "qa",
                        help="the folder of reader.safetensors and reader.json (default: qa/)")
    args = parser.parse_args(argv)

    started = time.perf_counter()
    config_path = args.weights / "reader.json"
    reader = Reader(args.weights / "reader.safetensors", config_path)
    config = json.loads(config_path.read_text())
    held = sorted(config["trained"]["held_out"])
    squad = load_squad(args.squad)
    embedder = Embedder()
    articles = [replace(a, source=HELD_OUT if a.id in held else TRAINED) for a in squad.articles]
    without_held = Filters.parse([TRAINED])
    inside: list[tuple[list[Passage], SquadQuestion]] = []
    outside: list[float] = []
    with tempfile.TemporaryDirectory(prefix="newsqa-calibrate-") as folder:
        settings = replace(Settings(), store=Path(folder) / "store", chroma_url=None)
        ingest_articles(articles, settings=settings, embedder=embedder, progress=False)
        engine = Engine(settings, embedder, reader=reader)
        for question in squad.questions:
            if question.article_id in held:
                inside.append((read_passages(engine, question.question), question))
                outside.append(top_score(read_passages(engine, question.question, without_held)))
    tops = sorted(top_score(read) for read, _ in inside)
    abstain_below = tops[int(WRONG_ABSTAIN * len(tops))]
    answered = [(read, q) for read, q in inside if top_score(read) >= abstain_below]
    best_margin, best_share, best_median = 0.0, -1.0, 0.0
    for margin in MARGINS:
        hits, words = 0, []
        for read, question in answered:
            chosen = [sentence.text for sentence, _ in read_sentences(read, margin, MAX_SENTENCES)]
            hits += holds_answer(" ".join(chosen), question.answers)
            words.append(sum(len(t.split()) for t in chosen))
        median = statistics.median(words) if words else 0
        share = hits / len(inside)
        if median <= MEDIAN_WORDS and share > best_share:
            best_margin, best_share, best_median = margin, share, median
    first = sum(
        bool(chosen := read_sentences(read, 0.0, 1)) and holds_answer(chosen[0][0].text, q.answers)
        for read, q in answered
    ) / len(inside)
    config["calibration"] = {
        "abstain_below": round(abstain_below, 4),
        "runner_up_within": best_margin,
        "on": {
            "articles": held, "in_corpus_questions": len(inside), "out_of_corpus_questions": len(outside),
            "wrongly_abstained": round(sum(t < abstain_below for t in tops) / len(tops), 4),
            "out_of_corpus_abstained": round(sum(t < abstain_below for t in outside) / max(1, len(outside)), 4),
            "answer_in_first_cited_sentence": round(first, 4),
            "answer_in_response": round(best_share, 4), "median_words": best_median,
            "minutes": round((time.perf_counter() - started) / 60, 1),
        },
        # What other shares of wrong abstentions would have cost (same questions):
        "tradeoff": [
            {"wrongly_abstained": share,
             "out_of_corpus_abstained": round(sum(t < cut for t in outside) / max(1, len(outside)), 4)}
            for share in (0.02, 0.03, 0.04, 0.05, 0.06) for cut in [tops[int(share * len(tops))]]
        ],
    }
    config_path.write_text(json.dumps(config, indent=1) + "\n")
    print(json.dumps(config["calibration"], indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
