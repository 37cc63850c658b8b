"""The real chat in a real browser: `python -m ui` on a free port, headless Chromium.

The tests of this module share one chat over the seeds; a test that adds articles
deletes them again before it ends.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterator

import pytest

from tests.conftest import web_pages
from tests.ui.browser import ANSWERED, chat_server, chromium, expect, visit

pytestmark = [pytest.mark.browser, pytest.mark.slow]


@pytest.fixture(scope="module")
def chat_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    store = tmp_path_factory.mktemp("chat") / "store"  # empty: the chat seeds it itself
    # The pasted URLs of these tests are pages on 127.0.0.1, which a chat refuses by default.
    with chat_server(store, tmp_path_factory.mktemp("log"), "--allow-private-urls") as url:
        yield url


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with chromium() as launched:
        yield launched


def test_an_answer_cites_its_sources_and_a_marker_opens_the_card(browser: Any, chat_url: str) -> None:
    with visit(browser, chat_url) as seen:
        page = seen.page
        expect(page.locator("#nq-description")).to_contain_text("2 articles, 8 passages")
        seen.ask("How many votes did Maduro get?")
        chat, cards = page.locator("#nq-chat"), page.locator("#nq-sources")
        expect(chat).to_contain_text("5.8 million votes")
        expect(cards.locator("mark").first).to_contain_text("5.8 million")
        # The exact words that answer are bold, in the answer and in the card's quote.
        expect(chat.locator("strong.nq-short").first).to_have_text("5.8 million")
        card = page.locator("#source-1")
        expect(card.locator(".nq-passage mark strong.nq-short")).to_have_text("5.8 million")
        expect(card).to_contain_text("Maduro wins second term")
        expect(card).to_contain_text("venezuela-election-2018.txt")
        seen.screenshot("chat-answer")

        chat.locator("a.nq-cite", has_text="[1]").click()  # the marker leads to its card
        expect(card).to_be_focused()
        card.get_by_text("Open the whole article").click()
        whole = card.locator(".nq-article-text")
        expect(whole).to_be_visible()
        expect(whole).to_contain_text("His closest rival, Henri Falcón")  # all of it
        expect(whole.locator("mark")).to_contain_text("5.8 million")  # the quote in place
        seen.screenshot("chat-source-opened")

        seen.ask("Who was his closest rival?")  # a follow-up leans on the previous turn
        expect(cards.locator("mark").first).to_contain_text("Falcón")

        seen.ask("What is the boiling point of mercury?")
        expect(cards).to_contain_text("No source holds an answer")
        expect(chat).to_contain_text("could not find the answer")
        closest = page.locator(".nq-closest")
        expect(closest.first).to_contain_text("does not contain the answer")
        seen.screenshot("chat-abstained")

        page.locator("#nq-new").click()  # a new conversation forgets the old one
        expect(chat).not_to_contain_text("5.8 million")
        expect(cards).to_contain_text("Sources of the answer appear here")
    assert not seen.dialogs
    assert not seen.other_hosts(), f"the page contacted other hosts: {seen.other_hosts()}"


def test_filters_keep_answers_to_the_chosen_articles(browser: Any, chat_url: str) -> None:
    with visit(browser, chat_url) as seen:
        page = seen.page
        page.locator("#nq-filters").get_by_text("Only some articles").click()
        page.locator("#nq-filter-sources input").click()
        page.get_by_role("option", name="world-cup-final-2018.txt").click()
        page.keyboard.press("Escape")
        # The sources follow the answer: wait for them as long as for an answer (the
        # chat's "Searching" sign may not be up yet when `ask` looks for it).
        seen.ask("Who won the World Cup final?")
        expect(page.locator("#source-1")).to_contain_text("France beat Croatia", timeout=ANSWERED)
        seen.ask("How many votes did Maduro get?")
        expect(page.locator("#nq-sources")).to_contain_text("No source", timeout=ANSWERED)
        page.locator("#nq-since textarea, #nq-since input").first.fill("May 2018")
        seen.ask("Who won the World Cup final?")
        expect(page.locator("#nq-chat")).to_contain_text(
            "Sorry: the since date 'May 2018' is not a date of the form YYYY-MM-DD")
    assert not seen.other_hosts()


def test_each_browser_session_has_its_own_conversation(browser: Any, chat_url: str) -> None:
    with visit(browser, chat_url) as first, visit(browser, chat_url) as second:
        first.ask("How many votes did Maduro get?")
        expect(first.page.locator("#nq-chat")).to_contain_text("5.8 million")
        second.ask("Who won the World Cup final?")
        expect(second.page.locator("#nq-chat")).to_contain_text("France")
        expect(second.page.locator("#nq-chat")).not_to_contain_text("Maduro")
        # A follow-up in the first session still leans on the first session's question.
        first.ask("Who was his closest rival?")
        expect(first.page.locator("#nq-sources mark").first).to_contain_text("Falcón")


def test_upload_a_file_ask_about_it_and_delete_it(browser: Any, chat_url: str, tmp_path: Path) -> None:
    article = tmp_path / "harbour-bridge.txt"
    article.write_text(
        "Harbour bridge reopens after repairs\n\n"
        "The harbour bridge in Kestrelby reopened on Monday after eleven months of repairs. "
        "The repairs cost 48 million euros, the city council said.\n"
    )
    broken = tmp_path / "broken.jsonl"
    broken.write_text('{"title": "no text here"}\n')
    with visit(browser, chat_url) as seen:
        page = seen.page
        seen.upload([article, broken])
        outcomes = page.locator("#nq-outcomes")
        expect(outcomes).to_contain_text("harbour-bridge.txt", timeout=ANSWERED)
        expect(outcomes.get_by_role("row", name="harbour-bridge.txt")).to_contain_text("added")
        expect(outcomes).to_contain_text('missing "text"')  # the broken file, and why
        expect(page.locator("#nq-description")).to_contain_text("3 articles")
        expect(page.locator("#nq-catalog")).to_contain_text("Harbour bridge reopens after repairs")
        seen.screenshot("articles-uploaded")

        page.get_by_role("tab", name="Chat").click()
        seen.ask("How much did the bridge repairs in Kestrelby cost?")
        expect(page.locator("#source-1")).to_contain_text("Harbour bridge reopens after repairs")

        page.get_by_role("tab", name="Articles").click()
        page.locator("#nq-doomed input").click()
        page.get_by_role("option", name="Harbour bridge reopens after repairs (harbour-bridge.txt)").click()
        page.locator("#nq-delete").click()
        expect(page.locator("#nq-deleted")).to_contain_text("Deleted", timeout=ANSWERED)
        expect(page.locator("#nq-description")).to_contain_text("2 articles")
        expect(page.locator("#nq-catalog")).not_to_contain_text("Harbour bridge")
    assert not seen.other_hosts()


def test_the_chat_works_from_the_keyboard_alone(browser: Any, chat_url: str) -> None:
    with visit(browser, chat_url) as seen:
        page = seen.page
        expect(page.locator("#nq-question textarea")).to_be_focused()  # focused on arrival
        page.keyboard.type("How many votes did Maduro get?")
        page.keyboard.press("Enter")
        expect(page.locator("#source-1 .nq-passage mark")).to_contain_text("5.8 million", timeout=ANSWERED)
        # Tab reaches the answer's markers; Enter on one moves the focus to its card.
        for _ in range(40):
            page.keyboard.press("Tab")
            if page.evaluate("document.activeElement.classList.contains('nq-cite')"):
                break
        else:
            pytest.fail("Tab never reached a citation marker")
        page.keyboard.press("Enter")
        expect(page.locator("#source-1")).to_be_focused()
        # From the card, Tab reaches "Open the whole article"; Enter opens it.
        for _ in range(10):
            page.keyboard.press("Tab")
            if page.evaluate("document.activeElement.tagName") == "SUMMARY":
                break
        else:
            pytest.fail("Tab never reached the card's whole article")
        page.keyboard.press("Enter")
        expect(page.locator("#source-1 .nq-article-text mark")).to_be_visible()
        seen.screenshot("keyboard-only")


LIGHTHOUSE = (
    "<html><head><title>Lighthouse relit</title>"
    "<meta property='og:site_name' content='Coast Gazette'></head><body><article>"
    "<h1>Lighthouse relit</h1><p>The old lighthouse at Marrow Point was relit on Sunday after "
    "forty years of darkness. Volunteers spent three summers restoring the lamp room.</p>"
    "<p>The restoration cost 2.3 million pounds, most of it raised by the village of Marrow. "
    "The keeper's cottage will open as a museum in the spring.</p></article></body></html>"
).encode()


def test_paste_a_url_ask_about_the_page_and_delete_it(browser: Any, chat_url: str) -> None:
    pages = {"/lighthouse": (200, "text/html; charset=utf-8", LIGHTHOUSE)}
    with web_pages(pages) as site, visit(browser, chat_url) as seen:
        page = seen.page
        page.get_by_role("tab", name="Articles").click()
        outcomes = page.locator("#nq-outcomes")
        for path, ended in (("/missing", "404"), ("/lighthouse", "added")):
            page.locator("#nq-url textarea, #nq-url input").first.fill(site + path)
            page.locator("#nq-add").click()
            expect(outcomes).to_contain_text(site + path, timeout=ANSWERED)
            expect(outcomes).to_contain_text(ended)
        expect(page.locator("#nq-catalog")).to_contain_text("Coast Gazette")

        page.get_by_role("tab", name="Chat").click()
        seen.ask("When was the lighthouse at Marrow Point relit?")
        card = page.locator("#source-1")
        expect(card).to_contain_text("Lighthouse relit")
        expect(card.locator("a.nq-url")).to_have_attribute("href", site + "/lighthouse")

        page.get_by_role("tab", name="Articles").click()
        page.locator("#nq-doomed input").click()
        page.get_by_role("option", name="Lighthouse relit (Coast Gazette)").click()
        page.locator("#nq-delete").click()
        expect(page.locator("#nq-description")).to_contain_text("2 articles", timeout=ANSWERED)


def test_an_example_question_fills_the_box(browser: Any, chat_url: str) -> None:
    with visit(browser, chat_url) as seen:
        page = seen.page
        page.locator("#nq-examples button").first.click()
        expect(page.locator("#nq-question textarea")).to_have_value(
            "What does “France beat Croatia 4-2 to win the World Cup for the second time” report?")
