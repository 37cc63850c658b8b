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
from index.lexical import FILE, LexicalIndex, LexicalPassage
from index.settings import Settings
from index.store import Store
from tests.conftest import NEWS, store_args

pytestmark = pytest.mark.slow

NEWSQA = [sys.executable, "-m", "qa.cli"]


def _ids(store: Store, query: str, filters: Filters | None = None) -> set[str]:
    return {chunk.split("#")[0] for chunk, _ in store.lexical().search(query, 10, filters)}


def _no_rebuild(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("the lexical index read passages back from Chroma")

    monkeypatch.setattr(Store, "_passages", refuse)


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
    assert "bbc-ferry" not in store.lexical().articles
    assert "wire-ferry" in store.lexical().articles


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


class _Killed(Exception):
    """Stands in for the writer's death: our own recovery logic is what is tested."""


def test_a_writer_killed_before_the_index_caught_up_leaves_it_stale_and_readers_catch_up(
    store_settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    index.ingest([_write_feed(tmp_path / "news.jsonl", NEWS[:2])], settings=store_settings, progress=False)
    update = LexicalIndex.update

    def dies_when_adding(self: LexicalIndex, articles: tuple[str, ...] = (), *args: object, **kwargs: object) -> None:
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
    lexical = LexicalIndex(tmp_path / FILE)
    lexical.update(articles=["a"], passages=[LexicalPassage("a#0", "a", "bbc", 0, "Ferry strike ends")], stamp=(3, "s"))

    def passages() -> object:
        yield LexicalPassage("b#0", "b", "bbc", 0, "Crane installed")
        raise _Killed()

    with pytest.raises(_Killed):
        lexical.update(articles=["b"], passages=passages(), removed=["a"], stamp=(4, "s"))  # type: ignore[arg-type]
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
