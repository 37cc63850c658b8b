"""One writer at a time, and ingests killed with SIGKILL: real processes on a real store."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import index
import qa
from index.errors import StoreError
from index.settings import Settings
from index.store import JOURNAL_FILE, Store, to_chunk
from tests.conftest import settings_for

pytestmark = pytest.mark.slow

NEWSQA = [sys.executable, "-m", "ui.cli"]
# An ingest in a process of its own, committing every 4 articles.
INGEST = """
import sys, index
index.ingest([sys.argv[1]], store=sys.argv[2], batch_size=4, progress=False)
"""
HOLD_LOCK = """
import sys, time, index
store = index.open_store(sys.argv[1], create=True)
with store.writing():
    print("locked", flush=True)
    time.sleep(120)
"""


def _feed(path: Path, n: int) -> Path:
    """n distinct articles of a few passages each."""
    with path.open("w") as feed:
        for i in range(n):
            body = " ".join(
                f"Report {i} paragraph {p}: the council of town {i} met on day {p} and "
                f"approved {i * 7 + p} new homes near the river." for p in range(12)
            )
            feed.write(json.dumps({"id": f"a{i:02d}", "title": f"Town {i}", "text": body}) + "\n")
    return path


def _fresh_store(settings: Settings) -> index.Store:
    """The store as a process that opens it now sees it (Chroma keeps each store's vector
    index in the memory of the process that opened it, so drop this process's copy)."""
    from chromadb.api.client import SharedSystemClient

    SharedSystemClient.clear_system_cache()
    return index.open_store(settings=settings)


def _check_whole_or_absent(settings: Settings) -> set[str]:
    """Every article with a record is complete; what readers see belongs to those only."""
    store = _fresh_store(settings)
    complete = store.article_ids()
    assert store._finished(sorted(complete)) == complete, "an article is half-written"
    assert {n.metadata["article_id"] for n in store.nodes()} <= complete
    return complete


def test_a_second_writer_is_refused_at_once_with_a_clear_message(
    embedded_settings: Settings, tmp_path: Path
) -> None:
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_LOCK, str(embedded_settings.store)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
        with pytest.raises(StoreError, match="another process is writing to the store"):
            index.ingest([_feed(tmp_path / "feed.jsonl", 1)], settings=embedded_settings, progress=False)
        cli = subprocess.run(
            [*NEWSQA, "delete", "a00", "--store", str(embedded_settings.store)],
            capture_output=True, text=True, timeout=120,
        )
        assert cli.returncode == 1 and "Traceback" not in cli.stderr
        assert cli.stderr.strip().splitlines() == [
            f"newsqa: error: another process is writing to the store at {embedded_settings.store} "
            "(an ingest or a delete); wait for it to finish and try again"
        ]
    finally:
        holder.kill()
        holder.wait()
    # The lock dies with its holder, even killed: writing works again.
    report = index.ingest([tmp_path / "feed.jsonl"], settings=embedded_settings, progress=False)
    assert report.added == ["a00"]


def _noted(journal: Path) -> list[str]:
    """The article ids the ingest's journal names now. The ingest removes the journal
    between batches, so it may vanish between a check for it and the read."""
    try:
        return journal.read_text().split()
    except FileNotFoundError:
        return []


def _ingest_and_kill(feed: Path, store: Path, target: str, delay: float) -> None:
    """Start an ingest; SIGKILL it `delay` seconds after it starts writing the batch of
    the article `target` (0 s: before its chunks; a few ms: amid its chunks and sentences;
    later: before or after the records, on this machine)."""
    journal = store / JOURNAL_FILE
    process = subprocess.Popen(
        [sys.executable, "-c", INGEST, str(feed), str(store)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline and process.poll() is None:
        if target in _noted(journal):
            break
        time.sleep(0.001)
    time.sleep(delay)
    assert process.poll() is None, "the ingest ended before it could be killed"
    os.kill(process.pid, signal.SIGKILL)
    process.wait()


def test_ingests_killed_mid_write_leave_a_consistent_store_that_the_next_ingest_completes(
    embedded_settings: Settings, tmp_path: Path
) -> None:
    articles = 50  # enough for each kill to land a batch past the one before
    feed = _feed(tmp_path / "feed.jsonl", articles)
    journal = embedded_settings.store / JOURNAL_FILE
    left_unfinished = 0
    # Several delays: how long a write takes varies with the machine and its load.
    for delay in (0.0, 0.005, 0.01, 0.02, 0.035):  # each ingest first repairs what the last one left
        # Kill it a batch past anything an earlier run wrote or noted, so that only the
        # new process can write the target.
        done = max((int(i[1:]) for i in _noted(journal)), default=-1)
        _ingest_and_kill(feed, embedded_settings.store, f"a{done + 5:02d}", delay)
        visible = _check_whole_or_absent(embedded_settings)
        store = _fresh_store(embedded_settings)
        left_unfinished += len(set(store._articles.get(include=[])["ids"]) - visible) + len(
            {m["article_id"] for m in store._chunks.get(include=["metadatas"])["metadatas"]} - visible
        )
        answer = qa.Engine(embedded_settings).ask("How many new homes did the council of town 2 approve?")
        assert answer.citations and all(c.article_id in visible for c in answer.citations)
    assert left_unfinished, "no kill landed mid-write: the repair was not exercised"

    report = index.ingest([feed], settings=embedded_settings, progress=False)
    assert not report.failed and sorted(report.added + report.replaced + report.unchanged) == [
        f"a{i:02d}" for i in range(articles)
    ]
    store = _fresh_store(embedded_settings)
    assert store.article_ids() == {f"a{i:02d}" for i in range(articles)}
    # No duplicates and no orphans: exactly the recorded chunks are stored, with their sentences.
    records = store._articles.get(include=["metadatas"])["metadatas"]
    assert store._chunks.count() == sum(int(m["chunks"]) for m in records)
    # ...the lexical index lists every one of them (with its vectors)...
    assert store.lexical().article_ids() == store.article_ids()
    # ...and every vector reads back.
    chunk_ids = [n.node_id for n in store.nodes()]
    assert len(store.chunks_with_vectors(chunk_ids)) == len(chunk_ids) == store._chunks.count()
    chunks = [to_chunk(node) for node in store.nodes()]
    assert sum(map(len, store.sentences(chunks).values())) == sum(int(m["sentences"]) for m in records)


def test_a_running_engine_sees_what_another_process_ingests_and_deletes(
    embedded_settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = _feed(tmp_path / "first.jsonl", 4)
    index.ingest([first], settings=embedded_settings, progress=False)
    engine = qa.Engine(embedded_settings)

    def refuse(self: Store) -> None:  # reopening Chroma costs seconds at a million passages
        raise AssertionError("the engine reopened the store to see another process's writes")

    monkeypatch.setattr(Store, "_reopen", refuse)
    assert engine.ask("How many new homes did the council of town 2 approve?").citations
    more = tmp_path / "more.jsonl"
    more.write_text(_feed(tmp_path / "all.jsonl", 8).read_text().split("\n", 4)[4])  # a04-a07
    subprocess.run([sys.executable, "-c", INGEST, str(more), str(embedded_settings.store)], check=True)
    question = "How many new homes did the council of town 6 approve?"
    answer = engine.ask(question)
    assert answer.citations and answer.citations[0].article_id == "a06"
    # Its vectors too, not only its words: the vector files are the writer's, as it left them.
    dense = engine.store.dense(engine.embedder.encode_one(question), 3, complete=engine.store.lexical().complete)
    assert "a06" in {chunk.article_id for chunk, _ in dense}
    gone = subprocess.run([*NEWSQA, "delete", "a06", "--store", str(embedded_settings.store)],
                          capture_output=True, text=True)
    assert gone.returncode == 0, gone.stderr
    assert all(c.article_id != "a06" for c in engine.ask(question).citations)
    assert engine.ask("How many new homes did the council of town 2 approve?").citations


def test_on_a_chroma_server_a_running_engine_sees_what_another_process_ingests(
    request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    settings = settings_for("server", tmp_path, request)
    index.ingest([_feed(tmp_path / "first.jsonl", 4)], settings=settings, progress=False)
    engine = qa.Engine(settings)  # one app instance ...
    assert engine.ask("How many new homes did the council of town 2 approve?").citations
    more = tmp_path / "more.jsonl"
    more.write_text(_feed(tmp_path / "all.jsonl", 8).read_text().split("\n", 4)[4])  # a04-a07
    # ... and another process adding articles to the same store on the server
    added = subprocess.run(
        [*NEWSQA, "ingest", str(more), "--chroma-url", str(settings.chroma_url)],
        capture_output=True, text=True,
    )
    assert added.returncode == 0, added.stderr
    answer = engine.ask("How many new homes did the council of town 6 approve?")
    assert answer.citations and answer.citations[0].article_id == "a06"
