"""News metadata and deletion, on a real store."""

import json
from pathlib import Path

import pytest

import index
import qa
from index.embedding import Embedder
from index.filters import Filters, day_number
from index.settings import Settings
from tests.conftest import SEEDS

pytestmark = pytest.mark.slow


def test_author_date_and_source_are_kept_and_dates_are_sortable(news_settings: Settings) -> None:
    store = index.open_store(settings=news_settings)
    article = store.article("bbc-ferry")
    assert (article.author, article.published, article.source) == ("Ann Lee", "2005-03-01", "BBC")
    chunk = store._chunks.get(where={"article_id": "bbc-ferry"}, include=["metadatas"])["metadatas"][0]
    assert chunk["published_day"] == day_number("2005-03-01") and chunk["source_key"] == "bbc"
    assert store.stats().sources == {"BBC": 2, "Reuters": 2}
    # The catalog lists newest first, undated last; overview() is both from one read.
    assert [e.id for e in store.catalog()] == ["wire-ferry", "bbc-budget", "bbc-ferry", "undated-note"]
    assert store.overview() == (store.stats(), store.catalog())


def test_delete_by_id_and_by_source(news_settings: Settings) -> None:
    report = index.delete(["bbc-ferry", "no-such-id"], settings=news_settings)
    assert (report.deleted, report.missing) == (["bbc-ferry"], ["no-such-id"])
    report = index.delete(sources=["reuters"], settings=news_settings)
    assert sorted(report.deleted) == ["undated-note", "wire-ferry"]
    store = index.open_store(settings=news_settings)
    assert store.article_ids() == {"bbc-budget"}
    # Nothing of the deleted articles is left: their chunks (with their sentences) go with the record.
    assert {m["article_id"] for m in store._chunks.get(include=["metadatas"])["metadatas"]} == {"bbc-budget"}


def test_near_duplicate_articles_share_a_cluster_and_are_cited_once(
    news_settings: Settings, tmp_path: Path
) -> None:
    # A wire story as two outlets ran it: another headline, a comma less in each sentence,
    # one more closing sentence.
    body = " ".join(
        f"Dock {i} in Dover reopened on Tuesday after the ferry strike, which lasted 12 days, "
        f"and crews cleared {i * 40} waiting lorries." for i in range(8)
    )
    wire = {"id": "wire-dover", "source": "Reuters", "title": "Dover docks reopen",
            "text": f"Dover docks reopen\n\n{body}"}
    repost = {"id": "post-dover", "source": "Daily Post", "title": "Lorries move again in Dover",
              "text": f"Lorries move again in Dover\n\n{body.replace(', and', ' and')} Services resume tomorrow."}
    (tmp_path / "more.jsonl").write_text("".join(json.dumps(a) + "\n" for a in (wire, repost)))
    index.ingest([tmp_path / "more.jsonl"], settings=news_settings, progress=False)
    stats = index.stats(settings=news_settings)
    assert (stats.duplicate_clusters, stats.duplicate_articles) == (1, 2)
    store = index.open_store(settings=news_settings)
    assert {a.id: a.cluster for a in store.lexical().listing().newest}["post-dover"] == "wire-dover"

    answer = qa.Engine(news_settings).ask("How many lorries did crews clear at dock 3 in Dover?")
    quotes = [" ".join(c.quote.split()) for c in answer.citations]
    assert any("120 waiting lorries" in q for q in quotes) and len(quotes) == len(set(quotes))


def test_a_filtered_search_of_the_vector_files_agrees_with_chromas_filter(news_settings: Settings) -> None:
    index.ingest([SEEDS], settings=news_settings, progress=False)  # 12 passages in all
    store = index.open_store(settings=news_settings)
    question = Embedder.for_settings(news_settings).encode_one("How long did the ferry strike last?")
    for filters in (None, Filters.parse("bbc"), Filters.parse(since="2005-06-01"), Filters.parse("reuters")):
        found = [(c.id, round(cos, 4)) for c, cos in store.dense(question, 2, filters)]
        # Chroma's own search of its vector index, with its filter.
        got = store._chunks.query(query_embeddings=[question.tolist()], n_results=2,
                                  where=filters.where() if filters else None, include=["distances"])
        exact = [(i, round(1 - d, 4)) for i, d in zip(got["ids"][0], got["distances"][0])]
        assert found == exact and found
