"""`newsqa serve --chat`: the web chat mounted beside the HTTP API, in one process and on
one engine; what the API ingests and deletes, the chat in the browser cites and stops
citing."""

from __future__ import annotations

import json
import os
import sys
import urllib.request
from pathlib import Path

import pytest

from tests.conftest import ROOT, free_port, serving
from tests.ui.browser import chromium, expect, visit

pytestmark = [pytest.mark.browser, pytest.mark.slow]

QUESTION = "How much did the lighthouse at Gullholm sell for?"
ARTICLE = {"id": "gullholm", "source": "Harbour Board", "text": (
    "Gullholm lighthouse sold at auction\n\nThe disused lighthouse on Gullholm was sold at auction "
    "on Friday for 2.4 million crowns to a local fishing cooperative, the harbour board said.")}


def _send(method: str, url: str, body: object | None = None) -> object:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data, {"Content-Type": "application/json"}, method=method)
    with urllib.request.urlopen(request, timeout=120) as response:
        return json.load(response)


def test_the_chat_beside_the_api_cites_what_the_api_adds_and_forgets_what_it_deletes(tmp_path: Path) -> None:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    command = [sys.executable, "-m", "ui.cli", "serve", "--chat", "--store", str(tmp_path / "store"),
               "--port", str(port)]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    with serving(command, f"{base}/health", tmp_path / "serve.log", "newsqa serve --chat", cwd=ROOT, env=env), \
            chromium() as browser, visit(browser, f"{base}/") as seen:
        assert _send("GET", f"{base}/v1/stats")["articles"] == 2  # an empty store gets the seeds
        assert _send("POST", f"{base}/v1/articles", {"articles": [ARTICLE]})["added"] == ["gullholm"]
        cards, answers = seen.page.locator("#nq-sources"), seen.page.locator("#nq-chat")
        seen.ask(QUESTION)
        expect(seen.page.locator("#source-1")).to_contain_text("Gullholm lighthouse sold at auction")
        expect(answers).to_contain_text("2.4 million crowns")

        assert _send("DELETE", f"{base}/v1/articles/gullholm")["deleted"] == ["gullholm"]
        seen.page.locator("#nq-new").click()
        seen.ask(QUESTION)
        expect(cards).not_to_contain_text("Gullholm")
        expect(answers).not_to_contain_text("2.4 million crowns")
    assert not seen.other_hosts()
