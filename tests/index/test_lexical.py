"""The lexical index on disk: kept in step by writers, caught up by readers, never rebuilt
without need. Real stores, real SQLite, writers in processes of their own."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

import index
from index.filters import Filters
from index.lexical import FILE, LexicalArticle, LexicalIndex, LexicalPassage
from index.settings import Settings
from index.packing import unpack
from index.store import SENTENCES_KEY, Store, to_chunk
from tests.conftest import NEWS, store_args

pytestmark = pytest.mark.slow

NEWSQA = [sys.executable, "-m", "ui.cli"]


def _ids(store: Store, query: str, filters: Filters | None = None) -> set[str]:
    return {chunk.split("#")[0] for chunk, _ in store.lexical().search(query, 10, filters)}


def _no_rebuild(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("the lexical index read passages back from Chroma")

    monkeypatch.setattr(Store, "_passages", refuse)


def _check_frequencies(store: Store) -> None:
    """The kept document frequencies are the counts of the passages that hold each word."""
    lexical = store.lexical()
    db = lexical._connection()
    words = [w for (text,) in db.execute("SELECT terms FROM words") for w in text.split()]
    counted = {w: db.execute("SELECT count(*) FROM words WHERE words MATCH ?", (f'"{w}"',)).fetchone()[0]
               for w in set(words)}
    assert lexical.document_frequencies(counted) == counted


def _write_feed(path: Path, items: list[dict[str, str]]) -> Path:
    path.write_text("".join(json.dumps(item) + "\n" for item in items))
    return path


def test_a_new_process_reads_the_index_an_ingest_wrote_without_rebuilding_it(
    news_settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    feed = _write_feed(tmp_path / "more.jsonl", [{
        "id": "bbc-lighthouse", "source": "BBC", "published": "2005-04-02", "title": "Lighthouse sold",
        "text": "Lighthouse sold\n\nThe old lighthouse at Portland Bill was sold at auction.",
    }])
    subprocess.run([*NEWSQA, "ingest", str(feed), *store_args(news_settings)], check=True,
                   capture_output=True, env=os.environ)
    _no_rebuild(monkeypatch)
    store = index.open_store(settings=news_settings)
    assert _ids(store, "lighthouse auction") == {"bbc-lighthouse"}
    assert _ids(store, "ferry strike", Filters.parse(["Reuters"])) == {"wire-ferry"}
    assert store.lexical().size == len(NEWS) + 1


def test_deleting_an_article_takes_it_out_of_the_index(news_settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    index.delete(["bbc-ferry"], settings=news_settings)
    _no_rebuild(monkeypatch)
    store = index.open_store(settings=news_settings)
    assert _ids(store, "ferry strike Dover") == {"wire-ferry"}
    assert store.lexical().complete(["bbc-ferry", "wire-ferry"]) == {"wire-ferry"}
    _check_frequencies(store)


def test_a_missing_or_outdated_index_is_rebuilt_from_the_store(embedded_settings: Settings, tmp_path: Path) -> None:
    index.ingest([_write_feed(tmp_path / "news.jsonl", NEWS)], settings=embedded_settings, progress=False)
    path = embedded_settings.store / FILE
    for damage in ("delete", "old version"):
        if damage == "delete":
            path.unlink()
            for extra in path.parent.glob(FILE + "-*"):
                extra.unlink()
        else:
            with sqlite3.connect(path) as db:
                db.execute("UPDATE meta SET value = '0' WHERE key = 'version'")
        store = index.open_store(settings=embedded_settings)
        assert _ids(store, "crane harbour") == {"undated-note"}, damage
        assert store.lexical().size == len(NEWS)


def test_questions_read_passages_back_from_the_index_exactly_as_the_store_holds_them(
    news_settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = index.open_store(settings=news_settings)
    held = {c.id: c for c in map(to_chunk, store.nodes())}
    records = store._chunks.get(ids=list(held), include=["metadatas"])
    packed = {i: unpack(str(m[SENTENCES_KEY]), int(m["sentences"]), store.dim)
              for i, m in zip(records["ids"], records["metadatas"])}
    for how in ("as written", "as rebuilt from the store"):
        if how == "as rebuilt from the store":
            store.lexical_index().update(clear=True)  # no stamp: the next read rebuilds it
            store.lexical()
        read = store.chunks_with_vectors(list(held))
        assert {i: chunk for i, (chunk, _) in read.items()} == held, how
        assert any(c.author for c in held.values()) and all(c.sentences for c in held.values())
        sentences = store.sentences(list(held.values()))
        assert {i: [(s.start, s.end) for s in found] for i, found in sentences.items()} == {
            i: [(s.start, s.end) for s in found] for i, found in packed.items()}, how
        for i, found in sentences.items():
            assert all((a.vector == b.vector).all() for a, b in zip(found, packed[i])), how

    # Chroma's first read of its passages loads their vector index (seconds at a
    # million): the question path must not touch them at all.
    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("a question read Chroma's passage records")

    from qa.engine import Engine

    engine = Engine(news_settings)
    for method in ("get", "query", "count"):
        monkeypatch.setattr(engine.store._chunks, method, refuse)
    answer = engine.ask("How long did the ferry strike in Dover last?")
    assert answer.citations and "12 days" in answer.citations[0].quote


class _Killed(Exception):
    """Stands in for the writer's death: our own recovery logic is what is tested."""


