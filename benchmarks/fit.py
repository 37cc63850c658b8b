"""Fit the answerer's linear models on SQuAD training articles and write qa/weights.py.

    .venv/bin/python benchmarks/fit.py ../shared/data/squad/squad-v1.1-train-44.json \
        --work /tmp/newsqa-fit --write

Only a training file is read. Its articles are split into two halves, each ingested into a
store of its own, so that every model is also measured on the half it was not fitted on
(the figures printed as "held out") and so that each half's questions are out-of-corpus
questions for the other half's store (what the abstention model learns from). A third
store holds every article, so that abstention also learns from stores of full size (see
`Whole`). The final weights are fitted on both halves together.

Three models, fitted in order because each one's features depend on the one before:
1. passages: a listwise (softmax) ranking of the fused candidates, where the positives are
   the candidates from the gold article that hold a gold answer;
2. sentences: the same over the sentences of the top passages; the runner-up sentence's
   odds threshold is then chosen to put the most answers in the response while keeping
   the median answer at most MAX_MEDIAN_WORDS words;
3. evidence: logistic regression of "the question's article is in the store", with the
   threshold set so that at most MAX_WRONG_ABSTAIN of in-corpus questions abstain.
"""

from __future__ import annotations

import argparse
import math
import random
import statistics
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Sequence

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import index  # noqa: E402
from index.filters import Filters  # noqa: E402
from index.settings import Settings  # noqa: E402
from index.lexical import LexicalIndex, document_frequencies_without  # noqa: E402
from index.store import Store, StoredChunk  # noqa: E402
from qa.engine import Engine  # noqa: E402
from qa.extractive import (  # noqa: E402
    PASSAGES_READ,
    ExtractiveAnswerer,
    candidate_sentences,
    evidence_features,
    sentence_features,
)
from qa.ranking import EVIDENCE_FEATURES, PASSAGE_FEATURES, SENTENCE_FEATURES, LinearModel  # noqa: E402
from qa.retrieval import (  # noqa: E402
    CANDIDATES,
    RERANKED,
    Candidates,
    Retriever,
    passage_features,
)
from qa.squad import SquadQuestion, holds_answer, load_squad  # noqa: E402

MAX_MEDIAN_WORDS = 42  # the bar is 45: keep a margin for unseen articles
MAX_WRONG_ABSTAIN = 0.04  # the bar is 5%
L2 = 1e-3


@dataclass
class Groups:
    """Candidates per question: a feature matrix and which candidates are right."""

    names: tuple[str, ...]
    features: list[np.ndarray] = field(default_factory=list)
    labels: list[np.ndarray] = field(default_factory=list)
    words: list[np.ndarray] = field(default_factory=list)

    def add(self, features: dict[str, np.ndarray], labels: Sequence[bool], words: Sequence[int] = ()) -> None:
        self.features.append(np.stack([features[n] for n in self.names], axis=1))
        self.labels.append(np.asarray(labels, dtype=bool))
        self.words.append(np.asarray(words or [0] * len(labels)))

    def __add__(self, other: Groups) -> Groups:
        return Groups(self.names, self.features + other.features, self.labels + other.labels,
                      self.words + other.words)


def fit_listwise(groups: Groups, names: Sequence[str]) -> dict[str, float]:
    """Weights maximising the softmax probability of the right candidates."""
    from scipy.optimize import minimize

    columns = [groups.names.index(n) for n in names]
    kept = [(x[:, columns], y) for x, y in zip(groups.features, groups.labels) if y.any() and len(y) > 1]
    size = max(len(y) for _, y in kept)
    X = np.zeros((len(kept), size, len(columns)))
    valid = np.zeros((len(kept), size), dtype=bool)
    right = np.zeros((len(kept), size), dtype=bool)
    for i, (x, y) in enumerate(kept):
        X[i, : len(y)], valid[i, : len(y)], right[i, : len(y)] = x, True, y

    def loss(w: np.ndarray) -> tuple[float, np.ndarray]:
        s = np.where(valid, X @ w, -np.inf)
        p_all = _softmax(s)
        p_right = _softmax(np.where(right, s, -np.inf))
        value = float(np.mean(_logsumexp(s) - _logsumexp(np.where(right, s, -np.inf)))) + L2 * w @ w
        grad = np.einsum("gn,gnd->d", p_all - p_right, X) / len(kept) + 2 * L2 * w
        return value, grad

    result = minimize(loss, np.zeros(len(columns)), jac=True, method="L-BFGS-B")
    return {n: float(w) for n, w in zip(names, result.x)}


