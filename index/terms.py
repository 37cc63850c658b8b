"""Content words, stemmed: the lexical side of retrieval and of sentence scoring."""

from __future__ import annotations

import re
from functools import lru_cache

import Stemmer
from bm25s.stopwords import STOPWORDS_EN

# The same token pattern bm25s and llama-index's BM25 retriever use.
_TOKEN = re.compile(r"(?u)\b\w\w+\b")
_STOP = frozenset(STOPWORDS_EN) | {
    "what", "which", "who", "whom", "whose", "when", "where", "why", "how", "did", "does",
    "do", "many", "much", "get", "got",
}


@lru_cache(maxsize=1)
def _stemmer() -> Stemmer.Stemmer:
    return Stemmer.Stemmer("english")


def terms(text: str) -> list[str]:
    # An all-capitals word is an acronym ("US", "WHO"), never a stop word.
    words = [w.lower() for w in _TOKEN.findall(text) if w.isupper() or w.lower() not in _STOP]
    return _stemmer().stemWords(words)
