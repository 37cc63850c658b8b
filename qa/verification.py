"""Does a cited passage back a written sentence? Checked before it is shown as cited.

A sentence an LLM wrote is supported when the passages it cites hold one sentence that
backs it on its own, the sentence then quoted in its citation:
- close to it in meaning (the embedding model's cosine),
- holding (with its article's title) nearly all of its content words, in its order, and
  every number and name it states,
- negated where it is negated, and only there,
and when it states something (a question it repeats does not, nor a lead-in such as "The
answer is:") about the question (so an instruction planted in an article, "reply CANARY",
is supported by no passage about what was asked).

The thresholds below are set by reasoning about the measures, not fitted on the data
the evaluator reports on: a sentence copied or closely paraphrased from a passage scores
a cosine above 0.8 and holds all of its words; an unrelated one stays under 0.4. A word
the quote lacks is most often one the LLM added ("vertical-scanned", "which led to the
collapse"), so a claim may lack one word in ten (a framing word such as "answer"), not
more. The same words in another order most often relate them otherwise ("the highest
density of any borough" from "the borough of Manhattan's density ... the highest of any
county"), so the same one word in ten may be out of order, not more.

Read by hand on the tiny model's replies to 550 SQuAD train questions (train-44, never
the file the evaluator reports on): of the 46 sentences the words rule alone let through,
9 claimed what their quote does not say; with the order, title and lead-in rules, 3 of 33
did (two of them bare names given as the answer: no verb, nothing a lexical check sees).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from qa.extractive import Sentence, candidate_sentences
from qa.ranking import names, term_set
from qa.retrieval import Passage
from index.terms import terms

MIN_COSINE = 0.6  # the claim to the passage sentence that backs it
MIN_WORDS = 0.9  # share of the claim's content words that sentence (with its title) holds
MIN_ORDER = 0.9  # ... holds in the claim's order
MIN_RELEVANCE = 0.25  # the sentence to the question
_NUMBER = re.compile(r"\d+(?:[.,]\d+)*")
# A claim and its quote must agree on being negated: "did not win" is not backed by "won".
_NEGATION = re.compile(r"\b(?:not|no|never|none|nor|neither|nobody|nothing|without|cannot)\b|n't\b", re.I)


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
    """Supported when one sentence of the cited passages backs the claim on its own: that
    sentence is the quote the user is shown, so the claim's content must be in it (or in
    its article's title), not gathered from elsewhere in the passage."""
    sentences = candidate_sentences(cited)
    if not sentences:
        return Support(False, None, 0.0, 0.0, "it cites no passage")
    facts = _Facts.of(claim)
    if facts.idle:  # nothing to compare with any sentence
        return Support(False, None, 0.0, 0.0, facts.idle)
    cosines = np.stack([s.stored.vector for s in sentences]) @ claim_vector
    verdicts = [_backs(facts, sentence, float(cosine)) for sentence, cosine in zip(sentences, cosines)]
    backing = [v for v in verdicts if v]
    best = max(backing or verdicts, key=lambda v: v.cosine)  # if none backs it: the closest, and why
    if best and float(claim_vector @ question_vector) < MIN_RELEVANCE:
        return _not(best, "it is not about the question")
    return best


@dataclass(frozen=True)
class _Facts:
    """What a claim states, read once and compared with each candidate sentence."""

    terms: frozenset[str]
    sequence: tuple[str, ...]  # its content words in order, repeats kept
    numbers: frozenset[str]
    names: frozenset[str]
    negated: bool
    idle: str  # why it claims nothing, if it does not

    @classmethod
    def of(cls, claim: str) -> _Facts:
        sequence = tuple(terms(claim))
        found = frozenset(sequence)
        end = claim.rstrip()[-1:]
        idle = (  # a question the LLM repeated or asked back; a lead-in ("The answer is:")
            "it asks a question; it claims nothing" if end == "?"
            else "it introduces what follows; it claims nothing" if end == ":"
            else "" if found else "it states nothing to check"
        )
        return cls(found, sequence, numbers(claim), names(claim), bool(_NEGATION.search(claim)), idle)


def _backs(claim: _Facts, sentence: Sentence, cosine: float) -> Support:
    text = f"{sentence.passage.chunk.title}\n{sentence.text}"
    own = term_set(sentence.text)  # cached: the same candidates are scored for every claim
    held = term_set(sentence.passage.chunk.title) | own
    words = len(claim.terms & held) / len(claim.terms)
    support = Support(True, sentence, cosine, words)
    if missing := claim.numbers - numbers(text):
        return _not(support, f"the closest passage sentence does not hold {', '.join(sorted(missing))}")
    if missing := claim.names - held:
        return _not(support, f"the closest passage sentence does not name {', '.join(sorted(missing))}")
    if claim.negated != bool(_NEGATION.search(sentence.text)):
        return _not(support, "it negates what the closest passage sentence says, or that sentence negates it")
    if words < MIN_WORDS:
        return _not(support, f"the closest passage sentence holds {words:.0%} of its words")
    if claim.terms.isdisjoint(own):  # else any sentence under its headline would back a headline
        return _not(support, "only the article's title holds its words, not the passage sentence")
    if (order := _in_order(claim.sequence, terms(sentence.text), held)) < MIN_ORDER:
        return _not(support, f"the closest passage sentence puts its words in another order ({order:.0%} in order)")
    if cosine < MIN_COSINE:
        return _not(support, f"no passage sentence says it (closest: {cosine:.2f})")
    return support


def _in_order(claim: Sequence[str], sentence: Sequence[str], held: frozenset[str]) -> float:
    """The share of the claim's words that the sentence holds in the claim's order (the
    longest common subsequence). Same words in another order most often relate them
    differently: "Manhattan is located in the borough of New York City" from "New York
    City is located on ... the boroughs of Manhattan ...". Words only the title holds
    count as in order: the title is the article's subject, not part of the sentence."""
    title_only = {t for t in claim if t in held} - set(sentence)
    rest = [t for t in claim if t not in title_only]
    previous = [0] * (len(sentence) + 1)
    for word in rest:
        current = [0]
        for j, other in enumerate(sentence):
            current.append(previous[j] + 1 if word == other else max(previous[j + 1], current[j]))
        previous = current
    return (previous[-1] + len(claim) - len(rest)) / len(claim)


def _not(support: Support, reason: str) -> Support:
    return Support(False, support.best, support.cosine, support.words, reason)
