"""The default answerer: no LLM, only verbatim sentences from the retrieved passages.

Each sentence of the best passages is scored against the question by meaning (cosine of
embeddings), by the share of the question's content words it holds (weighted by how rare
they are in the store), by whether it has the kind of thing asked for (a number for "how
many", a date for "when"), and by its passage's rank. The best one or two become the
answer, each followed by its `[n]`. When even the best sentence shares too little with the
question, the answer abstains.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np

from index.embedding import Embedder
from index.sentences import sentence_spans
from qa.answer import NO_ANSWER, Answer, Citation
from qa.retrieval import Passage
from qa.terms import terms

PASSAGES_READ = 5
MAX_SENTENCES = 2
SECOND_SENTENCE_RATIO = 0.85  # a second sentence must score this close to the best
HISTORY_WEIGHT = 0.5  # weight of the previous question's words in a follow-up

W_COSINE, W_OVERLAP, W_RANK, W_TYPE = 0.5, 0.35, 0.1, 0.15
# Abstain unless the best sentence is at least this close in meaning and either holds
# enough of the question's words or is very close in meaning. Set by hand on a few seed
# questions; to be fitted on held-out data with the evaluator.
MIN_COSINE = 0.25
MIN_EVIDENCE = 0.45
CLOSE_COSINE = 0.5

_NUMBER = re.compile(r"\d|\b(one|two|three|four|five|six|seven|eight|nine|ten|hundred|thousand|million|billion)\b", re.I)
_DATE = re.compile(r"\b(1\d{3}|20\d{2})\b|\b(January|February|March|April|May|June|July|August|September|October|November|December|Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday|yesterday|today)\b", re.I)
_NAME = re.compile(r"(?<!^)(?<![.!?] )\b[A-Z][a-z]+")
_ASKS: list[tuple[re.Pattern[str], re.Pattern[str]]] = [
    (re.compile(r"\bhow (many|much|long|old|far|big)\b|\bwhat (percentage|share|number)\b", re.I), _NUMBER),
    (re.compile(r"\bwhen\b|\bwhat (year|date|day|month)\b", re.I), _DATE),
    (re.compile(r"\bwho(m|se)?\b", re.I), _NAME),
]


@dataclass(frozen=True)
class Sentence:
    passage: Passage
    rank: int
    start: int  # offsets in the article
    end: int
    text: str


@dataclass(frozen=True)
class Scored:
    sentence: Sentence
    terms: frozenset[str]
    cosine: float
    overlap: float
    type_match: float
    score: float


class ExtractiveAnswerer:
    def __init__(self, embedder: Embedder, idf: Callable[[str], float]) -> None:
        self.embedder = embedder
        self.idf = idf

    def answer(
        self, question: str, passages: Sequence[Passage], question_vector: np.ndarray,
        context: str = "",
    ) -> Answer:
        scored = self.score(question, passages, question_vector, context)
        if not scored or not self._answerable(scored[0]):
            return Answer(question=question, text=NO_ANSWER, abstained=True)
        best = scored[0]
        chosen = [best]
        # A second sentence must score close to the best and hold question words it lacks.
        missing = set(terms(question)) - best.terms
        for other in scored[1:MAX_SENTENCES]:
            if (
                other.score >= SECOND_SENTENCE_RATIO * best.score
                and other.overlap >= MIN_EVIDENCE
                and missing & other.terms
            ):
                chosen.append(other)
        citations = [_cite(n, s.sentence) for n, s in enumerate(chosen, start=1)]
        text = " ".join(f"{c.quote} [{c.number}]" for c in citations)
        return Answer(question=question, text=text, abstained=False, citations=citations)

    def score(
        self, question: str, passages: Sequence[Passage], question_vector: np.ndarray,
        context: str = "",
    ) -> list[Scored]:
        sentences = _sentences(passages[:PASSAGES_READ])
        if not sentences:
            return []
        vectors = self.embedder.encode([s.text for s in sentences])
        cosines = vectors @ question_vector
        weights = self._weights(question, context)
        expected = [kind for asks, kind in _ASKS if asks.search(question)]
        scored = []
        for sentence, cosine in zip(sentences, cosines):
            sentence_terms = frozenset(terms(sentence.text))
            overlap = _overlap(weights, sentence_terms)
            type_match = float(all(kind.search(sentence.text) for kind in expected)) if expected else 0.0
            score = (
                W_COSINE * float(cosine) + W_OVERLAP * overlap
                + W_RANK / (1 + sentence.rank) + W_TYPE * type_match
            )
            scored.append(Scored(sentence, sentence_terms, float(cosine), overlap, type_match, score))
        return sorted(scored, key=lambda s: -s.score)

    def _weights(self, question: str, context: str) -> dict[str, float]:
        weights = {t: HISTORY_WEIGHT * self.idf(t) for t in terms(context)}
        weights.update({t: self.idf(t) for t in terms(question)})
        return weights

    @staticmethod
    def _answerable(best: Scored) -> bool:
        return best.cosine >= MIN_COSINE and (best.overlap >= MIN_EVIDENCE or best.cosine >= CLOSE_COSINE)


def _overlap(weights: dict[str, float], sentence_terms: frozenset[str]) -> float:
    total = sum(weights.values())
    return sum(w for t, w in weights.items() if t in sentence_terms) / total if total else 0.0


def _sentences(passages: Sequence[Passage]) -> list[Sentence]:
    seen: set[str] = set()
    found = []
    for rank, passage in enumerate(passages):
        base = passage.chunk.start
        for start, end in sentence_spans(passage.text, offset=base):
            text = passage.text[start - base : end - base]
            if text not in seen:
                seen.add(text)
                found.append(Sentence(passage, rank, start, end, text))
    return found


def _cite(number: int, sentence: Sentence) -> Citation:
    chunk = sentence.passage.chunk
    return Citation(
        number=number, article_id=chunk.article_id, title=chunk.title, source=chunk.source,
        url=chunk.url, published=chunk.published, passage=chunk.text,
        passage_start=chunk.start, quote=sentence.text, start=sentence.start,
        end=sentence.end, chunk_id=chunk.id,
    )