def fit_logistic(x: np.ndarray, y: np.ndarray, names: Sequence[str]) -> tuple[dict[str, float], float]:
    """Logistic regression, fitted on standardised features (the raw ones differ in scale by
    orders of magnitude, which the optimiser and the L2 penalty both handle badly) and
    returned as weights and a bias on the raw scale."""
    from scipy.optimize import minimize

    mean, scale = x.mean(axis=0), x.std(axis=0)
    scale[scale == 0] = 1.0
    X = np.hstack([(x - mean) / scale, np.ones((len(x), 1))])

    def loss(w: np.ndarray) -> tuple[float, np.ndarray]:
        z = X @ w
        p = 1 / (1 + np.exp(-z))
        value = float(np.mean(np.logaddexp(0, z) - y * z)) + L2 * w[:-1] @ w[:-1]
        grad = X.T @ (p - y) / len(y)
        grad[:-1] += 2 * L2 * w[:-1]
        return value, grad

    w = minimize(loss, np.zeros(X.shape[1]), jac=True, method="L-BFGS-B").x
    raw = w[:-1] / scale
    return {n: float(v) for n, v in zip(names, raw)}, float(w[-1] - raw @ mean)


def _softmax(s: np.ndarray) -> np.ndarray:
    top = np.max(np.where(np.isfinite(s), s, -1e300), axis=1, keepdims=True)
    e = np.where(np.isfinite(s), np.exp(s - top), 0.0)
    return e / e.sum(axis=1, keepdims=True)


def _logsumexp(s: np.ndarray) -> np.ndarray:
    top = np.max(np.where(np.isfinite(s), s, -1e300), axis=1)
    return top + np.log(np.where(np.isfinite(s), np.exp(s - top[:, None]), 0.0).sum(axis=1))


def top1(groups: Groups, model: dict[str, float]) -> float:
    """The share of questions whose best-scored candidate is right."""
    hits = 0
    for x, y in zip(groups.features, groups.labels):
        if len(y):
            scores = x[:, [groups.names.index(n) for n in model]] @ np.array(list(model.values()))
            hits += bool(y[int(np.argmax(scores))])
    return hits / len(groups.labels)


# --- collecting features from a store ---------------------------------------------------


