"""Seconds per training step of the reader, by attention path and attention dropout.

    .venv/bin/python benchmarks/train_speed.py ../shared/data/squad/squad-v1.1-train-44.json

The model, its optimiser and its steps are the training script's own (its examples,
windows, batches, loss and step, bf16 autocast where the CPU has it), on the same batches
for every setting; negatives are drawn from the question's own article instead of being
mined, which gives the same lengths. The settings alternate over rounds, so that all of
them see the same machine; the ratio is to the packaged model's own config (attention
dropout 0.1 through torch's SDPA), against what `--attention-dropout 0.1` and `0` build.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from pathlib import Path
from typing import Sequence

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

SETTINGS = (None, 0.1, 0.0)  # attention dropout for `initial_model`; None, the packaged config, is the baseline


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("squad", type=Path, help="a SQuAD v1.1 training file (train-44)")
    parser.add_argument("--steps", type=int, default=20, help="timed steps per setting per round")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    import index  # noqa: F401  (offline switches first)
    import torch

    import train_reader as training
    from index.embedding import resolve_model
    from index.settings import DEFAULT_MODEL
    from qa import reader as reader_module
    from qa._reader_model import initial_model

    rng = random.Random(args.seed)
    paragraphs, questions = training.load(args.squad)
    by_article: dict[str, list[int]] = {}
    for i, p in enumerate(paragraphs):
        by_article.setdefault(p.article, []).append(i)
    picked = rng.sample(range(len(questions)), min(len(questions), (args.steps + 1) * 16 // 3 + 1))
    asked = [questions[n] for n in picked]
    pools = {n: [i for i in by_article[paragraphs[q.paragraph].article] if i != q.paragraph] for n, q in enumerate(asked)}
    tokenizer = reader_module.tokenizer_for()
    examples = training.examples_for_epoch(paragraphs, asked, pools, 2, rng, tokenizer, training.passage_room(256))
    plan = training.batches(examples, 16, rng)[: args.steps + 1]  # the first is not timed
    if len(plan) < 2:
        parser.error(f"{args.squad} has too few questions for one timed step of 16 examples")
    base = resolve_model(DEFAULT_MODEL)[1]
    labels: dict[float | None, str] = {}

    def seconds_per_step(dropout: float | None) -> float:
        torch.manual_seed(args.seed)
        model = initial_model(base, dropout)
        config = model.bert.config
        labels[dropout] = f"{config._attn_implementation:5}  attention dropout {config.attention_probs_dropout_prob}"
        optimizer = training.for_training(model, 8e-5)
        times = []
        for group in plan:
            started = time.perf_counter()
            training.train_step(model, optimizer, tokenizer, group, 256)
            times.append(time.perf_counter() - started)
        return statistics.mean(times[1:])

    measured: dict[float | None, list[float]] = {s: [] for s in SETTINGS}
    for round_ in range(args.rounds):
        for setting in SETTINGS:
            measured[setting].append(seconds_per_step(setting))
            print(f"round {round_ + 1}: {labels[setting]}: {measured[setting][-1]:.2f} s a step", flush=True)
    baseline = statistics.mean(measured[SETTINGS[0]])
    print(f"\n{len(plan) - 1} steps of 16 examples per setting and round, {args.rounds} rounds")
    for setting, times in measured.items():
        mean = statistics.mean(times)
        print(f"{labels[setting]}: {mean:.2f} s a step, {baseline / mean:.2f}x the baseline's speed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
