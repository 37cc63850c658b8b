"""The real chat in a real browser: `python -m ui` on a free port, headless Chromium."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Iterator

import pytest

from tests.conftest import free_port, serving

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = ROOT / "test-artifacts"

pytestmark = [pytest.mark.browser, pytest.mark.slow]

if not CHROMIUM.exists():
    pytest.skip(
        "browser tests need Debian's chromium at /usr/bin/chromium: "
        "sudo apt-get install -y chromium", allow_module_level=True,
    )
sync_api = pytest.importorskip(
    "playwright.sync_api", reason="browser tests need playwright: pip install -e '.[test]'"
)


@pytest.fixture(scope="module")
def chat_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    port = free_port()
    store = tmp_path_factory.mktemp("chat") / "store"  # empty: the chat seeds it itself
    with serving(
        [sys.executable, "-m", "ui", "--store", str(store), "--port", str(port)],
        f"http://127.0.0.1:{port}/", tmp_path_factory.mktemp("log") / "server.log", "the chat",
        cwd=ROOT, env={**os.environ, "PYTHONUNBUFFERED": "1"},
    ) as url:
        yield url


def test_ask_a_question_and_see_the_cited_source_highlighted(chat_url: str) -> None:
    hosts: set[str] = set()
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=str(CHROMIUM), headless=True,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--no-first-run"],
        )
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.on("request", lambda request: hosts.add(request.url.split("/")[2]))
        page.goto(chat_url)
        sync_api.expect(page.get_by_text("2 articles")).to_be_visible()
        box = page.locator("#nq-question textarea")

        box.fill("How many votes did Maduro get?")
        box.press("Enter")
        mark = page.locator("#nq-sources mark").first
        sync_api.expect(mark).to_contain_text("5.8 million", timeout=60_000)
        sync_api.expect(page.locator("#nq-chat")).to_contain_text("5.8 million votes")
        sync_api.expect(page.locator("#nq-chat")).to_contain_text("[1]")
        source = page.locator("#source-1")
        sync_api.expect(source).to_contain_text("Maduro wins second term")
        sync_api.expect(source).to_contain_text("venezuela-election-2018.txt")
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "chat-answer.png"), full_page=True)

        # A follow-up leans on the previous turn.
        box.fill("Who was his closest rival?")
        box.press("Enter")
        sync_api.expect(page.locator("#nq-sources mark").first).to_contain_text("Falcón", timeout=60_000)
        box.fill("What is the boiling point of mercury?")
        box.press("Enter")
        sync_api.expect(page.locator("#nq-sources")).to_contain_text("No source", timeout=60_000)
        sync_api.expect(page.locator("#nq-chat")).to_contain_text("could not find the answer")

        # Filters: only the World Cup report, then only dated articles (the seeds have none).
        page.locator("#nq-filters").get_by_text("Only some articles").click()
        page.locator("#nq-filter-sources input").click()
        page.get_by_role("option", name="world-cup-final-2018.txt").click()

        def ask(question: str) -> None:  # the box empties when the answer has arrived
            box.fill(question)
            box.press("Enter")
            sync_api.expect(box).to_have_value("", timeout=60_000)

        ask("Who won the World Cup final?")
        sync_api.expect(page.locator("#source-1")).to_contain_text("France beat Croatia", timeout=60_000)
        ask("How many votes did Maduro get?")
        sync_api.expect(page.locator("#nq-sources")).to_contain_text("No source", timeout=60_000)
        page.locator("#nq-since textarea, #nq-since input").first.fill("May 2018")
        ask("Who won the World Cup final?")
        sync_api.expect(page.locator("#nq-chat")).to_contain_text(
            "Sorry: the since date 'May 2018' is not a date of the form YYYY-MM-DD", timeout=60_000)
        browser.close()
    assert hosts == {chat_url.split("/")[2]}, f"the page contacted other hosts: {hosts}"
