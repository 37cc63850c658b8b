"""The lexical index: BM25 over the passages of every complete article, and the articles'
facts, on disk beside the store.

SQLite's FTS5 holds each passage's content words (`index.terms`: stemmed, stop words out,
so that its tokens are exactly the words the rest of the code weighs); a side table holds
what filters test. Passages are ranked by BM25 in two parts: a frozen bm25s segment of
the older ones (`index.segment`, once there are REBUILD_AT of them) and FTS5's bm25() for
those added since. The articles table lists the complete articles with what `stats` and
the article lists show, and the LSH keys of their near-duplicate signatures, indexed, so
that nothing reads every record of the store. BENCHMARKS.md has the measurements behind
this design. Beside it, the passages' vectors (`index.vectors`), by the same rowids: the
dense half of retrieval searches them instead of Chroma's in-memory index. And a copy of
each passage's text, offsets and packed sentences (table `texts`): a question reads the
passages it found from here, never from Chroma, whose first read of a collection loads
its whole vector index.

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
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Sequence

import numpy as np

from index import segment
from index.duplicates import band_keys
from index.filters import Filters
from index.segment import Segment
from index.terms import terms
from index.vectors import Vectors

# Of the file's layout and of `terms`: another version is rebuilt from the store (6: the
# vector files, 7: the texts table, 8: the vectors' float16 copy).
VERSION = 8
FILE = "newsqa-lexical.sqlite3"
VECTORS_PREFIX = "newsqa-vectors-"  # the vector files' names start so (`index.vectors`)
_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS articles(
    id TEXT PRIMARY KEY, title TEXT NOT NULL, title_key TEXT NOT NULL, source TEXT NOT NULL,
    published TEXT NOT NULL, url TEXT NOT NULL, chunks INTEGER NOT NULL, cluster TEXT NOT NULL,
    author TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS articles_newest ON articles(published DESC, title_key, id);
CREATE INDEX IF NOT EXISTS articles_source ON articles(source);
CREATE INDEX IF NOT EXISTS articles_cluster ON articles(cluster);
CREATE TABLE IF NOT EXISTS bands(key BLOB NOT NULL, article_id TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS bands_key ON bands(key);
CREATE INDEX IF NOT EXISTS bands_article ON bands(article_id);
CREATE TABLE IF NOT EXISTS passages(
    rowid INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT NULL UNIQUE, article_id TEXT NOT NULL,
    source_key TEXT NOT NULL, day INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS passages_article ON passages(article_id);
CREATE TABLE IF NOT EXISTS texts(
    rowid INTEGER PRIMARY KEY, text TEXT NOT NULL, chunk_index INTEGER NOT NULL, begins INTEGER NOT NULL,
    ends INTEGER NOT NULL, sentences INTEGER NOT NULL, pack BLOB NOT NULL
);
CREATE VIRTUAL TABLE IF NOT EXISTS words USING fts5(
    terms, tokenize = "unicode61 remove_diacritics 0 tokenchars '_'"
);
CREATE TABLE IF NOT EXISTS frequencies(term TEXT PRIMARY KEY, documents INTEGER NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS dead(rowid INTEGER PRIMARY KEY);
CREATE TABLE IF NOT EXISTS sources(number INTEGER PRIMARY KEY, key TEXT NOT NULL UNIQUE);
"""
_DROP = "".join(f"DROP TABLE IF EXISTS {t};\n" for t in ("vocabulary", "frequencies", "words", "texts", "passages", "bands", "articles", "dead", "sources", "meta"))


@dataclass(frozen=True)
class LexicalArticle:
    """An article's facts as the index lists them ('' for what it lacks)."""

    id: str
    title: str
    source: str
    published: str
    url: str
    chunks: int
    cluster: str
    signature: str = ""  # MinHash, see index/duplicates.py
    author: str = ""


@dataclass(frozen=True)
class Listing:
    """What the index says of its articles: counts, and the newest first."""

    articles: int
    passages: int
    sources: dict[str, int]  # articles per source, most first
    duplicate_clusters: int  # groups of two or more near-duplicate articles
    duplicate_articles: int
    newest: list[LexicalArticle]


