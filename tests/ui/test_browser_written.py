"""The Answers selector in a real browser: the chat runs the tiny real LLM (SmolLM2, in
process), and each browser tab chooses written or extractive answers for itself."""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

import pytest

from tests.conftest import VOTES
from tests.ui.browser import chat_server, chromium, expect, visit

pytestmark = [pytest.mark.browser, pytest.mark.slow]

WRITTEN = "Written by gguf: SmolLM2-135M-Instruct.Q4_1.gguf, citations checked"
# Counts the moments the chat shows an unchecked draft (they pass before `ask` returns).
WATCH_DRAFTS = """() => { window.__drafts = 0; new MutationObserver(() => {
  if (document.querySelector('#nq-chat .nq-draft')) window.__drafts += 1; })
  .observe(document.body, {subtree: true, childList: true, characterData: true}); }"""


@pytest.fixture(scope="module")
def chat_url(tmp_path_factory: pytest.TempPathFactory, smollm2: Path) -> Iterator[str]:
    store = tmp_path_factory.mktemp("chat") / "store"  # empty: the chat seeds it itself
    with chat_server(store, tmp_path_factory.mktemp("log"), "--llm", "gguf", "--llm-model", str(smollm2)) as url:
        yield url


def test_each_tab_chooses_written_or_extractive_answers(chat_url: str) -> None:
    with chromium() as browser, visit(browser, chat_url) as written, visit(browser, chat_url) as plain:
        expect(written.page.get_by_label(WRITTEN)).to_be_checked()  # the configured LLM by default
        plain.page.get_by_label("Extractive: quoted sentences").check()
        for seen in (written, plain):
            seen.page.evaluate(WATCH_DRAFTS)
            seen.ask(VOTES)

        # Written: a draft while the LLM writes, then its checked answer (markers only on
        # backed sentences) or, when it backs nothing, the extractive answer saying so.
        page = written.page
        assert page.evaluate("window.__drafts") > 0
        chat = page.locator("#nq-chat")
        expect(chat).not_to_contain_text("the citations are checked when it is done")
        shown = chat.locator(".nq-cite, .nq-unsupported, .nq-notice")
        assert shown.count() > 0, chat.inner_text()
        if chat.locator(".nq-notice").count():
            expect(chat).to_contain_text("This is the extractive answer instead")
        expect(page.get_by_label(WRITTEN)).to_be_checked()  # the other tab's choice is its own
        written.screenshot("chat-written")

        # Extractive, in the other tab: no LLM was asked.
        assert plain.page.evaluate("window.__drafts") == 0
        chat = plain.page.locator("#nq-chat")
        expect(chat).to_contain_text("5.8 million")
        expect(chat.locator(".nq-cite").first).to_be_visible()
        expect(chat.locator(".nq-notice, .nq-unsupported")).to_have_count(0)
    assert not written.dialogs and not written.other_hosts()
