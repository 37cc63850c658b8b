"""What `ask` returns: an answer whose every sentence is tied to a verbatim quote."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True)
class Citation:
    """The source of one `[number]` marker in an answer.

    `quote` is exactly `article_text[start:end]`; `passage` is the retrieved chunk that
    holds it, which starts at `passage_start` in the article.
    """

    number: int
    article_id: str
    title: str
    source: str
    url: str | None
    published: str | None
    passage: str
    passage_start: int
    quote: str
    start: int
    end: int
    chunk_id: str

    @property
    def quote_in_passage(self) -> tuple[int, int]:
        """Where the quote sits inside `passage` (for highlighting)."""
        return self.start - self.passage_start, self.end - self.passage_start


@dataclass(frozen=True)
class Answer:
    question: str
    text: str
    abstained: bool
    citations: list[Citation] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Answer:
        return cls(
            question=data["question"], text=data["text"], abstained=data["abstained"],
            citations=[Citation(**c) for c in data.get("citations", [])],
        )


NO_ANSWER = "I could not find the answer to that in the articles."
