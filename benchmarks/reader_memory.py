"""The reader's memory over a long run of questions, with batches padded to a step of
widths (`qa.reader.WIDTH_STEP`, the product) and to the exact width (the baseline).

    .venv/bin/python benchmarks/reader_memory.py ../shared/data/squad/squad-v1.1-train-44.json

Each setting runs in a process of its own (oneDNN's state is per process), twice,
alternating, so that both see the same machine. A question reads its own paragraph and
three others, each cut at a random length, as the product reads passages of any length.
"""

from __future__ import annotations

import argparse
import json
import random
import subprocess
import sys
import time
from pathlib import Path
from typing import Sequence

ROOT = Path(__file__).resolve().parent.parent


def run(squad: Path, step: int, questions: int, every: int) -> list[tuple[int, float, float]]:
    """(questions read, resident MiB, seconds) after every `every` questions."""
    sys.path.insert(0, str(ROOT))
    import index  # noqa: F401  (offline switches first)
    import qa.reader as reader_module

    reader_module.WIDTH_STEP = step
    data = json.loads(squad.read_text())["data"]
    items = [(q["question"], p["context"], a["title"]) for a in data for p in a["paragraphs"] for q in p["qas"]]
    paragraphs = [context for _, context, _ in items]
    rng = random.Random(0)
    reader = reader_module.Reader()
    found, started = [], time.perf_counter()
    for n, (question, context, title) in enumerate(rng.sample(items, questions), start=1):
        texts = [context, *rng.sample(paragraphs, 3)]
        reader.read(question, [t[: rng.randint(min(200, len(t)), len(t))] for t in texts], [title] * 4)
        if n % every == 0:
            pages = int(Path("/proc/self/statm").read_text().split()[1])
            found.append((n, pages * 4096 / 2**20, time.perf_counter() - started))
    return found


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("squad", type=Path, help="a SQuAD v1.1 file, e.g. squad-v1.1-train-44.json")
    parser.add_argument("--questions", type=int, default=600)
    parser.add_argument("--every", type=int, default=100)
    parser.add_argument("--step", type=int, help=argparse.SUPPRESS)  # one child process's setting
    args = parser.parse_args(argv)
    if args.step is not None:
        print(json.dumps(run(args.squad, args.step, args.questions, args.every)))
        return 0
    from qa.reader import WIDTH_STEP

    runs: dict[str, list[list[tuple[int, float, float]]]] = {f"step {WIDTH_STEP} (newsqa)": [], "exact width": []}
    for _ in range(2):
        for name, step in zip(runs, (WIDTH_STEP, 1)):
            child = [sys.executable, __file__, str(args.squad), "--questions", str(args.questions),
                     "--every", str(args.every), "--step", str(step)]
            out = subprocess.run(child, check=True, capture_output=True, text=True).stdout
            runs[name].append(json.loads(out.strip().splitlines()[-1]))
    names = list(runs)
    print(f"| questions | {' | '.join(f'{n}: MiB (runs 1, 2)' for n in names)} |")
    print(f"| ---: | {' | '.join('---:' for _ in names)} |")
    for i, (count, *_) in enumerate(runs[names[0]][0]):
        cells = [", ".join(f"{r[i][1]:,.0f}" for r in runs[n]) for n in names]
        print(f"| {count} | {' | '.join(cells)} |")
    totals = {n: [r[-1][2] for r in runs[n]] for n in names}
    print(f"\nseconds for all {args.questions}: " + "; ".join(
        f"{n} {', '.join(f'{s:.1f}' for s in totals[n])}" for n in names))
    ratio = sum(totals[names[0]]) / sum(totals[names[1]])
    print(f"time, {names[0]} / {names[1]}: {ratio:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
