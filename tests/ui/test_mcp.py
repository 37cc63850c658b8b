"""`newsqa mcp`: a real server process over stdio, driven by the `mcp` package's own client."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path
from typing import Any

import pytest

from index.settings import Settings
from tests.conftest import ROOT, VOTES, store_args

pytestmark = pytest.mark.slow


async def _session(settings: Settings) -> dict[str, Any]:
    from mcp import Client
    from mcp.client.stdio import StdioServerParameters

    server = StdioServerParameters(
        command=sys.executable, args=["-m", "ui.cli", "mcp", *store_args(settings)], cwd=ROOT,
        env={k: v for k, v in os.environ.items() if k.startswith(("NEWSQA", "XDG", "PATH", "HOME"))},
    )
    async with Client(server, read_timeout_seconds=120) as client:
        tools = await client.list_tools()
        answer = await client.call_tool("ask_news", {"question": VOTES})
        cited = answer.structured_content["citations"][0]
        article = await client.call_tool("get_article", {"article_id": cited["article_id"]})
        found = await client.call_tool("search_news", {"query": "Mbappé goal", "k": 2})
        missing = await client.call_tool("get_article", {"article_id": "no-such-article"})
        narrowed = await client.call_tool("ask_news", {"question": VOTES, "since": "next week"})
        return {"tools": tools, "answer": answer, "article": article, "found": found,
                "missing": missing, "narrowed": narrowed}


def test_an_agent_lists_the_tools_and_gets_a_cited_answer(seeded_settings: Settings, tmp_path: Path) -> None:
    seen = asyncio.run(_session(seeded_settings))
    assert {t.name for t in seen["tools"].tools} == {"search_news", "ask_news", "get_article"}
    answer = seen["answer"].structured_content
    assert not seen["answer"].is_error and answer["abstained"] is False
    cited = answer["citations"][0]
    assert "5.8 million" in cited["quote"] and f"{cited['quote']} [1]" in answer["text"]
    article = seen["article"].structured_content
    assert article["text"][cited["start"]:cited["end"]] == cited["quote"]
    passages = seen["found"].structured_content["result"]
    assert len(passages) == 2 and passages[0]["source"] == "world-cup-final-2018.txt"
    assert seen["missing"].is_error and "no article 'no-such-article'" in seen["missing"].content[0].text
    assert seen["narrowed"].is_error and "YYYY-MM-DD" in seen["narrowed"].content[0].text
