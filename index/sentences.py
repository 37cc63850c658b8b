"""Sentence boundaries as character spans, so quotes can point back into the text."""

from __future__ import annotations

import re
from functools import lru_cache
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from nltk.tokenize.punkt import PunktTokenizer

_LINE = re.compile(r"[^\n]+")


# Abbreviations the English Punkt model lacks; without them "Piano Sonata No. 2" and
# "i.e. the ..." are cut into two sentences, and a quote loses half its meaning.
_ABBREVIATIONS = {
    "no", "nos", "i.e", "e.g", "cf", "vol", "vols", "pp", "ca", "approx", "fig", "op",
    "mt", "ft", "gov", "sgt", "capt", "cmdr", "rev", "hon", "dept", "univ", "assn", "est",
}
# Changes whenever the rules above change what a sentence is; part of every fingerprint,
# so stores re-split (and re-embed) their articles on the next ingest.
RULES = 2


@lru_cache(maxsize=1)
def _punkt() -> PunktTokenizer:
    # nltk takes most of a second to import: only what splits text pays for it (not
    # `newsqa ask --server`, say).
    from nltk.tokenize.punkt import PunktTokenizer

    # Loads the English model from llama-index-core's bundled nltk data (NLTK_DATA).
    punkt = PunktTokenizer("english")
    punkt._params.abbrev_types.update(_ABBREVIATIONS)
    return punkt


def sentence_spans(text: str, offset: int = 0) -> list[tuple[int, int]]:
    """(start, end) of each sentence; lines never join, so a headline is its own sentence."""
    spans: list[tuple[int, int]] = []
    punkt = _punkt()
    for line in _LINE.finditer(text):
        body = line.group()
        for start, end in punkt.span_tokenize(body):
            if body[start:end].strip():
                spans.append((offset + line.start() + start, offset + line.start() + end))
    return spans
