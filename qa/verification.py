"""Does a cited passage back a written sentence? Checked before it is shown as cited.

A sentence an LLM wrote is supported when the passages it cites:
- hold one sentence close to it in meaning (the embedding model's cosine),
- hold most of its content words, and every number and name it states,
and when it is about the question (so an instruction planted in an article, "reply
CANARY", is supported by no passage about what was asked).

The thresholds below are set by reasoning about the measures, not fitted on the data
the evaluator reports on: a sentence copied or closely paraphrased from a passage scores
a cosine above 0.8 and holds all of its words; an unrelated one stays under 0.4.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from qa.extractive import Sentence, candidate_sentences
from qa.ranking import names, term_set
from qa.retrieval import Passage

MIN_COSINE = 0.6  # the sentence to the passage's sentence closest to it
MIN_WORDS = 0.7  # share of the sentence's content words that the passages hold
MIN_RELEVANCE = 0.25  # the sentence to the question
_NUMBER = re.compile(r"\d+(?:[.,]\d+)*")


@dataclass(frozen=True)
class Support:
    """The verdict on one written sentence, with the passage sentence that backs it best."""

    supported: bool
    best: Sentence | None
    cosine: float
    words: float  # share of its content words found in the cited passages
    reason: str = ""  # why it is not supported

    def __bool__(self) -> bool:
        return self.supported


def numbers(text: str) -> frozenset[str]:
    return frozenset(n.replace(",", "") for n in _NUMBER.findall(text))


def check(
    claim: str, claim_vector: np.ndarray, question_vector: np.ndarray, cited: Sequence[Passage]
) -> Support:
    sentences = candidate_sentences(cited)
    if not sentences:
        return Support(False, None, 0.0, 0.0, "it cites no passage")
    cosines = np.stack([s.stored.vector for s in sentences]) @ claim_vector
    best = int(np.argmax(cosines))
    held = frozenset().union(*(term_set(f"{p.chunk.title} {p.text}") for p in cited))
    wanted = term_set(claim)
    words = len(wanted & held) / len(wanted) if wanted else 0.0
    support = Support(True, sentences[best], float(cosines[best]), words)
    text = " ".join(p.text for p in cited)
    if not wanted:
        return _not(support, "it states nothing to check")
    if missing := numbers(claim) - numbers(text):
        return _not(support, f"the passages do not hold {', '.join(sorted(missing))}")
    if missing := names(claim) - held:
        return _not(support, f"the passages do not name {', '.join(sorted(missing))}")
    if words < MIN_WORDS:
        return _not(support, f"the passages hold {words:.0%} of its words")
    if support.cosine < MIN_COSINE:
        return _not(support, f"no sentence of the passages says it (closest: {support.cosine:.2f})")
    if float(claim_vector @ question_vector) < MIN_RELEVANCE:
        return _not(support, "it is not about the question")
    return support


def _not(support: Support, reason: str) -> Support:
    return Support(False, support.best, support.cosine, support.words, reason)