class Half:
    def __init__(self, name: str, store: Path, questions: list[SquadQuestion], foreign: list[SquadQuestion]) -> None:
        self.name = name
        self.engine = Engine(Settings.from_env(store=store), reader=False, picker="learned", abstainer="learned")
        self.questions = questions
        self.foreign = foreign
        embedder = self.engine.embedder
        self.vectors = dict(zip([q.id for q in questions + foreign],
                                embedder.encode([q.question for q in questions + foreign])))

    def passages(self) -> Groups:
        store, lexical = self.engine.store, self.engine.retriever.lexical()
        groups = Groups(PASSAGE_FEATURES)
        rrf_hits = 0
        for q in self.questions:
            vector = self.vectors[q.id]
            candidates = Candidates(store.dense(vector, CANDIDATES), lexical.search(q.question, CANDIDATES))
            pool = candidates.fused_order[:RERANKED]
            candidates.complete(pool, store, vector)
            features = passage_features(candidates, pool, lexical.weights(q.question), vector)
            labels = [_right(q, candidates.chunks[i].article_id, candidates.chunks[i].text) for i in pool]
            rrf_hits += bool(labels and labels[0])
            groups.add(features, labels)
        print(f"  {self.name}: plain RRF top-1 {rrf_hits / len(self.questions):.3f}", file=sys.stderr)
        return groups

    def sentences(self, passage_model: dict[str, float]) -> Groups:
        self.engine.retriever.model = LinearModel(passage_model)
        answerer = ExtractiveAnswerer(self.engine.retriever.lexical(), picker="learned", abstainer="learned")
        groups = Groups(SENTENCE_FEATURES)
        for q in self.questions:
            vector = self.vectors[q.id]
            passages = self.engine.retriever.search(q.question, self.engine.settings.top_k, vector)
            sentences = candidate_sentences(passages[:PASSAGES_READ])
            if not sentences:
                groups.add({n: np.zeros(0) for n in SENTENCE_FEATURES}, [])
                continue
            features = sentence_features(q.question, sentences, vector, answerer.question_weights(q.question))
            groups.add(features, [_right(q, s.passage.article_id, s.text) for s in sentences],
                       [len(s.text.split()) for s in sentences])
        return groups

    def evidence(self, passage_model: dict[str, float], sentence_model: dict[str, float]) -> tuple[np.ndarray, np.ndarray]:
        self.engine.retriever.model = LinearModel(passage_model)
        answerer = ExtractiveAnswerer(self.engine.retriever.lexical(), picker="learned", abstainer="learned")
        answerer.sentence_model = LinearModel(sentence_model)
        rows, labels = [], []
        for q, inside in [(q, True) for q in self.questions] + [(q, False) for q in self.foreign]:
            vector = self.vectors[q.id]
            passages = self.engine.retriever.search(q.question, self.engine.settings.top_k, vector)
            scored = answerer.score(q.question, passages, vector)
            if not scored:
                continue
            features = evidence_features(q.question, scored, passages, answerer.lexical)
            rows.append([features[n] for n in EVIDENCE_FEATURES])
            labels.append(inside)
        return np.asarray(rows), np.asarray(labels, dtype=float)


class Whole:
    """The whole training file in one store, every question asked twice: as it is, and as if
    its own article had never been ingested (its chunks left out of both rankings, its words
    out of the document frequencies; BM25's own idf still counts them). The second is an
    out-of-corpus question asked of a store of the real size, where chance matches are more
    common than in a half store; the abstention model learns from both sizes."""

    def __init__(self, store: Path, questions: list[SquadQuestion]) -> None:
        self.engine = Engine(Settings.from_env(store=store), reader=False, picker="learned", abstainer="learned")
        self.questions = questions
        self.vectors = dict(zip([q.id for q in questions],
                                self.engine.embedder.encode([q.question for q in questions])))

    def evidence(self, passage_model: dict[str, float], sentence_model: dict[str, float]
                 ) -> tuple[np.ndarray, np.ndarray, list[str]]:
        """Rows of evidence features, whether the article was in the store, and its id."""
        self.engine.retriever.model = LinearModel(passage_model)
        full = self.engine.retriever.lexical()
        texts_of: dict[str, list[str]] = {}
        for node in self.engine.store.nodes():
            texts_of.setdefault(str(node.metadata["article_id"]), []).append(node.get_content())
        views: dict[str, _LexicalWithout] = {}
        rows, labels, articles = [], [], []
        for q in self.questions:
            for inside in (True, False):
                if inside:
                    retriever, lexical = self.engine.retriever, full
                else:
                    if q.article_id not in views:
                        views[q.article_id] = _LexicalWithout(full, q.article_id, texts_of[q.article_id])
                    lexical = views[q.article_id]
                    retriever = _RetrieverWithout(self.engine, lexical, q.article_id, passage_model)
                answerer = ExtractiveAnswerer(lexical, picker="learned", abstainer="learned")
                answerer.sentence_model = LinearModel(sentence_model)
                vector = self.vectors[q.id]
                passages = retriever.search(q.question, self.engine.settings.top_k, vector)
                scored = answerer.score(q.question, passages, vector)
                if scored:
                    features = evidence_features(q.question, scored, passages, lexical)
                    rows.append([features[n] for n in EVIDENCE_FEATURES])
                    labels.append(inside)
                    articles.append(q.article_id)
        return np.asarray(rows), np.asarray(labels, dtype=float), articles


