"""News metadata and deletion, on a real store."""

import pytest

import index
from index.filters import day_number
from index.settings import Settings

pytestmark = pytest.mark.slow


def test_author_date_and_source_are_kept_and_dates_are_sortable(news_settings: Settings) -> None:
    store = index.open_store(settings=news_settings)
    article = store.article("bbc-ferry")
    assert (article.author, article.published, article.source) == ("Ann Lee", "2005-03-01", "BBC")
    chunk = store._chunks.get(where={"article_id": "bbc-ferry"}, include=["metadatas"])["metadatas"][0]
    assert chunk["published_day"] == day_number("2005-03-01") and chunk["source_key"] == "bbc"
    assert store.stats().sources == {"BBC": 2, "Reuters": 2}


def test_delete_by_id_and_by_source(news_settings: Settings) -> None:
    report = index.delete(["bbc-ferry", "no-such-id"], settings=news_settings)
    assert (report.deleted, report.missing) == (["bbc-ferry"], ["no-such-id"])
    report = index.delete(sources=["reuters"], settings=news_settings)
    assert sorted(report.deleted) == ["undated-note", "wire-ferry"]
    store = index.open_store(settings=news_settings)
    assert store.article_ids() == {"bbc-budget"}
    # Nothing of the deleted articles is left: chunks and sentences go with the record.
    assert {m["article_id"] for m in store._chunks.get(include=["metadatas"])["metadatas"]} == {"bbc-budget"}
    assert {m["article_id"] for m in store._sentences.get(include=["metadatas"])["metadatas"]} == {"bbc-budget"}
