"""Questions in, cited answers out.

    >>> import qa
    >>> answer = qa.ask("How many votes did Maduro get?", store="my-store")
    >>> answer.text, answer.citations[0].quote
"""

from __future__ import annotations

import os
from typing import Iterator, Sequence

import index  # noqa: F401  (sets the offline switches before anything heavy loads)
from index.filters import Filters
from index.settings import Settings
from qa.answer import NO_ANSWER, Answer, Citation, WrittenSentence
from qa.engine import Engine, QuestionError, Reply, engine_for
from qa.llm import LLMError
from qa.retrieval import Passage

__all__ = [
    "NO_ANSWER",
    "Answer",
    "Citation",
    "Engine",
    "Filters",
    "LLMError",
    "Passage",
    "QuestionError",
    "WrittenSentence",
    "ask",
    "search",
    "stream",
]


def ask(
    question: str,
    store: str | os.PathLike[str] | None = None,
    *,
    history: Sequence[str] = (),
    filters: Filters | None = None,
    settings: Settings | None = None,
) -> Answer:
    """Answer from the store's articles, citing a verbatim quote for every sentence.

    `filters` keeps only some sources or a date range: `Filters.parse("bbc", since="2005-01-01")`.
    """
    return engine_for(Settings.resolve(store, settings)).ask(question, history, filters)


def stream(
    question: str,
    store: str | os.PathLike[str] | None = None,
    *,
    history: Sequence[str] = (),
    filters: Filters | None = None,
    settings: Settings | None = None,
) -> Iterator[str | Answer]:
    """Like `ask`, for an LLM configured in the settings: its text as it is written (str
    parts, not yet checked, so never to be shown as cited), then the checked `Answer`.
    Without an LLM, the `Answer` alone."""
    for part in engine_for(Settings.resolve(store, settings)).stream(question, history, filters):
        yield part.answer if isinstance(part, Reply) else part


def search(
    question: str,
    store: str | os.PathLike[str] | None = None,
    k: int = 10,
    *,
    filters: Filters | None = None,
    settings: Settings | None = None,
) -> list[Passage]:
    """The ranked passages (hybrid dense + BM25) that answers are built from; an answer
    then has the reader reorder the best four."""
    return engine_for(Settings.resolve(store, settings)).search(question, k, filters)