@dataclass(frozen=True)
class LexicalPassage:
    """A passage as the lexical index holds it: what it searches, and what a question
    reads back (`passages`), so that asking never waits on Chroma."""

    id: str
    article_id: str
    source_key: str
    day: int
    text: str
    vector: np.ndarray | None = field(default=None, compare=False)  # its embedding (None: found by words only)
    index: int = 0  # its place in the article, and its offsets there
    start: int = 0
    end: int = 0
    sentences: int = 0  # how many sentences `pack` holds (`index.packing`, raw bytes)
    pack: bytes = field(default=b"", repr=False)


class LexicalIndex:
    """One index file. Safe to share between threads (a connection per thread), and
    between processes (SQLite's write-ahead log: readers never wait for the writer)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._local = threading.local()
        self._segment: Segment | None = None  # as loaded by this process
        self._vectors: Vectors | None = None  # the vector files, as mapped by this process
        self._loading = threading.Lock()
        db = self._connection()
        if _version(db) == VERSION:
            return
        with _transaction(db):
            # executescript would commit first: each statement alone keeps them in one transaction.
            if _version(db) not in (None, VERSION):  # another layout: start again
                _run(db, _DROP)
            _run(db, _SCHEMA)
            db.execute("INSERT OR REPLACE INTO meta(key, value) VALUES ('version', ?)", (str(VERSION),))

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
        db = self._connection()
        frozen = self._current_segment()
        match = " OR ".join('"' + w.replace('"', '""') + '"' for w in words)
        where, params = filters.sql() if filters else ("1", [])
        hits = [(str(i), float(score)) for i, score in db.execute(
            "SELECT p.id, -bm25(words) FROM words JOIN passages AS p ON p.rowid = words.rowid "
            f"WHERE words MATCH ? AND words.rowid > ? AND {where} ORDER BY bm25(words) LIMIT ?",
            [match, frozen.last_row if frozen else 0, *params, k],
        )]
        if frozen:
            older = frozen.search(words, k, filters)
            ids = self._ids([rowid for rowid, _ in older])
            hits += [(ids[rowid], score) for rowid, score in older if rowid in ids]
            hits.sort(key=lambda hit: -hit[1])
        return [hit for hit in hits[:k] if hit[1] > 0]

    def _ids(self, rowids: list[int]) -> dict[int, str]:
        return dict(_in_parts(self._connection(), "SELECT rowid, id FROM passages WHERE rowid IN ({})", rowids))

    def nearest(self, query: np.ndarray, k: int, filters: Filters | None = None) -> list[tuple[str, float]]:
        """The ids of the k passages whose vectors are nearest to the query vector (those
        that pass `filters`), with their cosine, highest first."""
        for _ in range(3):  # again if a rebuild replaced the files meanwhile
            vectors = self._current_vectors()
            if vectors is None:
                return []
            keep = self._vector_mask(vectors, filters) if filters else None
            # A few more than asked: rows of a killed writer's passages resolve to no id.
            hits = vectors.search(query, k + 8, keep)
            ids = self._resolve(vectors.stem, "rowid", [row for row, _ in hits])
            if ids is not None:
                return [(ids[row], score) for row, score in hits if row in ids][:k]
        return []

    def vectors_of(self, passage_ids: Sequence[str]) -> dict[str, np.ndarray]:
        """The vectors of those of the passages that the index holds."""
        vectors = self._current_vectors()
        rows = self._resolve(vectors.stem, "id", passage_ids) if vectors else None
        if vectors is None or not rows:
            return {}
        found = vectors.vectors(list(rows.values()))
        return {i: found[r] for i, r in rows.items() if r in found}

    def passages(self, passage_ids: Sequence[str]) -> dict[str, tuple[LexicalPassage, LexicalArticle]]:
        """Those of the passages that the index holds, with their article (in one snapshot;
        without vectors or packed sentences: see `packs`)."""
        found: dict[str, tuple[LexicalPassage, LexicalArticle]] = {}
        for row in self._read(
            "SELECT p.id, p.article_id, p.source_key, p.day, t.text, t.chunk_index, t.begins, t.ends, t.sentences, "
            f"{', '.join('a.' + c for c in _ARTICLE.split(', '))} FROM passages AS p "
            "JOIN texts AS t ON t.rowid = p.rowid JOIN articles AS a ON a.id = p.article_id WHERE p.id IN ({})",
            passage_ids,
        ):
            passage = LexicalPassage(row[0], row[1], row[2], row[3], row[4], None,
                                     index=row[5], start=row[6], end=row[7], sentences=row[8])
            found[passage.id] = (passage, _article(row[9:]))
        return found

    def packs(self, passage_ids: Sequence[str]) -> dict[str, tuple[int, bytes]]:
        """The packed sentences (count, bytes) of those of the passages that the index holds."""
        return {str(i): (int(n), bytes(pack)) for i, n, pack in self._read(
            "SELECT p.id, t.sentences, t.pack FROM passages AS p JOIN texts AS t ON t.rowid = p.rowid "
            "WHERE p.id IN ({})", passage_ids)}

    def _read(self, query: str, keys: Sequence[Any]) -> list[tuple[Any, ...]]:
        """The rows of `query` (see `_in_parts`), read in one snapshot."""
        with self._snapshot() as db:
            return _in_parts(db, query, keys)

    @contextmanager
    def _snapshot(self) -> Iterator[sqlite3.Connection]:
        """A read transaction: every read inside it sees the same state of the index."""
        db = self._connection()
        db.execute("BEGIN")
        try:
            yield db
        finally:
            db.execute("COMMIT")

    def _resolve(self, stem: str, by: str, keys: Sequence[int] | Sequence[str]) -> dict[Any, Any] | None:
        """{rowid: id} (`by` "rowid") or {id: rowid} (`by` "id") of the passages the keys
        name, read in one snapshot in which `stem` names the vector files; None if it no
        longer does (a rebuild starts the rows again from 1)."""
        with self._snapshot() as db:
            now = db.execute("SELECT value FROM meta WHERE key = 'vectors'").fetchone()
            if now is None or now[0] != stem:
                return None
            other = "id" if by == "rowid" else "rowid"
            return dict(_in_parts(db, f"SELECT {by}, {other} FROM passages WHERE {by} IN ({{}})", keys))

    def _current_vectors(self) -> Vectors | None:
        """The vector files the index names, mapped once per process (None: no vectors yet)."""
        meta = dict(self._connection().execute(
            "SELECT key, value FROM meta WHERE key IN ('vectors', 'dim')").fetchall())
        if "vectors" not in meta:
            return None
        with self._loading:
            return self._named(meta["vectors"], int(meta["dim"]))

    def _named(self, stem: str, dim: int) -> Vectors:
        if self._vectors is None or self._vectors.stem != stem:
            self._vectors = Vectors(self.path.parent, stem, dim)
        return self._vectors

    def _vector_mask(self, vectors: Vectors, filters: Filters) -> np.ndarray:
        facts = vectors.facts()
        wanted = [n for (n,) in self._connection().execute(
            f"SELECT number FROM sources WHERE key IN ({', '.join('?' * len(filters.sources))})",
            list(filters.sources))]
        return filters.mask(facts["source"], facts["day"], wanted)

    def _current_segment(self) -> Segment | None:
        """The segment the index names, loaded once per process, with its deleted rows."""
        meta = dict(self._connection().execute(
            "SELECT key, value FROM meta WHERE key IN ('segment', 'segment_row', 'dead')").fetchall())
        if "segment" not in meta:
            return None
        with self._loading:
            if self._segment is None or self._segment.folder.name != meta["segment"]:
                try:
                    self._segment = Segment.load(self.path.parent / meta["segment"], int(meta["segment_row"]))
                except FileNotFoundError:  # replaced between the two reads: FTS5 alone, this once
                    return None
            if self._segment.dead_version != meta.get("dead", ""):
                dead = frozenset(r[0] for r in self._connection().execute("SELECT rowid FROM dead"))
                self._segment.set_dead(dead, meta.get("dead", ""))
            return self._segment

    def document_frequencies(self, words: Iterable[str]) -> dict[str, int]:
        wanted = sorted(set(words))
        if not wanted:
            return {}
        # Kept in a table of their own: FTS5's vocabulary table counts them by reading each
        # word's postings (6 ms a question at a million passages).
        rows = self._connection().execute(
            f"SELECT term, documents FROM frequencies WHERE term IN ({', '.join('?' * len(wanted))})", wanted
        ).fetchall()
        return {str(t): int(n) for t, n in rows}

    def weights(self, text: str) -> dict[str, float]:
        """Each of the text's words, weighted by its smoothed inverse document frequency (a
        word no passage holds weighs most)."""
        words = terms(text)
        frequencies = self.document_frequencies(words)
        size = self.size
        return {w: _idf(size, frequencies.get(w, 0)) for w in words}

    def complete(self, article_ids: Iterable[str]) -> set[str]:
        """Those of the articles that readers may see at the index's revision."""
        return {r[0] for r in _in_parts(self._connection(), "SELECT id FROM articles WHERE id IN ({})",
                                        list(set(article_ids)))}

    def is_empty(self) -> bool:
        """Whether it lists no article (one row read: `listing` counts them all)."""
        return self._connection().execute("SELECT 1 FROM articles LIMIT 1").fetchone() is None

    def article_ids(self) -> set[str]:
        return {r[0] for r in self._connection().execute("SELECT id FROM articles")}

    def listing(self, newest: int | None = None) -> Listing:
        """The counts, and the `newest` articles (all for None): newest first, undated
        last, then by title."""
        db = self._connection()
        sources = dict(db.execute(
            "SELECT source, count(*) AS n FROM articles GROUP BY source ORDER BY n DESC, source").fetchall())
        clusters, grouped = db.execute(
            "SELECT count(*), coalesce(sum(n), 0) FROM "
            "(SELECT count(*) AS n FROM articles GROUP BY cluster HAVING n > 1)").fetchone()
        rows = db.execute(
            f"SELECT {_ARTICLE} FROM articles "
            "ORDER BY published DESC, title_key, id LIMIT ?", (-1 if newest is None else newest,)).fetchall()
        return Listing(
            articles=sum(sources.values()), passages=self.size, sources=sources,
            duplicate_clusters=int(clusters), duplicate_articles=int(grouped),
            newest=[_article(row) for row in rows],
        )

    def page(self, offset: int, limit: int, filters: Filters | None = None) -> tuple[int, list[LexicalArticle]]:
        """How many articles have a passage that passes `filters`, and `limit` of them from
        `offset`, in `listing`'s order."""
        where, params = "1", []
        if filters:
            test, params = filters.sql()
            where = f"id IN (SELECT article_id FROM passages WHERE {test})"
        db = self._connection()
        total = db.execute(f"SELECT count(*) FROM articles WHERE {where}", params).fetchone()[0]
        rows = db.execute(
            f"SELECT {_ARTICLE} FROM articles "
            f"WHERE {where} ORDER BY published DESC, title_key, id LIMIT ? OFFSET ?",
            [*params, limit, offset]).fetchall()
        return int(total), [_article(row) for row in rows]

    def near_duplicates(self, keys: Sequence[bytes]) -> dict[str, str]:
        """{article id: cluster} of the articles holding any of these LSH keys."""
        if not keys:
            return {}
        rows = self._connection().execute(
            "SELECT DISTINCT a.id, a.cluster FROM bands AS b JOIN articles AS a ON a.id = b.article_id "
            f"WHERE b.key IN ({', '.join('?' * len(keys))})", list(keys)).fetchall()
        return dict(rows)

    # --- writing ---------------------------------------------------------------------

    def update(
        self, articles: Sequence[LexicalArticle] = (), passages: Iterable[LexicalPassage] = (),
        removed: Iterable[str] = (), stamp: tuple[int, str] | None = None, *, clear: bool = False,
    ) -> None:
        """In one transaction: forget everything (if `clear`), the `removed` articles and
        what `articles` held before; then hold `articles`, complete, with their `passages`;
        then record `stamp` (None: leave it as it was)."""
        db = self._connection()
        with _transaction(db):
            if clear:
                for table in ("articles", "passages", "texts", "words", "bands", "dead", "frequencies", "sources"):
                    db.execute(f"DELETE FROM {table}")
                db.execute("DELETE FROM sqlite_sequence WHERE name = 'passages'")  # rows from 1 in new files
                db.execute("DELETE FROM meta WHERE key IN ('revision', 'segment', 'segment_row', 'dead', 'vectors', 'dim')")
            gone = self._forget(db, [*removed, *(a.id for a in articles)])
            db.executemany(
                "INSERT INTO articles(id, title, title_key, source, published, url, chunks, cluster, author) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [(a.id, a.title, a.title.casefold(), a.source, a.published, a.url, a.chunks, a.cluster, a.author)
                 for a in articles],
            )
            db.executemany("INSERT INTO bands(key, article_id) VALUES (?, ?)",
                           [(key, a.id) for a in articles if a.signature for key in band_keys(a.signature)])
            counts: Counter[str] = Counter()
            pending = _VectorRows(lambda dim: self._vectors_for_writing(db, dim))
            numbers: dict[str, int] = {}  # source key to its number in the vector files
            for p in passages:
                rowid = db.execute(
                    "INSERT INTO passages(id, article_id, source_key, day) VALUES (?, ?, ?, ?)",
                    (p.id, p.article_id, p.source_key, p.day),
                ).lastrowid
                db.execute("INSERT INTO texts(rowid, text, chunk_index, begins, ends, sentences, pack) "
                           "VALUES (?, ?, ?, ?, ?, ?, ?)", (rowid, p.text, p.index, p.start, p.end, p.sentences, p.pack))
                words = terms(p.text)
                db.execute("INSERT INTO words(rowid, terms) VALUES (?, ?)", (rowid, " ".join(words)))
                counts.update(set(words))
                if p.vector is not None:
                    pending.add(int(rowid), p.vector, _source_number(db, p.source_key, numbers), p.day)  # type: ignore[arg-type]
            pending.write()  # on disk before the transaction that lists them commits
            db.executemany(
                "INSERT INTO frequencies(term, documents) VALUES (?, ?) "
                "ON CONFLICT(term) DO UPDATE SET documents = documents + excluded.documents",
                counts.items(),
            )
            count = db.execute("SELECT count(*) FROM passages").fetchone()[0]
            facts: dict[str, object] = {"passages": count, "version": VERSION}
            if stamp is not None:
                facts.update(revision=stamp[0], store=stamp[1])
            db.executemany("INSERT OR REPLACE INTO meta(key, value) VALUES (?, ?)",
                           [(k, str(v)) for k, v in facts.items()])
        current = self._current_vectors()
        if current is not None:  # after the commit: until then the removed rows were listed
            current.clear(gone)
        if clear:
            segment.remove_others(self.path.parent, keep=None)
            for path in self.path.parent.glob(f"{VECTORS_PREFIX}*"):
                if current is None or not path.name.startswith(current.stem + "."):
                    path.unlink(missing_ok=True)  # readers that mapped them keep their pages

    def _vectors_for_writing(self, db: sqlite3.Connection, dim: int) -> Vectors:
        """The vector files this transaction writes to: new ones (named in it) if the index
        has none, as after a rebuild's clearing."""
        meta = dict(db.execute("SELECT key, value FROM meta WHERE key IN ('vectors', 'dim')").fetchall())
        if "vectors" in meta and int(meta["dim"]) == dim:
            return self._named(meta["vectors"], dim)
        stem = VECTORS_PREFIX + db.execute("SELECT lower(hex(randomblob(8)))").fetchone()[0]
        db.executemany("INSERT OR REPLACE INTO meta(key, value) VALUES (?, ?)",
                       [("vectors", stem), ("dim", str(dim))])
        return self._named(stem, dim)

    def refresh_segment(self) -> None:
        """Freeze every passage into a new segment once `segment.rebuild_threshold` of
        them lie outside the current one. For writers, who hold the store's lexical lock."""
        db = self._connection()
        meta = dict(db.execute("SELECT key, value FROM meta WHERE key IN ('segment', 'segment_row')").fetchall())
        outside = db.execute("SELECT count(*) FROM passages WHERE rowid > ?",
                             (int(meta.get("segment_row", 0)),)).fetchone()[0]
        if outside < segment.rebuild_threshold(self.size):
            return
        built = segment.build(db, self.path.parent)
        if built is None:
            return
        folder, last_row = built
        with _transaction(db):
            db.executemany("INSERT OR REPLACE INTO meta(key, value) VALUES (?, ?)",
                           [("segment", folder.name), ("segment_row", str(last_row)), ("dead", folder.name)])
            db.execute("DELETE FROM dead")  # the new segment holds no deleted passage
        segment.remove_others(self.path.parent, keep=folder.name)

    @staticmethod
    def _forget(db: sqlite3.Connection, article_ids: Sequence[str]) -> list[int]:
        """Remove the articles and their passages; the passages' rowids."""
        frozen = db.execute("SELECT value FROM meta WHERE key = 'segment_row'").fetchone()
        forgotten: list[int] = []
        for at in range(0, len(article_ids), 500):
            part = list(article_ids[at : at + 500])
            marks = ", ".join("?" * len(part))
            rows = f"SELECT rowid FROM passages WHERE article_id IN ({marks})"
            forgotten += [r for (r,) in db.execute(rows, part)]
            if frozen and db.execute(f"INSERT OR IGNORE INTO dead {rows} AND rowid <= ?",
                                     [*part, int(frozen[0])]).rowcount:
                db.execute("INSERT OR REPLACE INTO meta(key, value) VALUES ('dead', hex(randomblob(8)))")
            gone: Counter[str] = Counter()
            for (text,) in db.execute(f"SELECT terms FROM words WHERE rowid IN ({rows})", part):
                gone.update(set(text.split()))
            db.executemany("UPDATE frequencies SET documents = documents - ? WHERE term = ?",
                           [(n, term) for term, n in gone.items()])
            db.execute(f"DELETE FROM words WHERE rowid IN ({rows})", part)
            db.execute(f"DELETE FROM texts WHERE rowid IN ({rows})", part)
            db.execute(f"DELETE FROM bands WHERE article_id IN ({marks})", part)
            db.execute(f"DELETE FROM passages WHERE article_id IN ({marks})", part)
            db.execute(f"DELETE FROM articles WHERE id IN ({marks})", part)
        return forgotten

    def close(self) -> None:
        db = getattr(self._local, "db", None)
        if db is not None:
            db.close()
            self._local.db = None


