"""`newsqa mcp`: the archive as tools for agents, a Model Context Protocol server over
stdio (the official `mcp` package).

Tools: `search_news` (ranked passages), `ask_news` (a cited answer) and `get_article`
(an article's text, which citations' offsets point into). The engine loads on the first
call, once. stdout carries the protocol: nothing else may print there.
"""

from __future__ import annotations

import functools
import logging
import threading
from dataclasses import asdict
from typing import Any, Callable, TypeVar

from index.errors import NewsQAError
from index.filters import Filters
from index.settings import Settings
from qa.engine import Engine

log = logging.getLogger("newsqa.mcp")
T = TypeVar("T")

INSTRUCTIONS = (
    "Search and question a news archive. Every answer quotes the articles verbatim and "
    "numbers its citations; an answer with abstained=true means the articles do not hold it. "
    "Dates are YYYY-MM-DD."
)


def build_server(settings: Settings) -> Any:
    from mcp.server.mcpserver import MCPServer
    from mcp.server.mcpserver.exceptions import ToolError

    server = MCPServer("newsqa", instructions=INSTRUCTIONS)
    loading = threading.Lock()  # tools run on worker threads: the first calls load one engine

    @functools.cache
    def loaded() -> Engine:
        return Engine(settings)

    def engine() -> Engine:
        with loading:
            return loaded()

    def calling(work: Callable[[], T]) -> T:
        try:
            return work()
        except NewsQAError as error:  # what the user can fix: the message says how
            raise ToolError(str(error)) from None

    @server.tool(description="The passages of the news archive that best match a query, best first.")
    def search_news(
        query: str, k: int = 5, sources: list[str] | None = None, since: str | None = None,
        until: str | None = None,
    ) -> list[dict[str, Any]]:
        def run() -> list[dict[str, Any]]:
            passages = engine().search(query, max(1, min(k, 50)), Filters.parse(sources, since, until))
            return [p.to_dict() for p in passages]
        return calling(run)

    @server.tool(description="Answer a question from the news archive: the answer's text with [n] "
                             "markers, each citation's verbatim quote and its article, and the short "
                             "answer; abstained=true when the articles do not hold the answer.")
    def ask_news(
        question: str, history: list[str] | None = None, sources: list[str] | None = None,
        since: str | None = None, until: str | None = None,
    ) -> dict[str, Any]:
        return calling(lambda: engine().ask(question, history or [], Filters.parse(sources, since, until)).to_dict())

    @server.tool(description="An article of the archive by its id (from a citation or a search): "
                             "title, source, date, url and the full text citations point into.")
    def get_article(article_id: str) -> dict[str, Any]:
        def run() -> dict[str, Any]:
            found = asdict(engine().store.article(article_id))
            del found["origin"]
            return found
        return calling(run)

    return server


def run(settings: Settings) -> None:
    logging.basicConfig(level=logging.WARNING)  # to stderr
    build_server(settings).run("stdio")
