"""Weigh the reader against the linear features, and set the answer's thresholds, on
train-44 articles the reader was not trained on.

    .venv/bin/python benchmarks/calibrate_reader.py ../shared/data/squad/squad-v1.1-train-44.json

All of the file's articles go into one store, the ones `benchmarks/train_reader.py` held
out of training (listed in qa/reader.json) under a source of their own. Their questions,
which the reader never saw, are asked through the product's retrieval and reader twice:
of the whole store (in corpus), and of the store without the held-out articles (out of
corpus: a source filter), so that both are asked of a store of the real size, where
chance matches are likelier than in a small one. Then, in this order (each step uses
the ones before):
- `sentence`: the weights of a read sentence's score (its passage's reader score, its
  best span's, its linear score), fitted so that the sentences holding a gold answer
  come first (a softmax over each question's sentences);
- `combined`: the abstainer, a logistic model telling in-corpus questions from
  out-of-corpus ones by the reader's score for the best passage and the linear evidence
  logit, its bias moved so that WRONG_ABSTAIN of the in-corpus questions abstain;
- `abstain_below`: the same share for the reader's score alone (the "reader" ablation);
- `within`: how close to the best sentence's score another must come to join the
  answer, the margin that puts a gold answer in the most responses while the median
  answer stays within MEDIAN_WORDS words;
- `read_within`: how close to the best passage's retrieval score another of the four
  must come to be read at all, the smallest margin that loses at most READ_LOSS of the
  answers in responses that reading all four gives (reading is most of a question's time).
All are written into qa/reader.json, with the figures they give on these questions.
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Sequence

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import index  # noqa: E402, F401  (offline switches first)
from index.embedding import Embedder  # noqa: E402
from index.filters import Filters  # noqa: E402
from index.ingest import ingest_articles  # noqa: E402
from index.settings import Settings  # noqa: E402
from qa.engine import Engine  # noqa: E402
from qa.extractive import ExtractiveAnswerer, Ranking, combined_score, select  # noqa: E402
from qa.reader import Reader  # noqa: E402
from qa.retrieval import LexicalIndex, Passage  # noqa: E402
from qa.squad import SquadQuestion, holds_answer, load_squad  # noqa: E402

WRONG_ABSTAIN = 0.03  # the bar allows 4% on unseen articles; leave room
MEDIAN_WORDS = 38  # the bar allows 40
MAX_SENTENCES = 5
MARGINS = [m / 4 for m in range(0, 33)]
READ_MARGINS = [m / 2 for m in range(2, 21)]
READ_LOSS = 0.002
SENTENCE_FEATURES = ("reader", "span", "linear")
EVIDENCE = ("reader", "evidence")
HELD_OUT, TRAINED = "held out", "trained on"


@dataclass(frozen=True)
class Asked:
    question: SquadQuestion
    vector: np.ndarray
    inside: list[Passage]  # read of the whole store
    outside: list[Passage]  # read of the store without the held-out articles

    def rank(self, answerer: ExtractiveAnswerer, inside: bool = True) -> Ranking:
        return answerer.rank(self.question.question, self.inside if inside else self.outside, self.vector)


def ask(engine: Engine, question: SquadQuestion, without_held: Filters) -> Asked:
    """The question's passages, the reader's best first, as the product reads them (all
    four of the best), of the whole store and of the store without the held-out articles."""
    vector = engine.embedder.encode_one(question.question)
    lexical = engine.retriever.lexical()
    read = [
        engine.reader.rerank(question.question, engine.retriever.search(  # type: ignore[union-attr]
            question.question, engine.settings.top_k, vector, lexical, filters))
        for filters in (None, without_held)
    ]
    return Asked(question, vector, *read)


def fit_sentence_weights(rankings: Sequence[tuple[Ranking, SquadQuestion]]) -> dict[str, float]:
    """Weights under which each question's gold sentences get the most of a softmax over
    its read sentences (questions without a gold sentence among them teach nothing)."""
    import torch

    groups = []
    for ranking, question in rankings:
        gold = [holds_answer(c.sentence.text, question.answers) for c in ranking.candidates]
        if any(gold) and not all(gold):
            features = [[c.features[n] for n in SENTENCE_FEATURES] for c in ranking.candidates]  # type: ignore[index]
            groups.append((torch.tensor(features), torch.tensor(gold)))
    w = torch.zeros(len(SENTENCE_FEATURES), requires_grad=True)
    optimizer = torch.optim.LBFGS([w], max_iter=200)

    def loss() -> torch.Tensor:
        optimizer.zero_grad()
        total = sum(torch.logsumexp(x @ w, 0) - torch.logsumexp((x @ w)[g], 0) for x, g in groups)
        value = total / len(groups) + 1e-3 * (w**2).sum()
        value.backward()
        return value

    optimizer.step(loss)
    return {name: round(float(v), 4) for name, v in zip(SENTENCE_FEATURES, w.detach())}


def fit_abstainer(inside: list[dict[str, float]], outside: list[dict[str, float]]) -> dict[str, float]:
    """A logistic model of "the store holds the answer" over EVIDENCE, its bias then set
    so that WRONG_ABSTAIN of the in-corpus questions fall below 0."""
    import torch

    rows = [(e, label) for group, label in ((inside, 1.0), (outside, 0.0)) for e in group
            if all(math.isfinite(e[n]) for n in EVIDENCE)]
    x = torch.tensor([[e[n] for n in EVIDENCE] for e, _ in rows])
    y = torch.tensor([label for _, label in rows])
    mean, std = x.mean(0), x.std(0)
    v = torch.zeros(len(EVIDENCE) + 1, requires_grad=True)
    optimizer = torch.optim.LBFGS([v], max_iter=300)

    def loss() -> torch.Tensor:
        optimizer.zero_grad()
        logits = ((x - mean) / std) @ v[:-1] + v[-1]
        value = torch.nn.functional.binary_cross_entropy_with_logits(logits, y) + 1e-3 * (v[:-1] ** 2).sum()
        value.backward()
        return value

    optimizer.step(loss)
    weights = {n: float(v[i].detach() / std[i]) for i, n in enumerate(EVIDENCE)}
    scores = sorted(combined_score({**weights, "bias": 0.0}, e) for e in inside)
    bias = -scores[int(WRONG_ABSTAIN * len(scores))]
    return {**{n: round(w, 5) for n, w in weights.items()}, "bias": round(bias, 5)}


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
    with tempfile.TemporaryDirectory(prefix="newsqa-calibrate-") as folder:
        settings = replace(Settings(), store=Path(folder) / "store", chroma_url=None)
        ingest_articles(articles, settings=settings, embedder=embedder, progress=False)
        engine = Engine(settings, embedder, reader=reader)
        lexical: LexicalIndex = engine.retriever.lexical()
        asked = [ask(engine, q, without_held) for q in squad.questions if q.article_id in held]

        first_pass = ExtractiveAnswerer(lexical)  # its candidates' features do not depend on weights
        sentence = fit_sentence_weights([(a.rank(first_pass), a.question) for a in asked])
        answerer = ExtractiveAnswerer(lexical, calibration={"sentence": sentence})
        inside = [a.rank(answerer) for a in asked]
        outside = [a.rank(answerer, inside=False) for a in asked]
    evidence_in = [answerer.evidence(a.question.question, r) for a, r in zip(asked, inside)]
    evidence_out = [answerer.evidence(a.question.question, r) for a, r in zip(asked, outside)]
    combined = fit_abstainer(evidence_in, evidence_out)
    unbiased = {**combined, "bias": 0.0}
    kept_in = [bool(r.candidates) and combined_score(combined, e) >= 0 for r, e in zip(inside, evidence_in)]
    kept_out = [bool(r.candidates) and combined_score(combined, e) >= 0 for r, e in zip(outside, evidence_out)]
    tops = sorted(e["reader"] for e in evidence_in)
    abstain_below = tops[int(WRONG_ABSTAIN * len(tops))]

    answered = [(r, a.question) for r, a, kept in zip(inside, asked, kept_in) if kept]
    best_margin, best_share, best_median = 0.0, -1.0, 0.0
    for margin in MARGINS:
        hits, words = 0, []
        for ranking, question in answered:
            chosen = [c.sentence.text for c in select(ranking.candidates, margin, MAX_SENTENCES)]
            hits += holds_answer(" ".join(chosen), question.answers)
            words.append(sum(len(t.split()) for t in chosen))
        median = statistics.median(words) if words else 0
        share = hits / len(asked)
        if median <= MEDIAN_WORDS and share > best_share:
            best_margin, best_share, best_median = margin, share, median
    first = sum(holds_answer(r.candidates[0].sentence.text, q.answers) for r, q in answered) / len(asked)
    read_within, read_share, passages_read = READ_MARGINS[-1], best_share, 4.0
    for margin in READ_MARGINS:
        hits, read = 0, 0
        for ranking, question in answered:
            top = max((p.score for p in ranking.passages if p.reading is not None), default=0.0)
            kept = [c for c in ranking.candidates if c.sentence.passage.score >= top - margin]
            read += sum(p.reading is not None and p.score >= top - margin for p in ranking.passages)
            chosen = [c.sentence.text for c in select(kept, best_margin, MAX_SENTENCES)] if kept else []
            hits += holds_answer(" ".join(chosen), question.answers)
        if hits / len(asked) >= best_share - READ_LOSS:
            read_within, read_share, passages_read = margin, hits / len(asked), read / max(1, len(answered))
            break
    n = len(asked)
    config["calibration"] = {
        "sentence": sentence,
        "combined": combined,
        "abstain_below": round(abstain_below, 4),
        "within": best_margin,
        "read_within": read_within,
        "on": {
            "articles": held, "in_corpus_questions": n, "out_of_corpus_questions": n,
            "wrongly_abstained": round(1 - sum(kept_in) / n, 4),
            "out_of_corpus_abstained": round(1 - sum(kept_out) / n, 4),
            "reader_alone": {
                "wrongly_abstained": round(sum(t < abstain_below for t in tops) / n, 4),
                "out_of_corpus_abstained": round(sum(e["reader"] < abstain_below for e in evidence_out) / n, 4),
            },
            "answer_in_first_cited_sentence": round(first, 4),
            "answer_in_response": round(best_share, 4), "median_words": best_median,
            "answer_in_response_reading_within": round(read_share, 4),
            "passages_read": round(passages_read, 2),
            "minutes": round((time.perf_counter() - started) / 60, 1),
        },
        # What other shares of wrong abstentions would have cost the combined abstainer:
        "tradeoff": [
            {"wrongly_abstained": share,
             "out_of_corpus_abstained": round(sum(s < cut for s in out_scores) / n, 4)}
            for in_scores in [sorted(combined_score(unbiased, e) for e in evidence_in)]
            for out_scores in [[combined_score(unbiased, e) for e in evidence_out]]
            for share in (0.02, 0.03, 0.04, 0.05) for cut in [in_scores[int(share * n)]]
        ],
    }
    config_path.write_text(json.dumps(config, indent=1) + "\n")
    print(json.dumps(config["calibration"], indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