class _LexicalWithout:
    """A lexical index as it would be without one article (BM25's own statistics aside)."""

    def __init__(self, full: LexicalIndex, article_id: str, texts: list[str]) -> None:
        self._full, self._prefix = full, f"{article_id}#"
        self._without = document_frequencies_without(full, texts)
        self.complete = full.complete

    def search(self, query: str, k: int, filters: Filters | None = None) -> list[tuple[str, float]]:
        hits = self._full.search(query, k + 400, filters)
        return [hit for hit in hits if not hit[0].startswith(self._prefix)][:k]

    def weights(self, text: str) -> dict[str, float]:
        return self._without(text)


class _RetrieverWithout(Retriever):
    def __init__(self, engine: Engine, lexical: _LexicalWithout, article_id: str, model: dict[str, float]) -> None:
        super().__init__(_StoreWithout(engine.store, article_id), engine.embedder)
        self.model = LinearModel(model)
        self._view = lexical

    def lexical(self) -> LexicalIndex:
        return self._view  # type: ignore[return-value]


class _StoreWithout:
    """Dense search that skips one article's chunks (fetching enough to still find k)."""

    def __init__(self, store: Store, article_id: str) -> None:
        self._store, self._article_id = store, article_id

    def dense(
        self, query: np.ndarray, k: int, filters: Filters | None = None,
        complete: Callable[[Iterable[str]], set[str]] | None = None,
    ) -> list[tuple[StoredChunk, float]]:
        hits = self._store.dense(query, k + 400, filters, complete)
        return [hit for hit in hits if hit[0].article_id != self._article_id][:k]

    def __getattr__(self, name: str) -> object:
        return getattr(self._store, name)


def _right(q: SquadQuestion, article_id: str, text: str) -> bool:
    return article_id == q.article_id and holds_answer(text, q.answers)


# --- choosing thresholds -----------------------------------------------------------------


def runner_up_rule(groups: Groups, model: dict[str, float]) -> tuple[int, float, float, float]:
    """(most sentences, odds ratio, answer in response, median words): the rule that puts
    the most answers in the response with a median answer of at most MAX_MEDIAN_WORDS."""
    best = (1, 1.0, 0.0, 0.0)
    for most in (1, 2, 3, 4, 5):
        for ratio in [0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 0.25, 0.2, 0.17, 0.15, 0.12, 0.1, 0.08, 0.06, 0.05, 0.03]:
            share, median = apply_rule(groups, model, most, ratio)
            if median <= MAX_MEDIAN_WORDS and share > best[2]:
                best = (most, ratio, share, median)
    return best


def apply_rule(groups: Groups, model: dict[str, float], most: int, ratio: float) -> tuple[float, float]:
    """(answer in response, median words) when the answer takes the best sentence and up to
    most - 1 runners-up whose odds are at least `ratio` of the best's (as the answerer does)."""
    columns = [groups.names.index(n) for n in model]
    w = np.array(list(model.values()))
    found, lengths = 0, []
    for x, y, words in zip(groups.features, groups.labels, groups.words):
        if len(y):
            s = x[:, columns] @ w
            order = np.argsort(-s)[:most]
            take = order[s[order] - s[order[0]] >= math.log(ratio)]
            found += bool(y[take].any())
            lengths.append(int(words[take].sum()))
    return found / len(groups.labels), float(statistics.median(lengths))


def evidence_threshold(p_inside: np.ndarray) -> float:
    """The highest probability threshold that wrongly abstains on at most MAX_WRONG_ABSTAIN."""
    return float(np.quantile(p_inside, MAX_WRONG_ABSTAIN))


