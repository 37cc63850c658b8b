"""A running chat sees what other processes ingest and delete, at its next question, on
an embedded store and on a Chroma server: `python -m ui`, `newsqa ingest` and `newsqa
delete` as processes of their own, headless Chromium asking."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import STORE_MODES, settings_for
from tests.ui.browser import chat_server, chromium, expect, visit

pytestmark = [pytest.mark.browser, pytest.mark.slow]

NEWSQA = [sys.executable, "-m", "ui.cli"]
QUESTION = "How much did the lighthouse at Gullholm sell for?"


@pytest.mark.parametrize("mode", STORE_MODES)
def test_the_chat_sees_articles_another_process_ingests_and_deletes(
    mode: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    settings = settings_for(mode, tmp_path, request)  # empty: the chat seeds it
    where = ["--chroma-url", str(settings.chroma_url)] if settings.chroma_url else ["--store", str(settings.store)]
    article = tmp_path / "lighthouse.txt"
    article.write_text(
        "Gullholm lighthouse sold at auction\n\n"
        "The disused lighthouse on Gullholm was sold at auction on Friday for 2.4 million crowns "
        "to a local fishing cooperative, the harbour board said.\n"
    )
    with chat_server(settings.store, tmp_path, *where) as chat, chromium() as browser, \
            visit(browser, chat) as seen:
        cards, answers = seen.page.locator("#nq-sources"), seen.page.locator("#nq-chat")
        seen.ask(QUESTION)  # the seeds alone: nothing about it
        expect(cards).not_to_contain_text("Gullholm")

        run: Any = lambda *args: subprocess.run(  # noqa: E731
            [*NEWSQA, *args, *where], check=True, capture_output=True, env=os.environ)
        run("ingest", str(article))
        seen.ask(QUESTION)
        expect(seen.page.locator("#source-1")).to_contain_text("Gullholm lighthouse sold at auction")
        expect(answers).to_contain_text("2.4 million crowns")

        run("delete", "--source", "lighthouse.txt")
        seen.page.locator("#nq-new").click()  # a new conversation: the answer above goes
        seen.ask(QUESTION)
        expect(cards).not_to_contain_text("Gullholm")
        expect(answers).not_to_contain_text("2.4 million crowns")
    assert not seen.other_hosts()