def test_a_writer_killed_before_the_index_caught_up_leaves_it_stale_and_readers_catch_up(
    store_settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    index.ingest([_write_feed(tmp_path / "news.jsonl", NEWS[:2])], settings=store_settings, progress=False)
    update = LexicalIndex.update

    def dies_when_adding(self: LexicalIndex, articles: tuple[LexicalArticle, ...] = (), *args: object, **kwargs: object) -> None:
        if articles:  # the articles are committed to Chroma: this is the step after
            raise _Killed()
        update(self, articles, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(LexicalIndex, "update", dies_when_adding)
    with pytest.raises(_Killed):
        index.ingest([_write_feed(tmp_path / "more.jsonl", NEWS[2:])], settings=store_settings, progress=False)
    monkeypatch.setattr(LexicalIndex, "update", update)
    store = index.open_store(settings=store_settings)
    assert store.lexical_index().stamp() != store._stamp()  # the stamp says it is behind
    assert _ids(store, "crane harbour Calais") == {"undated-note", "wire-ferry"}
    assert store.lexical_index().stamp() == store._stamp()


def test_a_failed_change_leaves_the_index_as_it_was(tmp_path: Path) -> None:
    def article(article_id: str) -> LexicalArticle:
        return LexicalArticle(article_id, f"Article {article_id}", "BBC", "", "", 1, article_id)

    lexical = LexicalIndex(tmp_path / FILE)
    lexical.update(articles=[article("a")], passages=[LexicalPassage("a#0", "a", "bbc", 0, "Ferry strike ends")],
                   stamp=(3, "s"))

    def passages() -> object:
        yield LexicalPassage("b#0", "b", "bbc", 0, "Crane installed")
        raise _Killed()

    with pytest.raises(_Killed):
        lexical.update(articles=[article("b")], passages=passages(), removed=["a"], stamp=(4, "s"))  # type: ignore[arg-type]
    assert lexical.stamp() == (3, "s")
    assert [i for i, _ in lexical.search("ferry", 5)] == ["a#0"] and not lexical.search("crane", 5)
    assert lexical.article_ids() == {"a"}


def test_a_reader_catches_up_with_writes_from_another_machine(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two machines on one Chroma server, each with its own cache (its own lexical index):
    one deletes an article, rewrites another under the same id and adds a third."""
    from tests.conftest import settings_for

    settings = settings_for("server", tmp_path, request)
    index.ingest([_write_feed(tmp_path / "news.jsonl", NEWS)], settings=settings, progress=False)
    store = index.open_store(settings=settings)
    assert _ids(store, "crane harbour") == {"undated-note"}
    rewritten = {**NEWS[1], "text": "Budget sets new tax band\n\nThe chancellor froze fuel duty instead."}
    added = {"id": "wire-dam", "source": "Reuters", "title": "Dam opens", "text": "Dam opens\n\nA hydroelectric dam opened."}
    feed = _write_feed(tmp_path / "other.jsonl", [rewritten, added])
    other = {**os.environ, "NEWSQA_CACHE": str(tmp_path / "other-machine")}
    for command in (["delete", "undated-note"], ["ingest", str(feed)]):
        subprocess.run([*NEWSQA, *command, *store_args(settings)], check=True, capture_output=True, env=other)
    assert _ids(store, "crane harbour") == set()
    assert _ids(store, "fuel duty") == {"bbc-budget"}
    assert _ids(store, "incomes pounds") == set()  # the rewritten article's old words
    assert _ids(store, "hydroelectric dam") == {"wire-dam"}
    assert store.lexical().size == len(NEWS)
    _check_frequencies(store)


def test_stats_and_the_newest_articles_come_from_the_index_without_reading_every_record(
    news_settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    _no_rebuild(monkeypatch)
    monkeypatch.setattr(Store, "_records", lambda self: pytest.fail("read every article record"))
    store = index.open_store(settings=news_settings)
    stats, newest = store.overview(2)
    assert (stats.articles, stats.chunks, stats.sources) == (4, 4, {"BBC": 2, "Reuters": 2})
    assert [e.id for e in newest] == ["wire-ferry", "bbc-budget"]
    assert store.stats() == stats


# Unrelated articles, so that each query word is in fewer than half the passages (a word
# in more weighs nothing in either ranking; FTS5 keeps a tiny weight for it).
FILLER = [{"id": f"town-{i}", "source": "Gazette", "title": f"Town {i} homes",
           "text": f"Town {i} homes\n\nThe council of town {i} approved {i * 7} new homes."} for i in range(8)]


@pytest.fixture()
def small_segments(monkeypatch: pytest.MonkeyPatch) -> None:
    """Segments of a few passages, so that tiny stores rank through one."""
    from index import segment

    monkeypatch.setattr(segment, "REBUILD_AT", 2)


def _fts5_only(store: Store, query: str, filters: Filters | None = None) -> list[tuple[str, float]]:
    """FTS5's own ranking of every passage: what the segment must agree with."""
    from index.terms import terms

    match = " OR ".join(f'"{w}"' for w in sorted(set(terms(query))))
    where, params = filters.sql() if filters else ("1", [])
    return [(i, s) for i, s in store.lexical_index()._connection().execute(
        "SELECT p.id, -bm25(words) FROM words JOIN passages AS p ON p.rowid = words.rowid "
        f"WHERE words MATCH ? AND {where} ORDER BY bm25(words)", [match, *params])]


def test_a_frozen_segment_ranks_and_scores_as_fts5_does(
    news_settings: Settings, small_segments: None, tmp_path: Path
) -> None:
    index.ingest([_write_feed(tmp_path / "filler.jsonl", FILLER)], settings=news_settings, progress=False)
    store = index.open_store(settings=news_settings)
    store.lexical()
    with store.writing():  # a writer freezes the passages into a segment
        pass
    frozen = store.lexical_index()._current_segment()
    assert frozen is not None and len(frozen.rows) == len(NEWS) + len(FILLER)
    for query, filters in (("ferry strike union", None), ("ferry strike", Filters.parse(["Reuters"])),
                           ("tax band incomes", Filters.parse(since="2005-06-01"))):
        got = store.lexical().search(query, 10, filters)
        want = _fts5_only(store, query, filters)
        assert [i for i, _ in got] == [i for i, _ in want]
        assert [round(s, 4) for _, s in got] == [round(s, 4) for _, s in want]


def test_passages_added_or_deleted_after_the_segment_are_seen(
    store_settings: Settings, small_segments: None, tmp_path: Path
) -> None:
    index.ingest([_write_feed(tmp_path / "news.jsonl", NEWS + FILLER)], settings=store_settings, progress=False)
    store = index.open_store(settings=store_settings)
    assert store.lexical_index()._current_segment() is not None
    from index import segment

    segment.REBUILD_AT = 100  # no new segment from here on: the rest goes to FTS5 and the mask
    index.delete(["bbc-ferry"], settings=store_settings)
    feed = _write_feed(tmp_path / "more.jsonl", [{"id": "bbc-dover", "source": "BBC", "title": "Dover ferry",
                                                  "text": "Dover ferry\n\nA new ferry strike began in Dover."}])
    subprocess.run([*NEWSQA, "ingest", str(feed), *store_args(store_settings)], check=True,
                   capture_output=True, env=os.environ)
    assert _ids(store, "ferry strike Dover") == {"bbc-dover", "wire-ferry"}
    assert _ids(store, "ferry strike Dover", Filters.parse(["BBC"])) == {"bbc-dover"}
    assert _ids(index.open_store(settings=store_settings), "ferry strike Dover") == {"bbc-dover", "wire-ferry"}


def test_a_new_segment_is_due_after_a_fixed_step_then_after_a_tenth_of_the_passages() -> None:
    from index import segment

    assert segment.rebuild_threshold(0) == segment.rebuild_threshold(150_000) == segment.REBUILD_AT
    assert segment.rebuild_threshold(1_000_000) == 100_000
