"""The lexical index: BM25 over the passages of every complete article, on disk beside the store.

SQLite's FTS5 holds each passage's content words (`index.terms`: stemmed, stop words out,
so that its tokens are exactly the words the rest of the code weighs) and ranks them with
its bm25(); a side table holds what filters test, and another the complete articles.
BENCHMARKS.md says why FTS5 and not bm25s or an in-memory index.

It is derived from the Chroma store, which stays the source of truth (see `Store`): the
writing process updates it in step with Chroma, and any process that finds it behind the
store's revision brings it up to date (`Store.lexical`). Every change is one SQLite
transaction, so a process killed mid-write leaves the index as it was before, and the
stamp it carries (the store's revision) tells the next reader whether it is current.
"""

from __future__ import annotations

import math
import sqlite3
import threading
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Sequence

from index.filters import Filters
from index.terms import terms

VERSION = 1  # of the file's layout and of `terms`: another version is rebuilt
FILE = "newsqa-lexical.sqlite3"
_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS articles(id TEXT PRIMARY KEY) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS passages(
    rowid INTEGER PRIMARY KEY, id TEXT NOT NULL UNIQUE, article_id TEXT NOT NULL,
    source_key TEXT NOT NULL, day INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS passages_article ON passages(article_id);
CREATE VIRTUAL TABLE IF NOT EXISTS words USING fts5(
    terms, tokenize = "unicode61 remove_diacritics 0 tokenchars '_'"
);
CREATE VIRTUAL TABLE IF NOT EXISTS vocabulary USING fts5vocab(words, 'row');
"""


@dataclass(frozen=True)
class LexicalPassage:
    """A passage as the lexical index holds it."""

    id: str
    article_id: str
    source_key: str
    day: int
    text: str


class LexicalIndex:
    """One index file. Safe to share between threads (a connection per thread), and
    between processes (SQLite's write-ahead log: readers never wait for the writer)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._local = threading.local()
        with self._connection() as db:
            db.executescript(_SCHEMA)
        self.articles = _Articles(self)

    def _connection(self) -> sqlite3.Connection:
        db: sqlite3.Connection | None = getattr(self._local, "db", None)
        if db is None:
            db = sqlite3.connect(self.path, timeout=60, isolation_level=None)
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")  # a crash may lose the last change, never corrupt
            self._local.db = db
        return db

    # --- what it was built for -------------------------------------------------------

    def stamp(self) -> tuple[int, str] | None:
        """(store revision, store identity) it is current with; None if it was never
        finished, or was built by another version."""
        meta = dict(self._connection().execute("SELECT key, value FROM meta").fetchall())
        if meta.get("version") != str(VERSION) or "revision" not in meta:
            return None
        return int(meta["revision"]), meta.get("store", "")

    # --- reading ---------------------------------------------------------------------

    @property
    def size(self) -> int:
        """How many passages it holds."""
        row = self._connection().execute("SELECT value FROM meta WHERE key = 'passages'").fetchone()
        return int(row[0]) if row else 0

    def search(self, query: str, k: int, filters: Filters | None = None) -> list[tuple[str, float]]:
        """The ids of the k passages BM25 ranks first for the query's words (those that pass
        `filters`), with their scores (higher is better)."""
        words = sorted(set(terms(query)))
        if not words:
            return []
        match = " OR ".join('"' + w.replace('"', '""') + '"' for w in words)
        where, params = filters.sql() if filters else ("1", [])
        rows = self._connection().execute(
            "SELECT p.id, -bm25(words) FROM words JOIN passages AS p ON p.rowid = words.rowid "
            f"WHERE words MATCH ? AND {where} ORDER BY bm25(words) LIMIT ?",
            [match, *params, k],
        ).fetchall()
        return [(str(i), float(score)) for i, score in rows if score > 0]

    def document_frequencies(self, words: Iterable[str]) -> dict[str, int]:
        wanted = sorted(set(words))
        if not wanted:
            return {}
        rows = self._connection().execute(
            f"SELECT term, doc FROM vocabulary WHERE term IN ({', '.join('?' * len(wanted))})", wanted
        ).fetchall()
        return {str(t): int(n) for t, n in rows}

    def weights(self, text: str) -> dict[str, float]:
        """Each of the text's words, weighted by its smoothed inverse document frequency (a
        word no passage holds weighs most)."""
        words = terms(text)
        frequencies = self.document_frequencies(words)
        size = self.size
        return {w: _idf(size, frequencies.get(w, 0)) for w in words}

    def idf(self, word: str) -> float:
        return _idf(self.size, self.document_frequencies([word]).get(word, 0))

    def complete(self, article_ids: Iterable[str]) -> set[str]:
        """Those of the articles that readers may see at the index's revision."""
        wanted = list(set(article_ids))
        found: set[str] = set()
        for at in range(0, len(wanted), 500):  # SQLite's limit on parameters
            part = wanted[at : at + 500]
            found.update(r[0] for r in self._connection().execute(
                f"SELECT id FROM articles WHERE id IN ({', '.join('?' * len(part))})", part))
        return found

    def article_ids(self) -> set[str]:
        return {r[0] for r in self._connection().execute("SELECT id FROM articles")}

    # --- writing ---------------------------------------------------------------------

    def update(
        self, articles: Sequence[str] = (), passages: Iterable[LexicalPassage] = (),
        removed: Iterable[str] = (), stamp: tuple[int, str] | None = None, *, clear: bool = False,
    ) -> None:
        """In one transaction: forget everything (if `clear`), the `removed` articles and
        what `articles` held before; then hold `articles`, complete, with their `passages`;
        then record `stamp` (None: leave it as it was)."""
        db = self._connection()
        db.execute("BEGIN IMMEDIATE")
        try:
            if clear:
                for table in ("articles", "passages", "words"):
                    db.execute(f"DELETE FROM {table}")
                db.execute("DELETE FROM meta WHERE key = 'revision'")
            self._forget(db, [*removed, *articles])
            db.executemany("INSERT INTO articles(id) VALUES (?)", [(i,) for i in articles])
            for p in passages:
                rowid = db.execute(
                    "INSERT INTO passages(id, article_id, source_key, day) VALUES (?, ?, ?, ?)",
                    (p.id, p.article_id, p.source_key, p.day),
                ).lastrowid
                db.execute("INSERT INTO words(rowid, terms) VALUES (?, ?)", (rowid, " ".join(terms(p.text))))
            count = db.execute("SELECT count(*) FROM passages").fetchone()[0]
            facts: dict[str, object] = {"passages": count, "version": VERSION}
            if stamp is not None:
                facts.update(revision=stamp[0], store=stamp[1])
            db.executemany("INSERT OR REPLACE INTO meta(key, value) VALUES (?, ?)",
                           [(k, str(v)) for k, v in facts.items()])
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise

    @staticmethod
    def _forget(db: sqlite3.Connection, article_ids: Sequence[str]) -> None:
        for at in range(0, len(article_ids), 500):
            part = list(article_ids[at : at + 500])
            marks = ", ".join("?" * len(part))
            rows = f"SELECT rowid FROM passages WHERE article_id IN ({marks})"
            db.execute(f"DELETE FROM words WHERE rowid IN ({rows})", part)
            db.execute(f"DELETE FROM passages WHERE article_id IN ({marks})", part)
            db.execute(f"DELETE FROM articles WHERE id IN ({marks})", part)

    def close(self) -> None:
        db = getattr(self._local, "db", None)
        if db is not None:
            db.close()
            self._local.db = None


class _Articles:
    """`article_id in index.articles`: one indexed lookup, not a set of every id."""

    def __init__(self, index: LexicalIndex) -> None:
        self._index = index

    def __contains__(self, article_id: object) -> bool:
        return isinstance(article_id, str) and bool(self._index.complete([article_id]))


def _idf(size: int, frequency: int) -> float:
    return math.log(1 + (size + 1) / (frequency + 0.5))


def document_frequencies_without(index: LexicalIndex, texts: Iterable[str]) -> Callable[[str], dict[str, float]]:
    """`index.weights` as they would be without the passages of these texts (for fitting
    on questions whose article is left out)."""
    dropped: Counter[str] = Counter()
    count = 0
    for text in texts:
        dropped.update(set(terms(text)))
        count += 1

    def weights(text: str) -> dict[str, float]:
        words = terms(text)
        frequencies = index.document_frequencies(words)
        size = index.size - count
        return {w: _idf(size, max(0, frequencies.get(w, 0) - dropped[w])) for w in words}

    return weights