class _VectorRows:
    """Rows bound for the vector files, written a few thousand at a time: a rebuild streams
    a million passages, whose vectors alone would take gigabytes to hold."""

    AT_ONCE = 4096

    def __init__(self, files: Callable[[int], Vectors]) -> None:
        self._files = files  # the files to write to, given the vectors' dimension
        self._rows: list[int] = []
        self._vectors: list[np.ndarray] = []
        self._facts: list[tuple[int, int]] = []  # (source number, day)

    def add(self, row: int, vector: np.ndarray, source: int, day: int) -> None:
        self._rows.append(row)
        self._vectors.append(np.asarray(vector, dtype=np.float32))
        self._facts.append((source, day))
        if len(self._rows) >= self.AT_ONCE:
            self.write()

    def write(self) -> None:
        if not self._rows:
            return
        self._files(len(self._vectors[0])).write(
            self._rows, np.stack(self._vectors), [s for s, _ in self._facts], [d for _, d in self._facts])
        self._rows, self._vectors, self._facts = [], [], []


@contextmanager
def _transaction(db: sqlite3.Connection) -> Iterator[None]:
    """One write transaction, taken at once (not on the first write), rolled back on any error."""
    db.execute("BEGIN IMMEDIATE")
    try:
        yield
    except BaseException:
        db.execute("ROLLBACK")
        raise
    db.execute("COMMIT")


