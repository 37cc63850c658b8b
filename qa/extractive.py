"""The default answerer: no LLM, only verbatim sentences from the retrieved passages.

Every sentence of the best passages gets a score from a linear model over a few
hand-made features, fitted on SQuAD training articles: its cosine to the question, the
share of the question's idf-weighted words and word pairs it and its neighbours hold,
whether it has the kind of thing asked for (`sentence_features`).

The picker: with the reader (the default), the passages come already read by it
(`Reader.rerank`), and each sentence of a read passage is scored by its passage's
reader score, the reader's best answer span inside it, the linear score and how far
its passage's retrieval score is behind the best read passage's (the share of the span
head's probability that falls inside it, `Reading.mass`, is measured, not weighed), as
calibrated on train-44 articles held out of the reader's training
(`benchmarks/calibrate_reader.py`): the reader knows which passage and which words
answer, the linear features know which sentence repeats the question's phrases. The
best sentence is the answer, its span the short answer; sentences scoring within a
calibrated margin of it join. Without the reader (the "learned" picker, the
evaluator's ablation), the linear score alone ranks the sentences.

The abstainer ("combined", the default): a logistic model over the reader's score for
the best passage and the linear evidence model's logit (how well the best sentence and
passage match the question, and whether they name what it names), also calibrated on
those held-out articles. "reader" and "learned" use one of the two alone (ablations).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

import numpy as np

from index.store import StoredSentence
from qa import weights
from qa.answer import NO_ANSWER, Answer, Citation
from qa.ranking import (
    EVIDENCE_FEATURES,
    SENTENCE_FEATURES,
    LinearModel,
    answer_type,
    expected_kinds,
    names,
    overlap,
    pair_overlap,
    term_pairs,
    term_set,
)
from qa.reader import Span
from index.lexical import LexicalIndex
from qa.retrieval import Passage

PASSAGES_READ = 5
HISTORY_WEIGHT = 0.5  # weight of the previous question's words in a follow-up
PICKERS = ("reader", "learned")
ABSTAINERS = ("combined", "reader", "learned")
# Until benchmarks/calibrate_reader.py writes them into qa/reader.json:
DEFAULT_CALIBRATION: dict[str, Any] = {
    "sentence": {"reader": 0.4, "span": 0.3, "linear": 0.5},  # weights of a read sentence's score
    "within": 2.5,  # a further sentence joins when its score is this close to the best's
    "combined": {"reader": 0.5, "evidence": 0.5, "bias": 0.0},  # abstain when below 0
    "abstain_below": 0.0,  # the reader's logit for the best passage ("reader" abstainer)
}


@dataclass(frozen=True)
class Sentence:
    passage: Passage
    rank: int  # of its passage
    stored: StoredSentence
    text: str


@dataclass(frozen=True)
class Scored:
    sentence: Sentence
    features: dict[str, float]
    score: float


@dataclass(frozen=True)
class Candidate:
    """A sentence the picker may cite: its score (from `features`, for a read one) and,
    when the reader read it, its best answer span (in its passage's text)."""

    sentence: Sentence
    span: Span | None
    score: float
    features: dict[str, float] | None = None


@dataclass(frozen=True)
class Ranking:
    """What the answer is drawn from: the passages, those holding the best candidates
    first; the candidate sentences, best first; the linear scores of the sentences."""

    passages: list[Passage]
    candidates: list[Candidate]
    scored: list[Scored]


class ExtractiveAnswerer:
    def __init__(
        self, lexical: LexicalIndex, *, picker: str = "reader", abstainer: str = "combined",
        max_sentences: int | None = None, calibration: dict[str, Any] | None = None,
    ) -> None:
        self.check(picker, abstainer, max_sentences)
        self.lexical = lexical
        self.picker = picker
        self.abstainer = abstainer
        self.max_sentences = max_sentences or weights.MAX_SENTENCES  # None: as fitted
        self.calibration = {**DEFAULT_CALIBRATION, **(calibration or {})}
        self.sentence_model = LinearModel(weights.SENTENCE, weights.SENTENCE_BIAS)
        self.evidence_model = LinearModel(weights.EVIDENCE, weights.EVIDENCE_BIAS)

    @staticmethod
    def check(picker: str, abstainer: str, max_sentences: int | None) -> None:
        if picker not in PICKERS:
            raise ValueError(f"unknown picker {picker!r}; use one of {', '.join(PICKERS)}")
        if abstainer not in ABSTAINERS:
            raise ValueError(f"unknown abstainer {abstainer!r}; use one of {', '.join(ABSTAINERS)}")
        if max_sentences is not None and max_sentences < 1:
            raise ValueError(f"max_sentences={max_sentences}; it must be at least 1")

    @staticmethod
    def needs_reader(picker: str, abstainer: str) -> bool:
        return picker == "reader" or abstainer in ("reader", "combined")

    def rank(
        self, question: str, passages: Sequence[Passage], question_vector: np.ndarray,
        context: str = "",
    ) -> Ranking:
        scored = self.score(question, passages, question_vector, context)
        if self.picker == "learned":
            return Ranking(list(passages), [Candidate(s.sentence, None, s.score) for s in scored], scored)
        read = [p for p in passages if p.reading is not None]
        if passages and not read:
            raise ValueError("the reader's picker needs passages the reader has read")
        linear = {text_key(s.sentence.text): s.score for s in scored}
        candidates = read_candidates(read, linear, self.calibration["sentence"])
        return Ranking(by_best_candidate(passages, candidates), candidates, scored)

    def answer(self, question: str, ranking: Ranking) -> Answer:
        abstain = Answer(question=question, text=NO_ANSWER, abstained=True)
        if not ranking.candidates or not self.answerable(question, ranking):
            return abstain
        chosen = select(ranking.candidates, self.within(), self.max_sentences)
        citations = [cite(n, c.sentence, c.span) for n, c in enumerate(chosen, start=1)]
        text = " ".join(f"{c.quote} [{c.number}]" for c in citations)
        return Answer(question=question, text=text, abstained=False, citations=citations, short=citations[0].short)

    def within(self) -> float:
        if self.picker == "learned":  # a runner-up joins when its odds are close to the best's
            return -math.log(weights.SECOND_SENTENCE)
        return float(self.calibration["within"])

    def score(
        self, question: str, passages: Sequence[Passage], question_vector: np.ndarray,
        context: str = "",
    ) -> list[Scored]:
        sentences = candidate_sentences(passages[:PASSAGES_READ])
        if not sentences:
            return []
        features = sentence_features(
            question, sentences, question_vector, self.question_weights(question, context)
        )
        scores = self.sentence_model.score(features)
        scored = [
            Scored(s, {name: float(values[i]) for name, values in features.items()}, float(scores[i]))
            for i, s in enumerate(sentences)
        ]
        return sorted(scored, key=lambda s: -s.score)

    def question_weights(self, question: str, context: str = "") -> dict[str, float]:
        found = {t: HISTORY_WEIGHT * w for t, w in self.lexical.weights(context).items()}
        found.update(self.lexical.weights(question))
        return found

    def evidence(self, question: str, ranking: Ranking) -> dict[str, float]:
        """What the abstainers weigh: the reader's score for the best passage it read,
        and the linear evidence model's logit."""
        read = [p.reading.score for p in ranking.passages if p.reading is not None]
        found = {"reader": max(read, default=-math.inf), "evidence": -math.inf}
        if ranking.scored:
            features = evidence_features(question, ranking.scored, ranking.passages, self.lexical)
            found["evidence"] = self.evidence_model.score_one(features)
        return found

    def answerable(self, question: str, ranking: Ranking) -> bool:
        found = self.evidence(question, ranking)
        if self.abstainer == "reader":
            return found["reader"] >= self.calibration["abstain_below"]
        if self.abstainer == "learned":
            threshold = weights.EVIDENCE_THRESHOLD
            return found["evidence"] >= math.log(threshold / (1 - threshold))
        return combined_score(self.calibration["combined"], found) >= 0


def combined_score(combined: Mapping[str, float], evidence: Mapping[str, float]) -> float:
    """The combined abstainer's logit: `combined`'s bias plus its weights over `evidence`
    (-inf when a part is missing: nothing was read, or no sentence scored)."""
    if not all(math.isfinite(v) for v in evidence.values()):
        return -math.inf
    return combined["bias"] + sum(combined[name] * value for name, value in evidence.items())


def sentence_features(
    question: str, sentences: Sequence[Sentence], question_vector: np.ndarray,
    question_weights: dict[str, float],
) -> dict[str, np.ndarray]:
    """Each sentence alone, and in its window: with the sentences on either side and its
    article's title, which often name what its "he" or "it" refers to. The window is
    symmetric so that a sentence does not win on the words of the one before it."""
    vectors = np.stack([s.stored.vector for s in sentences])
    sets = [term_set(s.text) for s in sentences]
    kinds = expected_kinds(question)
    asked_pairs = term_pairs(question)
    rows: dict[str, list[float]] = {name: [] for name in SENTENCE_FEATURES}
    for i, sentence in enumerate(sentences):
        around = [
            j for j in (i - 1, i + 1)
            if 0 <= j < len(sentences) and sentences[j].passage is sentence.passage
        ]
        window = vectors[[i, *around]].sum(axis=0)
        window_terms = sets[i].union(term_set(sentence.passage.chunk.title), *(sets[j] for j in around))
        cosine = float(vectors[i] @ question_vector)
        rows["dense"].append(cosine)
        rows["dense_squared"].append(cosine * cosine)  # lets the model weigh high cosines more
        rows["overlap"].append(overlap(question_weights, sets[i]))
        rows["pairs"].append(pair_overlap(question_weights, asked_pairs, term_pairs(sentence.text)))
        rows["window_dense"].append(float(window @ question_vector / (np.linalg.norm(window) or 1.0)))
        rows["window_overlap"].append(overlap(question_weights, window_terms))
        rows["answer_type"].append(answer_type(kinds, sentence.text, question))
    return {name: np.asarray(values) for name, values in rows.items()}


def evidence_features(
    question: str, scored: Sequence[Scored], passages: Sequence[Passage], lexical: LexicalIndex
) -> dict[str, float]:
    best = scored[0]
    question_weights = lexical.weights(question)
    top = passages[0]
    top_terms = term_set(top.chunk.text) | term_set(top.chunk.title)
    best_terms = term_set(best.sentence.text) | term_set(best.sentence.passage.chunk.title)
    values = {
        "dense": max(s.features["dense"] for s in scored),
        "pairs": max(s.features["pairs"] for s in scored),
        "window_dense": best.features["window_dense"],
        "window_overlap": best.features["window_overlap"],
        "coverage": overlap(question_weights, top_terms),
        "passage_dense": top.dense,
        "names_in_sentence": _share(names(question), best_terms),
    }
    return {name: values[name] for name in EVIDENCE_FEATURES}


def _share(wanted: frozenset[str], present: frozenset[str]) -> float:
    return len(wanted & present) / len(wanted) if wanted else 1.0


_WORDS = re.compile(r"\w+")


def text_key(text: str) -> str:
    """What two copies of a sentence share, whatever their spacing and punctuation."""
    return " ".join(_WORDS.findall(text.casefold()))


def candidate_sentences(passages: Sequence[Passage]) -> list[Sentence]:
    """The passages' sentences, each text once: a story that several outlets carry (or a
    repost) is cited from the best-ranked passage that holds it."""
    seen: set[str] = set()
    found = []
    for rank, passage in enumerate(passages):
        for stored in passage.sentences:
            text = passage.sentence_text(stored)
            if (key := text_key(text)) not in seen:
                seen.add(key)
                found.append(Sentence(passage, rank, stored, text))
    return found


def read_candidates(
    read: Sequence[Passage], linear: dict[str, float], weighed: dict[str, float]
) -> list[Candidate]:
    """Each sentence of the read passages (each text once, headlines left out) that holds
    a span, best first: scored by `weighed` over its passage's reader score, its best
    span's score, its linear score (`linear`, by `text_key`) and its passage's retrieval
    score behind the best read passage's."""
    # Not `candidate_sentences`: a copy past the reader's window (no span) must not hide a
    # copy it did read.
    seen: set[str] = set()
    found = []
    best = max((p.score for p in read), default=0.0)
    for rank, passage in enumerate(read):
        assert passage.reading is not None
        base = passage.chunk.start
        headline = headline_key(passage)
        for stored in passage.sentences:
            span = passage.reading.span(stored.start - base, stored.end - base)
            text = passage.sentence_text(stored)
            if span is None or (key := text_key(text)) in seen or key == headline:
                continue
            seen.add(key)
            features = {
                "reader": passage.reading.score, "span": span.score, "linear": linear.get(key, 0.0),
                "mass": passage.reading.mass(stored.start - base, stored.end - base),
                "retrieval": passage.score - best,
            }
            score = sum(weighed.get(name, 0.0) * value for name, value in features.items())
            found.append(Candidate(Sentence(passage, rank, stored, text), span, score, features))
    return sorted(found, key=lambda c: -c.score)


def headline_key(passage: Passage) -> str | None:
    """The `text_key` of the article's title line, whose copy in the passage is never
    quoted as the answer (None where it is all the passage holds): every citation shows
    the title anyway, and a headline names the story rather than the fact asked for
    ("…marred by record low turnout" for "What was the turnout?", where the story says
    "Turnout was 46%")."""
    return text_key(passage.chunk.title) if len(passage.sentences) > 1 else None


def by_best_candidate(passages: Sequence[Passage], candidates: Sequence[Candidate]) -> list[Passage]:
    """The passages holding candidates, in the order of their best; then the others, as they came."""
    first: dict[str, Passage] = {}
    for candidate in candidates:
        first.setdefault(candidate.sentence.passage.chunk.id, candidate.sentence.passage)
    return [*first.values(), *(p for p in passages if p.chunk.id not in first)]


def select(candidates: Sequence[Candidate], within: float, max_sentences: int) -> list[Candidate]:
    """The best candidate, then those scoring within `within` of it, at most `max_sentences`."""
    best = candidates[0].score
    return [c for c in candidates[:max_sentences] if c.score >= best - within]


def cite(number: int, sentence: Sentence, span: Span | None = None) -> Citation:
    """The citation of a passage sentence: its verbatim text, offsets and article facts,
    and the reader's short answer in it (`span`, in the passage's text)."""
    chunk = sentence.passage.chunk
    short = {}
    if span is not None:
        short = {"short": chunk.text[span.start : span.end], "short_start": chunk.start + span.start,
                 "short_end": chunk.start + span.end}
    return Citation(
        number=number, article_id=chunk.article_id, title=chunk.title, source=chunk.source,
        url=chunk.url, published=chunk.published, passage=chunk.text,
        passage_start=chunk.start, quote=sentence.text, start=sentence.stored.start,
        end=sentence.stored.end, chunk_id=chunk.id, **short,
    )
