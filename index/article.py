"""An article as it is stored: cleaned text plus the metadata a citation shows."""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import asdict, dataclass
from typing import Any


@dataclass(frozen=True)
class Article:
    id: str
    text: str
    title: str
    source: str
    url: str | None = None
    published: str | None = None  # ISO 8601
    author: str | None = None
    # The file it came from when the article is the whole file (not for JSONL lines): a
    # re-ingest of the edited file replaces the article it produced before.
    origin: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def text_id(text: str) -> str:
    """The id of an article that has none: a hash of its whitespace-normalised text."""
    normalised = re.sub(r"\s+", " ", text).strip()
    return hashlib.sha256(normalised.encode("utf-8")).hexdigest()[:16]


def fingerprint(article: Article, chunk_tokens: int) -> str:
    """Changes when anything stored for the article would change, so re-ingest can skip it."""
    from index.sentences import RULES

    payload = {**article.to_dict(), "origin": None, "chunk_tokens": chunk_tokens, "sentence_rules": RULES}
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode("utf-8")).hexdigest()[:32]


def first_line(text: str) -> str:
    for line in text.splitlines():
        if line.strip():
            return line.strip()
    return ""