def _probabilities(x: np.ndarray, model: dict[str, float], bias: float) -> np.ndarray:
    return 1 / (1 + np.exp(-(x @ np.array([model[n] for n in EVIDENCE_FEATURES]) + bias)))


# --- the run -------------------------------------------------------------------------------


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("file", help="a SQuAD v1.1 training file")
    parser.add_argument("--work", default="/tmp/newsqa-fit", help="where the two half stores live")
    parser.add_argument("--questions", type=int, default=2500, help="questions per half (default 2500)")
    parser.add_argument("--seed", type=int, default=13)
    parser.add_argument("--write", action="store_true", help="write qa/weights.py")
    args = parser.parse_args()
    started = time.time()

    squad = load_squad(args.file)
    articles = sorted(squad.articles, key=lambda a: a.id)
    random.Random(args.seed).shuffle(articles)
    split = {"A": articles[::2], "B": articles[1::2]}
    ids = {name: {a.id for a in part} for name, part in split.items()}
    rng = random.Random(args.seed)
    halves = {}
    for name, part in split.items():
        store = Path(args.work) / f"half-{name}"
        report = index.ingest_articles(part, store=store, progress=sys.stderr.isatty())
        own = [q for q in squad.questions if q.article_id in ids[name]]
        other = [q for q in squad.questions if q.article_id not in ids[name]]
        halves[name] = Half(name, store, rng.sample(own, min(args.questions, len(own))),
                            rng.sample(other, min(args.questions // 2, len(other))))
        print(f"half {name}: {len(part)} articles ({len(report.added)} newly ingested), "
              f"{len(halves[name].questions)} questions, {len(halves[name].foreign)} foreign",
              file=sys.stderr)
    store = Path(args.work) / "whole"
    index.ingest_articles(articles, store=store, progress=sys.stderr.isatty())
    whole = Whole(store, random.Random(args.seed + 1).sample(squad.questions, min(args.questions, len(squad.questions))))

    print("passages ...", file=sys.stderr)
    passages = {name: h.passages() for name, h in halves.items()}
    print("passage ranking, held-out top-1 (fit on one half, measured on the other):")
    _report_listwise(passages, PASSAGE_FEATURES)
    passage_model = fit_listwise(passages["A"] + passages["B"], PASSAGE_FEATURES)

    print("sentences ...", file=sys.stderr)
    sentences = {name: h.sentences(passage_model) for name, h in halves.items()}
    print("sentence picking, held-out top-1:")
    _report_listwise(sentences, SENTENCE_FEATURES)
    naive = {"dense": 1.0, "overlap": 1.0}
    print(f"  naive cosine + overlap: {np.mean([top1(sentences[n], naive) for n in 'AB']):.3f}")
    sentence_model = fit_listwise(sentences["A"] + sentences["B"], SENTENCE_FEATURES)
    for fit_on, measure_on in [("A", "B"), ("B", "A")]:
        rule = runner_up_rule(sentences[fit_on], fit_listwise(sentences[fit_on], SENTENCE_FEATURES))
        held = apply_rule(sentences[measure_on], fit_listwise(sentences[fit_on], SENTENCE_FEATURES), *rule[:2])
        print(f"  up to {rule[0]} sentences at odds >= {rule[1]} (fitted on {fit_on}): answer in "
              f"response {held[0]:.3f}, median {held[1]} words on {measure_on}")
    most, ratio, share, median = runner_up_rule(sentences["A"] + sentences["B"], sentence_model)
    print(f"up to {most} sentences, a runner-up when its odds are >= {ratio} of the best's: "
          f"answer in response {share:.3f}, median {median} words (on all training questions)")

    print("evidence ...", file=sys.stderr)
    evidence = {name: h.evidence(passage_model, sentence_model) for name, h in halves.items()}
    wx, wy, whole_articles = whole.evidence(passage_model, sentence_model)
    for name in "AB":  # each half's rows: its store's, and the whole store's for its articles
        side = np.array([a in ids[name] for a in whole_articles])
        evidence[f"whole {name}"] = (wx[side], wy[side])
    print("abstention, held out (fitted on one half's questions, measured on the other's):")
    for fit_on, measure_on in [("A", "B"), ("B", "A")]:
        x, y = (np.concatenate(parts) for parts in zip(evidence[fit_on], evidence[f"whole {fit_on}"]))
        model, bias = fit_logistic(x, y, EVIDENCE_FEATURES)
        threshold = evidence_threshold(_probabilities(x[y == 1], model, bias))
        cut = float(np.quantile(x[y == 1, EVIDENCE_FEATURES.index("dense")], MAX_WRONG_ABSTAIN))
        for store in (measure_on, f"whole {measure_on}"):
            x, y = evidence[store]
            p = _probabilities(x, model, bias)
            cosine = x[:, EVIDENCE_FEATURES.index("dense")]
            print(f"  {'half ' * (len(store) == 1)}{store} store: out-of-corpus abstain "
                  f"{np.mean(p[y == 0] < threshold):.3f}, in-corpus wrongly abstain "
                  f"{np.mean(p[y == 1] < threshold):.3f} (a bare cosine threshold: "
                  f"{np.mean(cosine[y == 0] < cut):.3f}, {np.mean(cosine[y == 1] < cut):.3f})")
    x = np.vstack([evidence["A"][0], evidence["B"][0], wx])
    y = np.concatenate([evidence["A"][1], evidence["B"][1], wy])
    evidence_model, evidence_bias = fit_logistic(x, y, EVIDENCE_FEATURES)
    threshold = evidence_threshold(_probabilities(x[y == 1], evidence_model, evidence_bias))

    text = _module(passage_model, sentence_model, most, ratio, evidence_model, evidence_bias, threshold, args)
    print(text)
    if args.write:
        (ROOT / "qa" / "weights.py").write_text(text)
        print("wrote qa/weights.py", file=sys.stderr)
    print(f"fit took {time.time() - started:.0f} s", file=sys.stderr)
    return 0


def _report_listwise(groups: dict[str, Groups], names: Sequence[str]) -> None:
    def held_out(columns: Sequence[str]) -> float:
        return float(np.mean([
            top1(groups[measure], fit_listwise(groups[fit], columns))
            for fit, measure in [("A", "B"), ("B", "A")]
        ]))

    print(f"  all features: {held_out(names):.3f}")
    for dropped in names:
        print(f"  without {dropped}: {held_out([n for n in names if n != dropped]):.3f}")


def _module(passage: dict[str, float], sentence: dict[str, float], most: int, ratio: float,
            evidence: dict[str, float], bias: float, threshold: float,
            args: argparse.Namespace) -> str:
    def fmt(model: dict[str, float]) -> str:
        return "{\n" + "".join(f"    {k!r}: {v:.4f},\n" for k, v in model.items()) + "}"

    return f'''"""Weights of the linear models in `qa.ranking`, fitted by benchmarks/fit.py.

Generated from {Path(args.file).name} (seed {args.seed}, {args.questions} questions per half);
do not edit by hand: run benchmarks/fit.py --write again.
"""

PASSAGE = {fmt(passage)}
PASSAGE_BIAS = 0.0

SENTENCE = {fmt(sentence)}
SENTENCE_BIAS = 0.0
# Up to MAX_SENTENCES sentences: each runner-up joins the answer when its odds are at
# least SECOND_SENTENCE times the best's.
MAX_SENTENCES = {most}
SECOND_SENTENCE = {ratio}

EVIDENCE = {fmt(evidence)}
EVIDENCE_BIAS = {bias:.4f}
# Abstain when the evidence model's probability that the store holds the answer is below this.
EVIDENCE_THRESHOLD = {threshold:.4f}
'''


if __name__ == "__main__":
    sys.exit(main())
