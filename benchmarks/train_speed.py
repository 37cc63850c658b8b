"""Seconds per training step of the reader, by attention path and attention dropout.

    .venv/bin/python benchmarks/train_speed.py ../shared/data/squad/squad-v1.1-train-44.json

The steps are the training script's own (its examples, windows, batches and loss, bf16
autocast where the CPU has it), on the same batches for every setting; negatives are
drawn from the question's own article instead of being mined, which gives the same
lengths. The settings alternate over rounds, so that all of them see the same machine;
the ratio is to the packaged model's setting (dropout 0.1 through torch's SDPA).
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

SETTINGS = (("sdpa", 0.1), ("eager", 0.1), ("sdpa", 0.0))  # the first is the baseline


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("squad", type=Path, help="a SQuAD v1.1 training file (train-44)")
    parser.add_argument("--steps", type=int, default=20, help="timed steps per setting per round")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    import index  # noqa: F401  (offline switches first)
    import torch
    from transformers import BertModel
    from transformers.utils import logging as transformers_logging

    import train_reader as training
    from index.embedding import resolve_model
    from index.precision import autocast
    from index.settings import DEFAULT_MODEL
    from qa import reader as reader_module
    from qa._reader_model import ReaderModel

    rng = random.Random(args.seed)
    paragraphs, questions = training.load(args.squad)
    by_article: dict[str, list[int]] = {}
    for i, p in enumerate(paragraphs):
        by_article.setdefault(p.article, []).append(i)
    picked = rng.sample(range(len(questions)), min(len(questions), (args.steps + 1) * 16 // 3 + 1))
    asked = [questions[n] for n in picked]
    pools = {n: [i for i in by_article[paragraphs[q.paragraph].article] if i != q.paragraph] for n, q in enumerate(asked)}
    tokenizer = reader_module.tokenizer_for()
    room = 256 - 2 * 24 - 4  # as the training script's default
    examples = training.examples_for_epoch(paragraphs, asked, pools, 2, rng, tokenizer, room)
    plan = training.batches(examples, 16, rng)[: args.steps + 1]  # the first is not timed
    if len(plan) < 2:
        parser.error(f"{args.squad} has too few questions for one timed step of 16 examples")
    base = resolve_model(DEFAULT_MODEL)[1]
    transformers_logging.set_verbosity_error()  # the packaged model's unused pooler is expected

    def seconds_per_step(implementation: str, dropout: float) -> float:
        torch.manual_seed(args.seed)
        bert = BertModel.from_pretrained(
            str(base), add_pooling_layer=False, local_files_only=True,
            attention_probs_dropout_prob=dropout, attn_implementation=implementation,
        )
        model = ReaderModel(bert)
        model.bert.embeddings.word_embeddings.weight.requires_grad_(False)
        model.train()
        optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-5)
        times = []
        for group in plan:
            started = time.perf_counter()
            batch = reader_module.encode(tokenizer, [e.question for e in group], [e.title for e in group],
                                         [e.text for e in group], 256)
            with autocast():
                loss = training.loss_of(model, batch, group)
            loss.backward()
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
            times.append(time.perf_counter() - started)
        return statistics.mean(times[1:])

    measured: dict[tuple[str, float], list[float]] = {s: [] for s in SETTINGS}
    for round_ in range(args.rounds):
        for setting in SETTINGS:
            measured[setting].append(seconds_per_step(*setting))
            print(f"round {round_ + 1}: {setting[0]}, attention dropout {setting[1]}: "
                  f"{measured[setting][-1]:.2f} s a step", flush=True)
    baseline = statistics.mean(measured[SETTINGS[0]])
    print(f"\n{len(plan) - 1} steps of 16 examples per setting and round, {args.rounds} rounds")
    for (implementation, dropout), times in measured.items():
        mean = statistics.mean(times)
        print(f"{implementation:5}  attention dropout {dropout}: {mean:.2f} s a step, "
              f"{baseline / mean:.2f}x the baseline's speed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