_ARTICLE = "id, title, source, published, url, chunks, cluster, author"  # the columns `_article` reads


def _article(row: Sequence[Any]) -> LexicalArticle:
    return LexicalArticle(*row[:7], author=row[7])


def _in_parts(db: sqlite3.Connection, query: str, keys: Sequence[Any]) -> list[tuple[Any, ...]]:
    """The rows of `query`, its "IN ({})" filled with `keys`, however many: run on 500 of
    them at a time (SQLite's limit on parameters)."""
    rows: list[tuple[Any, ...]] = []
    for at in range(0, len(keys), 500):
        part = list(keys[at : at + 500])
        rows += db.execute(query.format(", ".join("?" * len(part))), part).fetchall()
    return rows


def _run(db: sqlite3.Connection, script: str) -> None:
    for statement in script.split(";\n"):
        if statement.strip():
            db.execute(statement)


def _version(db: sqlite3.Connection) -> int | None:
    if not db.execute("SELECT 1 FROM sqlite_master WHERE name = 'meta'").fetchone():
        return None
    row = db.execute("SELECT value FROM meta WHERE key = 'version'").fetchone()
    return int(row[0]) if row else None


def _source_number(db: sqlite3.Connection, key: str, known: dict[str, int]) -> int:
    """The vector files' number for a source key (from 1; 0 marks a row without passage),
    remembered in `known` for the rest of the transaction."""
    if key not in known:
        db.execute("INSERT OR IGNORE INTO sources(key) VALUES (?)", (key,))
        known[key] = int(db.execute("SELECT number FROM sources WHERE key = ?", (key,)).fetchone()[0])
    return known[key]


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
