"""What `ask` returns: an answer whose every sentence is tied to a verbatim quote."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True)
class Citation:
    """The source of one `[number]` marker in an answer.

    `quote` is exactly `article_text[start:end]`; `passage` is the retrieved chunk that
    holds it, which starts at `passage_start` in the article. `short` is the words of the
    quote that answer the question, exactly `article_text[short_start:short_end]` (None
    when the answer is the whole sentence).
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
    short: str | None = None
    short_start: int | None = None
    short_end: int | None = None

    @property
    def quote_in_passage(self) -> tuple[int, int]:
        """Where the quote sits inside `passage` (for highlighting)."""
        return self.start - self.passage_start, self.end - self.passage_start

    @property
    def short_in_quote(self) -> tuple[int, int] | None:
        """Where the short answer sits inside `quote` (for bold type), if there is one."""
        if self.short_start is None or self.short_end is None:
            return None
        return self.short_start - self.start, self.short_end - self.start


@dataclass(frozen=True)
class WrittenSentence:
    """A sentence an LLM wrote, and whether the passages it cited back it.

    A supported sentence carries the numbers of its `Citation`s; an unsupported one
    carries none, whatever the LLM wrote after it, and says why. `attributed`: the LLM
    named no passage, and the checker found one that backs the sentence alone."""

    text: str
    supported: bool
    citations: list[int] = field(default_factory=list)
    reason: str = ""
    attributed: bool = False


@dataclass(frozen=True)
class Answer:
    """`text` holds each sentence with its `[n]` markers; `short` the exact words that
    answer, from the first citation (None when there are none). A written answer (`written_by`
    names the LLM) also lists its `sentences`; `notice` says what the reader should know,
    such as the LLM being unreachable and this being the extractive answer instead (when
    none of the LLM's sentences was backed, they stay in `sentences`, all unsupported)."""

    question: str
    text: str
    abstained: bool
    citations: list[Citation] = field(default_factory=list)
    sentences: list[WrittenSentence] = field(default_factory=list)
    written_by: str | None = None
    notice: str | None = None
    short: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Answer:
        return cls(
            question=data["question"], text=data["text"], abstained=data["abstained"],
            citations=[Citation(**c) for c in data.get("citations", [])],
            sentences=[WrittenSentence(**s) for s in data.get("sentences", [])],
            written_by=data.get("written_by"), notice=data.get("notice"), short=data.get("short"),
        )


NO_ANSWER = "I could not find the answer to that in the articles."
