"""The default answerer: no LLM, only verbatim sentences from the retrieved passages.

The picker: with the reader (the default), the passages come already read and ordered by
it (`Reader.rerank`). The best passage's sentence that holds the reader's best answer
span is the answer, with that span as its short answer; the best sentence of each
further passage that the reader scores nearly as high joins it. Without it (the
"learned" picker, kept as the evaluator's ablation), every sentence of the best passages
gets a few features (its cosine to the question, the share of the question's
idf-weighted words and word pairs it and its neighbours hold, whether it has the kind of
thing asked for) and a score from a linear model fitted on SQuAD training articles.

The abstainer: a linear model over the evidence (how well the best sentence and passage
match the question, and whether they name what it names) abstains when it is weak (the
default, "learned"); or ("reader") the reader's score for the best passage under the
threshold calibrated on train-44. On a store of full size the reader's score alone tells
answerable questions from the others less well (BENCHMARKS.md), so it is the ablation.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Sequence

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
from qa.retrieval import LexicalIndex, Passage

PASSAGES_READ = 5
HISTORY_WEIGHT = 0.5  # weight of the previous question's words in a follow-up
PICKERS = ("reader", "learned")
ABSTAINERS = ("reader", "learned")
# Until benchmarks/calibrate_reader.py writes them into qa/reader.json:
ABSTAIN_BELOW = 0.0  # the reader's logit for the best passage
RUNNER_UP_WITHIN = 1.0  # a further passage's best sentence joins when its logit is this close


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


class ExtractiveAnswerer:
    def __init__(
        self, lexical: LexicalIndex, *, picker: str = "reader", abstainer: str = "learned",
        max_sentences: int | None = None, thresholds: dict[str, float] | None = None,
    ) -> None:
        self.check(picker, abstainer, max_sentences)
        self.lexical = lexical
        self.picker = picker
        self.abstainer = abstainer
        self.max_sentences = max_sentences or weights.MAX_SENTENCES  # None: as fitted
        thresholds = thresholds or {}
        self.abstain_below = thresholds.get("abstain_below", ABSTAIN_BELOW)
        self.runner_up_within = thresholds.get("runner_up_within", RUNNER_UP_WITHIN)
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

    def answer(
        self, question: str, passages: Sequence[Passage], question_vector: np.ndarray,
        context: str = "",
    ) -> Answer:
        abstain = Answer(question=question, text=NO_ANSWER, abstained=True)
        read = [p for p in passages if p.reading is not None]
        if "reader" in (self.picker, self.abstainer) and not read and passages:
            raise ValueError("the reader's picker and abstainer need passages the reader has read")
        both_read = self.picker == "reader" and self.abstainer == "reader"
        scored = [] if both_read else self.score(question, passages, question_vector, context)
        if self.abstainer == "reader":
            answerable = bool(read) and read[0].reading.score >= self.abstain_below  # type: ignore[union-attr]
        else:
            answerable = bool(scored) and self.answerable(question, scored, passages)
        if not answerable:
            return abstain
        if self.picker == "reader":
            chosen = read_sentences(read, self.runner_up_within, self.max_sentences)
        else:
            chosen = [(s.sentence, None) for s in self.runners_up(scored)]
        if not chosen:
            return abstain
        citations = [cite(n, sentence, span) for n, (sentence, span) in enumerate(chosen, start=1)]
        text = " ".join(f"{c.quote} [{c.number}]" for c in citations)
        return Answer(question=question, text=text, abstained=False, citations=citations, short=citations[0].short)

    def runners_up(self, scored: Sequence[Scored]) -> list[Scored]:
        chosen = [scored[0]]
        for other in scored[1 : self.max_sentences]:
            # A runner-up joins when the model's odds for it are close to the best's.
            if other.score - scored[0].score >= math.log(weights.SECOND_SENTENCE):
                chosen.append(other)
            else:
                break
        return chosen

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

    def answerable(self, question: str, scored: Sequence[Scored], passages: Sequence[Passage]) -> bool:
        """The linear evidence model's verdict (the abstainer before the reader)."""
        features = evidence_features(question, scored, passages, self.lexical)
        logit = self.evidence_model.score_one(features)
        return logit >= math.log(weights.EVIDENCE_THRESHOLD / (1 - weights.EVIDENCE_THRESHOLD))


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
    top_terms = lexical.terms.get(top.chunk.id, frozenset()) | term_set(top.chunk.title)
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


def read_sentences(
    read: Sequence[Passage], within: float, max_sentences: int
) -> list[tuple[Sentence, Span]]:
    """The best read passage's sentence holding the reader's best span, then the same of
    each further passage the reader scores within `within` of it (each text once)."""
    best = read[0].reading.score  # type: ignore[union-attr]
    seen: set[str] = set()
    chosen: list[tuple[Sentence, Span]] = []
    for rank, passage in enumerate(read):
        if passage.reading.score < best - within or len(chosen) >= max_sentences:  # type: ignore[union-attr]
            break
        found = best_sentence(passage, rank)
        if found and (key := text_key(found[0].text)) not in seen:
            seen.add(key)
            chosen.append(found)
    return chosen


def best_sentence(passage: Passage, rank: int = 0) -> tuple[Sentence, Span] | None:
    """The passage's sentence holding the reader's best answer span (a span never crosses
    a sentence's end), and that span in the passage's text."""
    assert passage.reading is not None
    base = passage.chunk.start
    best: tuple[Sentence, Span] | None = None
    for stored in passage.sentences:
        span = passage.reading.span(stored.start - base, stored.end - base)
        if span and (best is None or span.score > best[1].score):
            best = (Sentence(passage, rank, stored, passage.sentence_text(stored)), span)
    return best


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
