"""The learned parts: a few features per passage, per sentence and per question, each
combined by a linear model whose weights were fitted on SQuAD training articles
(`benchmarks/fit.py` writes them to `qa/weights.py`).

Features are named, so a model is a mapping from feature name to weight; a model never
sees a feature it was not fitted on, and the fit script and the product compute features
with these same functions.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Mapping, Sequence

import numpy as np

from index.terms import terms

PASSAGE_FEATURES = (
    "dense", "best_sentence_dense", "bm25", "coverage", "best_sentence_overlap",
    "best_sentence_both",
)
SENTENCE_FEATURES = (
    "dense", "dense_squared", "overlap", "pairs", "window_dense", "window_overlap", "answer_type",
)
EVIDENCE_FEATURES = (
    "dense", "pairs", "window_dense", "window_overlap", "coverage", "passage_dense",
    "names_in_sentence",
)


@dataclass(frozen=True)
class LinearModel:
    weights: Mapping[str, float]
    bias: float = 0.0

    def score(self, features: Mapping[str, np.ndarray]) -> np.ndarray:
        total = np.full(len(next(iter(features.values()))), self.bias, dtype=np.float64)
        for name, weight in self.weights.items():
            total += weight * features[name]
        return total

    def score_one(self, features: Mapping[str, float]) -> float:
        return self.bias + sum(weight * features[name] for name, weight in self.weights.items())


@lru_cache(maxsize=200_000)
def term_set(text: str) -> frozenset[str]:
    return frozenset(terms(text))


@lru_cache(maxsize=200_000)
def term_pairs(text: str) -> frozenset[tuple[str, str]]:
    """Neighbouring content words ("golden ball"): a phrase of the question, not only its words."""
    found = terms(text)
    return frozenset(zip(found, found[1:]))


def overlap(weights: Mapping[str, float], present: frozenset[str]) -> float:
    """The share of the question's term weight (idf) that `present` holds."""
    total = sum(weights.values())
    return sum(w for t, w in weights.items() if t in present) / total if total else 0.0


def pair_overlap(
    weights: Mapping[str, float], asked: frozenset[tuple[str, str]], present: frozenset[tuple[str, str]]
) -> float:
    """The share of the question's word pairs (weighted by their words' idf) that `present` holds."""
    total = sum(weights.get(a, 0.0) + weights.get(b, 0.0) for a, b in asked)
    found = sum(weights.get(a, 0.0) + weights.get(b, 0.0) for a, b in asked & present)
    return found / total if total else 0.0


# What a question asks for, and what a sentence holding that kind of answer contains.
_NUMBER = re.compile(r"\d|\b(one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|twenty|thirty|forty|fifty|hundred|thousand|million|billion|dozen)\b", re.I)
_DATE = re.compile(r"\b(1\d{3}|20\d{2})s?\b|\b\d+(st|nd|rd|th) century\b|\b(January|February|March|April|May|June|July|August|September|October|November|December|Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday|yesterday|today|tomorrow)\b", re.I)
_NAME = re.compile(r"(?<!^)(?<![.!?] )\b[A-Z][\w'-]+")
_ASKS: list[tuple[re.Pattern[str], re.Pattern[str]]] = [
    (re.compile(r"\bhow (many|much|long|old|far|big|large|tall|high|often)\b|\bwhat (percentage|proportion|share|number|amount)\b", re.I), _NUMBER),
    (re.compile(r"\bwhen\b|\bwhat (year|date|day|month|century|decade)\b|\bwhich (year|century|decade)\b", re.I), _DATE),
    (re.compile(r"\bwho(m|se)?\b|\bwhere\b", re.I), _NAME),
]


def names(question: str) -> frozenset[str]:
    """The terms of the question's capitalised words past its first: what it is about."""
    return frozenset(t for match in _NAME.finditer(question) for t in terms(match.group()))


def expected_kinds(question: str) -> list[re.Pattern[str]]:
    return [kind for asks, kind in _ASKS if asks.search(question)]


def answer_type(kinds: Sequence[re.Pattern[str]], text: str, question: str) -> float:
    """1 when the sentence has, besides the question's own words, each kind of thing asked for."""
    if not kinds:
        return 0.0
    asked = question.lower()
    return float(all(
        any(match.group().lower() not in asked for match in kind.finditer(text)) for kind in kinds
    ))
