"""Questions in, cited answers out.

    >>> import qa
    >>> answer = qa.ask("How many votes did Maduro get?", store="my-store")
    >>> answer.text, answer.citations[0].quote
"""

from __future__ import annotations

import os
from typing import Sequence

import index  # noqa: F401  (sets the offline switches before anything heavy loads)
from index.filters import Filters
from index.settings import Settings
from qa.answer import NO_ANSWER, Answer, Citation
from qa.engine import Engine, QuestionError, engine_for
from qa.retrieval import Passage

__all__ = [
    "NO_ANSWER",
    "Answer",
    "Citation",
    "Engine",
    "Filters",
    "Passage",
    "QuestionError",
    "ask",
    "search",
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


def search(
    question: str,
    store: str | os.PathLike[str] | None = None,
    k: int = 10,
    *,
    filters: Filters | None = None,
    settings: Settings | None = None,
) -> list[Passage]:
    """The ranked passages (hybrid dense + BM25) that answers are built from."""
    return engine_for(Settings.resolve(store, settings)).search(question, k, filters)
