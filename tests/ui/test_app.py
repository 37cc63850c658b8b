"""The chat's answering steps, with the real engine over the seeds (no browser)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from index.settings import Settings
from qa.engine import Engine
from tests.conftest import web_pages
from ui.app import add_articles, respond
from ui.render import SEARCHING

pytestmark = pytest.mark.slow


def test_an_answer_streams_in_one_cited_sentence_at_a_time(seeded_settings: Settings) -> None:
    question = "Who won the Venezuelan election?"  # answered in two sentences
    steps = list(respond(Engine(seeded_settings), question, [], []))
    said = [chat[-1]["content"] for chat, _, _ in steps]
    assert said[0] == SEARCHING and steps[0][0][0]["content"] == question
    assert len(steps) >= 3  # searching, then at least two cited sentences
    for before, after in zip(said[1:], said[2:]):
        assert after.startswith(before) and len(after) > len(before)
    assert said[1].endswith('aria-label="source 1">[1]</a>') and "Nicolás Maduro" in said[1]
    chat, cards, asked = steps[-1]
    assert asked == [question] and 'id="source-1"' in cards
    assert "Open the whole article" in cards


def test_errors_become_a_line_in_the_chat(seeded_settings: Settings) -> None:
    engine = Engine(seeded_settings)
    *_, (chat, _, asked) = respond(engine, "Who won?", [], [], since="May 2018")
    assert chat[-1]["content"].startswith("Sorry: the since date &#x27;May 2018&#x27; is not a date")
    assert asked == []  # a question that was not answered is no context for the next
    [(chat, _, asked)] = list(respond(engine, "  ", [], []))  # empty input is ignored
    assert chat == [] and asked == []


# The LLM is the same whatever the store: these two run on the embedded store only.
@pytest.mark.parametrize("seeded_settings", ["embedded"], indirect=True)
def test_a_written_answer_shows_as_a_draft_without_citations_until_checked(
    seeded_settings: Settings, smollm2: Path
) -> None:
    engine = Engine(replace(seeded_settings, llm="gguf", llm_model=str(smollm2)))
    steps = [chat[-1]["content"] for chat, _, _ in respond(engine, "How many votes did Maduro get?", [], [])]
    drafts = [s for s in steps[1:] if "nq-draft" in s]
    assert len(drafts) > 2 and all("nq-cite" not in d and "the citations are checked" in d for d in drafts)
    assert "nq-wait" not in steps[-1] and "nq-draft" not in steps[-1]


@pytest.mark.parametrize("seeded_settings", ["embedded"], indirect=True)
def test_each_session_chooses_written_or_extractive_answers(seeded_settings: Settings, smollm2: Path) -> None:
    import gradio as gr

    from ui.app import build_app

    def selector(engine: Engine) -> gr.Radio:
        app = build_app(engine)
        return next(b for b in app.blocks.values() if getattr(b, "elem_id", None) == "nq-mode")

    plain = selector(Engine(seeded_settings))
    assert not plain.visible and plain.value == "extractive"
    engine = Engine(replace(seeded_settings, llm="gguf", llm_model=str(smollm2)))
    chosen = selector(engine)
    assert chosen.visible and chosen.value == "written"
    assert [value for _, value in chosen.choices] == ["extractive", "written"]
    steps = [chat[-1]["content"] for chat, _, _ in
             respond(engine, "How many votes did Maduro get?", [], [], written=False)]
    assert not any("nq-draft" in s or "nq-notice" in s for s in steps)  # no LLM was asked


PAGE = (b"<html><head><title>Crane installed</title></head><body><article><h1>Crane installed</h1>"
        b"<p>A new crane was installed at the harbour in Calais on Monday, the port said.</p>"
        b"</article></body></html>")


def test_the_articles_panel_fetches_only_public_web_addresses_unless_allowed(news_settings: Settings) -> None:
    engine = Engine(news_settings)
    assert add_articles(engine, [], "/etc") == [
        ["/etc", "failed", "not a web address: paste an http:// or https:// URL"]]
    with web_pages({"/crane": (200, "text/html", PAGE)}) as site:
        [[name, status, details]] = add_articles(engine, [], f"{site}/crane")
        assert (name, status) == (f"{site}/crane", "failed")
        assert "refused: 127.0.0.1 is a loopback address" in details
        assert add_articles(engine, [], f"{site}/crane", public_urls_only=False) == [
            [f"{site}/crane", "added", "1 added"]]
