"""Filters by source and date, through retrieval and answers, on a real store."""

import pytest

import index
import qa
from index.settings import Settings
from qa.engine import Engine

pytestmark = pytest.mark.slow

FERRY = "How long did the ferry strike last?"


def _articles(passages: list[qa.Passage]) -> set[str]:
    return {p.article_id for p in passages}


def test_search_keeps_only_the_chosen_sources_and_dates(news_settings: Settings) -> None:
    engine = Engine(news_settings)
    assert _articles(engine.search(FERRY)) == {"bbc-ferry", "bbc-budget", "wire-ferry", "undated-note"}
    assert _articles(engine.search(FERRY, filters=qa.Filters.parse("reuters"))) == {"wire-ferry", "undated-note"}
    since = qa.Filters.parse(since="2005-06-01")
    assert _articles(engine.search(FERRY, filters=since)) == {"bbc-budget", "wire-ferry"}
    window = qa.Filters.parse("bbc", since="2005-01-01", until="2005-03-31")
    assert _articles(engine.search(FERRY, filters=window)) == {"bbc-ferry"}


def test_an_answer_outside_the_filters_is_not_given(news_settings: Settings) -> None:
    engine = Engine(news_settings)
    answer = engine.ask(FERRY, filters=qa.Filters.parse("bbc"))
    assert "12 days" in answer.text and {c.article_id for c in answer.citations} == {"bbc-ferry"}
    elsewhere = engine.ask(FERRY, filters=qa.Filters.parse(since="2007-01-01"))
    assert elsewhere.abstained and not elsewhere.citations


def test_a_running_engine_forgets_deleted_articles(news_settings: Settings) -> None:
    engine = Engine(news_settings)
    assert "bbc-ferry" in _articles(engine.search(FERRY))
    index.delete(["bbc-ferry"], settings=news_settings)
    assert "bbc-ferry" not in _articles(engine.search(FERRY))
    assert "bbc-ferry" not in engine.retriever.lexical().complete(["bbc-ferry"])
