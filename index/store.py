"""The Chroma store: chunks with their embeddings, and the articles they came from.

Two collections in one Chroma database: `chunks` holds the passages (llama-index's nodes,
written as its ChromaVectorStore writes them, but with the text in the node's JSON instead
of Chroma's document, as llama-index also reads it), each with its sentences' offsets and
vectors packed in its record (`index.packing`: pooled from the passage's token states at
ingest, so answering never embeds the articles' text again), and `articles` holds each
article's full text and metadata. Neither writes Chroma documents: the local store puts
every document into a trigram full-text index that nothing here searches, which made
writing half as slow again (BENCHMARKS.md, "Store format 6"). The database is embedded
on disk, or on a Chroma server (`Store.open`).

An article's record is written after its chunks and removed before they are rewritten,
so it marks the article as complete: readers see only chunks whose record exists, and a
re-ingest redoes any article whose record is missing or stale. One process writes at a
time (a lock file), and it notes each article it is about to write in a journal, so that
the next writer removes what a killed one left unfinished.

Beside the database (in `state`) lies the lexical index (`index.lexical`), derived from it
and stamped with the store's revision, with the passages' vectors in files of its own
(`index.vectors`): both halves of retrieval search there, and Chroma is read by id. The
writer changes it in step: an article leaves it before its record leaves Chroma and joins
it after its record is written and the revision bumped. A reader that finds the stamp
behind (a writer on another machine, or one killed between the two steps) catches it up
from the records written since, unless a local writer holds it (`lexical`).

Chroma's embedded store keeps the vector index of each collection in the memory of each
process that opened it, loaded whole (15 s at a million passages), and a process does
not see vectors that another process wrote after it opened the store (reading them
raises); its records, read from SQLite, are always current. So nothing searches Chroma's
vector index: a reader searches the vector files, which every process sees change as a
writer appends to them, and reads records by id. A process reopens its copy of the store
only before it writes, or catches the lexical index up from vectors, after another
process wrote (`_follow`).
"""

from __future__ import annotations

import json
import logging
import os
import re
import threading
from collections import Counter
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterable, Iterator, Sequence

import numpy as np

from index.article import Article
from index.chunking import Chunk
from index.errors import ArticleNotFound, StoreError
from index.filters import Filters, day_number, source_key
from index.lexical import FILE as LEXICAL_FILE
from index.lexical import LexicalArticle, LexicalIndex, LexicalPassage, Listing
from index.packing import StoredSentence, pack, raw, unpack
from index.settings import ChromaServer, Settings, cache_folder

log = logging.getLogger(__name__)

if TYPE_CHECKING:
    from chromadb.api import AdminAPI, ClientAPI
    from chromadb.config import Settings as ChromaSettings
    from chromadb.api.models.Collection import Collection
    from filelock import BaseFileLock
    from llama_index.core.schema import TextNode

CHUNKS = "newsqa_chunks"
ARTICLES = "newsqa_articles"
SCHEMA = 6  # 2: sentence embeddings; 3: author, source_key, published_day;
# 4: sentences pooled from their passage, with ids by chunk; 5: sentences in their passage's record;
# 6: no Chroma documents: a passage's text in its node's JSON, an article's in its metadata
READS = (5, SCHEMA)  # formats whose records this version reads (5's are written as 6's on writing)
TEXT_KEY = "text"  # the article record's metadata key for its text (format 6)
SENTENCES_KEY = "sentence_pack"  # the chunk's metadata key for its packed sentences
FORMAT_4_SENTENCES = "newsqa_sentences"  # format 4's record per sentence (`_upgrade_from_4`)
_UPGRADE_PAGE = 500  # chunks upgraded together
_PAGE = 5000
_CHECK = 64  # articles checked together when repairing
LOCK_FILE = "newsqa-write.lock"
LEXICAL_LOCK = "newsqa-lexical.lock"  # held by whoever changes the lexical index
JOURNAL_FILE = "newsqa-journal"


@dataclass(frozen=True)
class StoredArticle:
    id: str
    text: str
    title: str
    source: str
    url: str | None
    published: str | None
    origin: str | None
    chunks: int
    author: str | None = None


@dataclass(frozen=True)
class ArticleEntry:
    """An article as the store lists it: its facts, without its text."""

    id: str
    title: str
    source: str
    published: str | None
    url: str | None
    chunks: int


@dataclass(frozen=True)
class StoredChunk:
    id: str
    article_id: str
    index: int
    start: int
    end: int
    text: str
    title: str
    source: str
    url: str | None
    published: str | None
    author: str | None = None
    sentences: int = 0  # how many sentences its record holds (see `Store.sentences`)


@dataclass(frozen=True)
class SentenceSpan:
    """A sentence of a chunk, by its offsets in the article."""

    chunk_index: int
    start: int
    end: int


@dataclass
class ArticleWrite:
    """An article to store: its chunks and sentences, with their vectors once embedded."""

    article: Article
    fingerprint: str
    chunks: Sequence[Chunk]
    sentences: Sequence[SentenceSpan]
    older: list[str] = field(default_factory=list)  # ids it supersedes (an edited file's)
    signature: str = ""  # MinHash, see index/duplicates.py
    cluster: str = ""  # the near-duplicate cluster it belongs to
    embeddings: np.ndarray = field(default_factory=lambda: np.zeros((0, 0), dtype=np.float32))
    sentence_embeddings: np.ndarray = field(default_factory=lambda: np.zeros((0, 0), dtype=np.float32))


@dataclass(frozen=True)
class StoreStats:
    path: str
    model: str
    dim: int
    articles: int
    chunks: int
    sources: dict[str, int]
    duplicate_clusters: int = 0  # groups of near-duplicate articles (two or more)
    duplicate_articles: int = 0  # the articles in those groups


# The revisions of each embedded store (by folder) that writers of this process made, and
# through which in-memory copy (`Store._copy`): a fact about this process, like Chroma's
# own cache of its stores, which it mirrors.
_WRITTEN_HERE: dict[str, set[tuple[int, int]]] = {}


def _chroma_settings() -> ChromaSettings:
    from chromadb.config import Settings as ChromaSettings

    return ChromaSettings(anonymized_telemetry=False)


def _has_database(admin: AdminAPI, name: str) -> bool:
    from chromadb.errors import NotFoundError

    try:
        admin.get_database(name)
    except NotFoundError:
        return False
    return True


def _entry(article: LexicalArticle) -> ArticleEntry:
    return ArticleEntry(id=article.id, title=article.title, source=article.source,
                        published=article.published or None, url=article.url or None, chunks=article.chunks)


def _reason(error: Exception) -> str:
    return str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__


def chunk_id(article_id: str, index: int) -> str:
    return f"{article_id}#{index}"


def _chunk_ids(articles: Iterable[tuple[str, int]]) -> list[str]:
    """The ids of the chunks of whole articles, given (article id, its number of chunks)."""
    return [chunk_id(article_id, i) for article_id, count in articles for i in range(count)]


class Store:
    """One Chroma database, embedded on disk or on a Chroma server, opened for one
    embedding model.

    `where` names it in messages (its folder or its server's URL); `state` is the local
    folder that holds the write lock and the journal (the store's own folder when
    embedded, a folder per server URL in the cache otherwise).
    """

    def __init__(
        self, where: str, state: Path, client: ClientAPI, model: str, dim: int, *, embedded: bool
    ) -> None:
        self.where = where
        self.state = state
        self.embedded = embedded
        # How the CLI names this store, for messages that say what to run.
        self.option = f"--store {where}" if embedded else f"--chroma-url {where}"
        self.model = model
        self.dim = dim
        self._batch = min(client.get_max_batch_size(), _PAGE)  # records per Chroma write
        self._lexical: LexicalIndex | None = None
        self._attach(client)
        self._fresh_at = self.revision()  # the revision this process's copy of it shows (`_follow`)
        self._reopening = threading.Lock()

    def _attach(self, client: ClientAPI) -> None:
        """Read (or create) the collections through `client`."""
        self._client = client
        # embedding_function=None: Chroma must never embed (its default downloads a model).
        meta = {"model": self.model, "dim": self.dim, "schema": SCHEMA}
        existing = {c.name for c in client.list_collections()}
        self._chunks = self._collection(CHUNKS, meta, existing)
        if FORMAT_4_SENTENCES in existing and int((self._chunks.metadata or {}).get("schema", 0)) in (4, *READS):
            self._upgrade_from_4()
            self._chunks = self._client.get_collection(CHUNKS, embedding_function=None)  # type: ignore[arg-type]
        self._check_compatible(self._chunks.metadata or {})
        self._articles = self._collection(ARTICLES, {**meta, "revision": 0}, existing)
        self._identity = str(self._chunks.id)  # a store rebuilt under the same name is another store

    def _collection(self, name: str, meta: dict[str, Any], existing: set[str]) -> Collection:
        if name in existing:  # never pass metadata here: it would overwrite the stored model
            return self._client.get_collection(name, embedding_function=None)  # type: ignore[arg-type]
        return self._client.create_collection(
            name, embedding_function=None, metadata=meta,  # type: ignore[arg-type]
            configuration={"hnsw": {"space": "cosine"}},
        )

    @classmethod
    def open(cls, settings: Settings, model: str, dim: int, create: bool = False) -> Store:
        """The store the settings name, for the given model (created if `create`)."""
        if settings.server:
            return cls._open_server(settings.server, model, dim, create)
        path = settings.store
        if not create and not (path / "chroma.sqlite3").is_file():
            raise StoreError(
                f"no store at {path}: ingest articles first (newsqa ingest PATH --store {path})"
            )
        if path.exists() and not path.is_dir():
            raise StoreError(f"the store path {path} is a file; pick a folder (--store DIR)")
        import chromadb

        try:
            path.mkdir(parents=True, exist_ok=True)
            client = chromadb.PersistentClient(path=str(path), settings=_chroma_settings())
        except Exception as error:
            raise StoreError(f"cannot open the store at {path}: {error}") from error
        return cls(str(path), path, client, model, dim, embedded=True)

    @classmethod
    def _open_server(cls, server: ChromaServer, model: str, dim: int, create: bool) -> Store:
        import chromadb

        missing = StoreError(
            f"no store on the Chroma server at {server.url}: ingest articles first "
            f"(newsqa ingest PATH --chroma-url {server.url})"
        )
        try:
            client = chromadb.HttpClient(
                host=server.host, port=server.port, ssl=server.ssl, settings=_chroma_settings()
            )
        except Exception as error:  # refused connections, TLS, timeouts, ...
            raise StoreError(
                f"cannot use the Chroma server at {server.url}: {_reason(error)} "
                "(start one with: chroma run --path DIR --host HOST --port PORT)"
            ) from error
        try:
            if server.database:
                admin = chromadb.AdminClient(client.get_settings())
                if not _has_database(admin, server.database):
                    if not create:
                        raise missing
                    admin.create_database(server.database)
                client.set_database(server.database)
            exists = CHUNKS in {c.name for c in client.list_collections()}
        except StoreError:
            raise
        except Exception as error:
            raise StoreError(f"the Chroma server at {server.url} refused: {_reason(error)}") from error
        if not create and not exists:
            raise missing
        state = cache_folder() / "servers" / re.sub(r"[^A-Za-z0-9.-]+", "_", server.url)
        state.mkdir(parents=True, exist_ok=True)
        return cls(server.url, state, client, model, dim, embedded=False)

    def _check_compatible(self, meta: dict[str, Any]) -> None:
        if self.embedded:
            rebuild = f"delete {self.where} (or choose a new --store)"
        else:
            server = re.sub(r"^(\w+://[^/]+).*", r"\1", self.where)
            rebuild = f"use a new database (--chroma-url {server}/NEW_NAME)"
        if int(meta.get("schema", 0)) not in READS:
            raise StoreError(
                f"the store at {self.where} was built by another version of newsqa (store "
                f"format {meta.get('schema')}; this version reads formats {' and '.join(map(str, READS))}): "
                f"{rebuild} and run newsqa ingest again"
            )
        if meta.get("model") != self.model or int(meta.get("dim", -1)) != self.dim:
            raise StoreError(
                f"the store at {self.where} was built with the model {meta.get('model')!r} "
                f"({meta.get('dim')} dimensions), not {self.model!r} ({self.dim}). "
                "Open it with the --model and --backend it was built with, or rebuild it: "
                f"{rebuild} and run newsqa ingest again."
            )

    def _upgrade_from_4(self) -> None:
        """Pack format 4's sentence records into their chunks' records (format 5), then
        drop their collection: the articles stay, and nothing is embedded again.

        Readers of format 4 read on meanwhile; killed, it resumes where it stopped (a
        chunk that holds its pack is done), and the format changes once every chunk is.
        """
        lock = self._write_lock(f"the store at {self.where} is being written to or upgraded by "
                                "another process; try again when it is done")
        try:
            log.warning("upgrading the store at %s to format %d (once: its sentences move into "
                        "their passages' records)", self.where, SCHEMA)
            old = self._client.get_collection(FORMAT_4_SENTENCES, embedding_function=None)  # type: ignore[arg-type]
            for page in _pages(self._chunks, ["metadatas"]):
                todo = [(i, m) for i, m in zip(page["ids"], page["metadatas"] or []) if SENTENCES_KEY not in m]
                for at in range(0, len(todo), _UPGRADE_PAGE):
                    self._chunks.update(ids=[i for i, _ in todo[at : at + _UPGRADE_PAGE]],
                                        metadatas=_packed_from_4(old, todo[at : at + _UPGRADE_PAGE], self.dim))
            for name in (CHUNKS, ARTICLES):
                collection = self._client.get_collection(name, embedding_function=None)  # type: ignore[arg-type]
                collection.modify(metadata={**(collection.metadata or {}), "schema": SCHEMA})
            self._client.delete_collection(FORMAT_4_SENTENCES)
            # The lexical index keeps a copy of the packs: built again from the new records.
            self.lexical_index().update(clear=True)
        finally:
            lock.release()

    def _write_lock(self, busy: str) -> BaseFileLock:
        """The store's write lock, held; a StoreError saying `busy` if another process has it."""
        from filelock import FileLock, Timeout

        lock = FileLock(str(self.state / LOCK_FILE), timeout=0)
        try:
            lock.acquire()
        except Timeout:
            raise StoreError(busy) from None
        return lock

    # --- writing -------------------------------------------------------------------

    @contextmanager
    def writing(self) -> Iterator[Store]:
        """Hold the store's write lock, first repairing what a killed writer left.

        A second writer gets a StoreError at once instead of waiting.
        """
        from filelock import FileLock

        lock = self._write_lock(f"another process is writing to the store at {self.where} (an "
                                "ingest or a delete); wait for it to finish and try again")
        try:
            # Readers bring the lexical index up to date only while no writer holds this.
            with FileLock(str(self.state / LEXICAL_LOCK)):
                self._follow(self.revision())  # write through a copy that holds every vector
                self._sync_lexical()
                self._repair()
                self._claim_format()
                yield self
                self._journal_path.unlink(missing_ok=True)  # all written: nothing to repair
                self.lexical_index().refresh_segment()
        finally:
            lock.release()

    def _claim_format(self) -> None:
        """Mark a format 5 store as format 6 before writing format 6's records into it:
        this version reads both, a version that reads only 5 must refuse it from now on."""
        for collection in (self._chunks, self._articles):
            meta = dict(self._client.get_collection(collection.name).metadata or {})
            if int(meta.get("schema", 0)) != SCHEMA:
                collection.modify(metadata={**meta, "schema": SCHEMA})

    @property
    def _journal_path(self) -> Path:
        return self.state / JOURNAL_FILE

    def _journal(self, article_ids: Sequence[str]) -> None:
        """Note the articles about to be written, durably, before touching them."""
        with open(self._journal_path, "a", encoding="utf-8") as journal:
            journal.write("".join(f"{i}\n" for i in article_ids))
            journal.flush()
            os.fsync(journal.fileno())

    def _repair(self) -> None:
        """Remove what a killed writer left unfinished, then clear the journal."""
        pending = sorted(self._pending())
        for at in range(0, len(pending), _CHECK):
            batch = pending[at : at + _CHECK]
            finished = self._finished(batch)
            for article_id in batch:
                if article_id not in finished:
                    self.delete_article(article_id)
        if pending:
            # Killed after an article's records were written and before the revision was
            # bumped, a writer leaves it complete but missing from the lexical index, whose
            # stamp still looks current: a new revision makes the index catch up.
            self._bump_revision()
            self._sync_lexical()
        self._journal_path.unlink(missing_ok=True)

    def _pending(self) -> set[str]:
        try:
            return set(self._journal_path.read_text(encoding="utf-8").split())
        except FileNotFoundError:
            return set()

    def _finished(self, article_ids: list[str]) -> set[str]:
        """Those of the articles whose record is there with all its chunks (each chunk's
        sentences are in its own record)."""
        records = self._articles.get(ids=article_ids, include=["metadatas"])
        expected = {i: m for i, m in zip(records["ids"], records["metadatas"] or [])}
        if not expected:
            return set()
        got = self._chunks.get(where={"article_id": {"$in": list(expected)}}, include=["metadatas"])
        counts = Counter(str(meta["article_id"]) for meta in got["metadatas"] or [])
        return {i for i, meta in expected.items() if counts[i] == int(meta["chunks"])}

    def write_articles(self, writes: Sequence[ArticleWrite]) -> None:
        """Replace whatever is stored for these articles with their new chunks, then commit
        them by writing their records. Call it inside `writing()`."""
        from llama_index.core.schema import NodeRelationship, RelatedNodeInfo, TextNode

        ids = [w.article.id for w in writes]
        self._journal(ids)
        written = self.revision()  # what `_written_since` finds it by
        existing = dict(self._records_of(ids))
        if existing:
            # Absent while rewritten: an old record must never describe new chunks.
            self.lexical_index().update(removed=list(existing))
            self._articles.delete(ids=list(existing))
            self._bump_revision()
            # Their old passages. New articles have none: `_repair` removed what killed
            # writers left.
            self._remove_parts(existing)
        nodes, packs, vectors, records = [], [], [], []
        for w in writes:
            facts = article_facts(w.article)
            per_chunk = _per_chunk(w.sentences, w.sentence_embeddings)
            for chunk, vector in zip(w.chunks, w.embeddings, strict=True):
                spans, sentence_vectors = per_chunk.get(chunk.index, ([], np.zeros((0, self.dim))))
                meta = {
                    "article_id": w.article.id, "chunk_index": chunk.index,
                    "start": chunk.start, "end": chunk.end, "sentences": len(spans),
                    **facts,
                }
                packs.append(pack(spans, sentence_vectors))
                vectors.append(vector)
                nodes.append(
                    TextNode(
                        # No `embedding=`: the vectors go to Chroma as one array, not as
                        # lists of floats through pydantic.
                        id_=chunk_id(w.article.id, chunk.index), text=chunk.text, metadata=meta,
                        start_char_idx=chunk.start,
                        end_char_idx=chunk.end,
                        relationships={NodeRelationship.SOURCE: RelatedNodeInfo(node_id=w.article.id)},
                        # Retrieval reads the passage alone, not "title: ..." lines.
                        excluded_embed_metadata_keys=list(meta), excluded_llm_metadata_keys=list(meta),
                    )
                )
            centroid = w.embeddings.mean(axis=0) if len(w.embeddings) else np.zeros(self.dim)
            records.append((w.article.id, w.article.text, centroid / (float(np.linalg.norm(centroid)) or 1.0), {
                **facts, "origin": w.article.origin or "", "fingerprint": w.fingerprint,
                "chunks": len(w.chunks), "sentences": len(w.sentences),
                "minhash": w.signature, "cluster": w.cluster or w.article.id, "written": written,
            }))
        for at in range(0, len(nodes), self._batch):
            page = slice(at, at + self._batch)
            self._add_nodes(nodes[page], np.stack(vectors[page]), packs[page])
        for at in range(0, len(records), self._batch):
            page = records[at : at + self._batch]
            self._articles.upsert(
                ids=[r[0] for r in page], embeddings=np.stack([r[2] for r in page]),  # type: ignore[misc]
                metadatas=[{**r[3], TEXT_KEY: r[1]} for r in page],
            )
        self._bump_revision()  # before the lexical index's stamp: killed between, it is seen stale
        self.lexical_index().update(
            articles=[_listed(r[0], r[3]) for r in records], stamp=self._stamp(),
            passages=[_indexed(n.node_id, n.text, n.metadata, vector, packed)
                      for n, vector, packed in zip(nodes, vectors, packs, strict=True)],
        )

    def delete_article(self, article_id: str) -> None:
        """Remove an article and its chunks; call it inside `writing()`."""
        self._journal([article_id])
        # The lexical index and the record first: from then on readers no longer see the
        # article's chunks.
        record = dict(self._records_of([article_id]))
        self.lexical_index().update(removed=[article_id])
        self._articles.delete(ids=[article_id])
        self._bump_revision()
        if record:
            self._remove_parts(record)
        else:  # left unfinished by a killed writer: its parts are found by their metadata
            # ("document_id" is where llama-index keeps a node's article)
            self._chunks.delete(where={"document_id": article_id})
        self.lexical_index().update(stamp=self._stamp())

    def _add_nodes(self, nodes: Sequence[TextNode], vectors: np.ndarray, packs: Sequence[str]) -> None:
        """Write nodes as ChromaVectorStore.add does, but with the text in the node's JSON
        (llama-index's `_node_content`) and no document (see the module's docstring), each
        with its packed sentences: kept out of the node's JSON, which would store them
        twice."""
        from llama_index.core.vector_stores.utils import node_to_metadata_dict

        metadatas = [{**node_to_metadata_dict(node, remove_text=False), SENTENCES_KEY: packed}
                     for node, packed in zip(nodes, packs, strict=True)]
        self._chunks.add(
            ids=[node.node_id for node in nodes], embeddings=vectors,  # type: ignore[arg-type]
            metadatas=metadatas,  # type: ignore[arg-type]
        )

    def _remove_parts(self, records: dict[str, dict[str, Any]]) -> None:
        """Delete the chunks of whole articles (given their records) by id: a delete by
        metadata reads the metadata of every chunk in the store."""
        chunks = _chunk_ids((a, int(meta["chunks"])) for a, meta in records.items())
        for at in range(0, len(chunks), self._batch):
            self._chunks.delete(ids=chunks[at : at + self._batch])

    def _bump_revision(self) -> None:
        meta = dict(self._client.get_collection(ARTICLES).metadata or {})
        meta["revision"] = int(meta.get("revision", 0)) + 1
        self._articles.modify(metadata=meta)
        if self.embedded:
            _WRITTEN_HERE.setdefault(self.where, set()).add((meta["revision"], self._copy()))

    # --- the lexical index ------------------------------------------------------------

    def lexical_index(self) -> LexicalIndex:
        """The lexical index file, as it is (see `lexical` for one that is current)."""
        if self._lexical is None:
            self._lexical = LexicalIndex(self.state / LEXICAL_FILE)
        return self._lexical

    def lexical(self) -> LexicalIndex:
        """The lexical index, brought up to date with the store if it is behind.

        While a writer holds the store, it keeps the index in step itself: the index is
        read as it is (at most the writer's current batch behind).
        """
        from filelock import FileLock, Timeout

        lexical = self.lexical_index()
        stamp, now = lexical.stamp(), self._stamp()
        if stamp == now:
            return lexical
        # Never built: wait for whoever builds it. Behind: catch up unless a writer is at it.
        lock = FileLock(str(self.state / LEXICAL_LOCK), timeout=-1 if stamp is None else 0)
        try:
            with lock:
                self._sync_lexical()
        except Timeout:
            pass
        return lexical

    def _follow(self, revision: int) -> None:
        """Embedded: see the vectors another process wrote since this store was opened (to
        write, or to read them back into the lexical index).

        Chroma keeps one copy of an embedded store's vector index in each process's
        memory: this process's writes keep it current, another process's reach it only
        when the store is opened again (its records, read from SQLite, are always
        current). So a revision that no writer of this process made means reopening.
        """
        if not self.embedded or revision == self._fresh_at:
            return
        with self._reopening:
            if revision == self._fresh_at:
                return
            mine = {r for r, copy in _WRITTEN_HERE.get(self.where, set()) if copy == self._copy()}
            missed = set(range(self._fresh_at + 1, revision + 1)) - mine
            if missed or revision < self._fresh_at:  # less: the store was rebuilt
                self._reopen()
            self._fresh_at = revision

    def _copy(self) -> int:
        """Which in-memory copy of the store this one reads and writes through."""
        return id(getattr(self._chunks, "_client", self._chunks))

    def _reopen(self) -> None:
        import chromadb
        from chromadb.api.shared_system_client import SharedSystemClient

        # Chroma shares one in-memory copy per folder in a process: drop it from its cache
        # (not stopped: other threads may be reading through it) so that the next client
        # loads the store from disk. Clients of this folder then use the new copy.
        SharedSystemClient._identifier_to_system.pop(getattr(self._client, "_identifier", ""), None)
        self._attach(chromadb.PersistentClient(path=self.where, settings=_chroma_settings()))

    def _stamp(self) -> tuple[int, str]:
        return self.revision(), self._identity

    def _sync_lexical(self) -> None:
        """Bring the lexical index up to date from Chroma; hold LEXICAL_LOCK."""
        lexical = self.lexical_index()
        stamp, now = lexical.stamp(), self._stamp()  # the revision first: later writes are seen later
        if stamp == now:
            return
        self._follow(now[0])  # its vectors are read back
        if stamp is None or stamp[1] != now[1]:  # never built, another version's or store's
            listed = [_listed(i, meta) for i, meta in self._records()]
            lexical.update(articles=listed, passages=self._passages(listed), stamp=now, clear=True)
            lexical.refresh_segment()
            return
        present = self.article_ids()
        indexed = lexical.article_ids()
        changed = sorted((present - indexed) | (set(self._written_since(stamp[0])) & present))
        listed = [_listed(i, meta) for at in range(0, len(changed), _PAGE)
                  for i, meta in self._records_of(changed[at : at + _PAGE])]
        lexical.update(articles=listed, passages=self._passages(listed, every=False),
                       removed=sorted(indexed - present), stamp=now)
        lexical.refresh_segment()

    def _written_since(self, revision: int) -> list[str]:
        return self._articles.get(where={"written": {"$gte": revision}}, include=[])["ids"]

    def _records_of(self, article_ids: list[str]) -> Iterator[tuple[str, dict[str, Any]]]:
        got = self._articles.get(ids=article_ids, include=["metadatas"])
        return zip(got["ids"], got["metadatas"] or [])

    def _passages(self, articles: Sequence[LexicalArticle], every: bool = True) -> Iterator[LexicalPassage]:
        """The chunks of these articles, read in pages of the whole collection (`every`)
        or, for a few, by id (as `_remove_parts` does)."""
        wanted = {a.id for a in articles}
        if every:
            pages: Iterable[Any] = _pages(self._chunks, ["documents", "metadatas", "embeddings"])
        else:
            ids = _chunk_ids((a.id, a.chunks) for a in articles)
            pages = (self._chunks.get(ids=ids[at : at + self._batch], include=["documents", "metadatas", "embeddings"])
                     for at in range(0, len(ids), self._batch))
        for page in pages:
            rows = zip(page["ids"], page["documents"], page["metadatas"], page["embeddings"])
            for chunk, document, meta, vector in rows:
                if meta["article_id"] in wanted:
                    yield _indexed(chunk, _text(document, meta), meta, vector, str(meta.get(SENTENCES_KEY) or ""))

    # --- reading -------------------------------------------------------------------

    def revision(self) -> int:
        """Changes whenever any process writes to the store."""
        return int((self._client.get_collection(ARTICLES).metadata or {}).get("revision", 0))

    def fingerprints(self, article_ids: Sequence[str]) -> dict[str, str]:
        """The stored fingerprints of those of the articles that are in the store (a record
        is written only once its article's chunks and sentences are)."""
        got = self._articles.get(ids=list(article_ids), include=["metadatas"])
        return {i: str(m["fingerprint"]) for i, m in zip(got["ids"], got["metadatas"] or [])}

    def ids_from_origins(self, origins: Sequence[str]) -> dict[str, list[str]]:
        """The articles each of these files produced before."""
        if not origins:
            return {}
        got = self._articles.get(where={"origin": {"$in": list(set(origins))}}, include=["metadatas"])
        found: dict[str, list[str]] = {}
        for article_id, meta in zip(got["ids"], got["metadatas"] or []):
            found.setdefault(str(meta["origin"]), []).append(article_id)
        return found

    def ids_from_origin(self, origin: str) -> list[str]:
        return self.ids_from_origins([origin]).get(origin, [])

    def ids_from_source(self, source: str) -> list[str]:
        return self._articles.get(where={"source_key": source_key(source)}, include=[])["ids"]

    def article_ids(self) -> set[str]:
        """The articles readers may see: those with a record (see the module's docstring)."""
        return {i for page in _pages(self._articles, []) for i in page["ids"]}

    def warm(self) -> None:
        """Load now what the first read of an article's record waits for: Chroma loads the
        articles' vector index into memory before its first read of them (1.4 s at a
        million passages), though nothing here searches it."""
        self._articles.get(ids=["warm up"], include=[])

    def article(self, article_id: str) -> StoredArticle:
        got = self._articles.get(ids=[article_id], include=["documents", "metadatas"])
        if not got["ids"]:
            raise ArticleNotFound(
                f"no article {article_id!r} in the store at {self.where} "
                "(article ids are listed in every citation and by --json)"
            )
        meta = got["metadatas"][0]  # type: ignore[index]
        return StoredArticle(
            id=article_id, text=str(meta.get(TEXT_KEY) or got["documents"][0] or ""),  # type: ignore[index]
            title=str(meta["title"]),
            source=str(meta["source"]), url=str(meta["url"]) or None,
            published=str(meta["published"]) or None, origin=str(meta["origin"]) or None,
            chunks=int(meta["chunks"]), author=str(meta.get("author") or "") or None,
        )

    def stats(self) -> StoreStats:
        return self._stats(self.lexical().listing(newest=0))

    def catalog(self, newest: int | None = None) -> list[ArticleEntry]:
        """The `newest` articles (every one for None), newest first (undated ones last),
        then by title."""
        return self.overview(newest)[1]

    def overview(self, newest: int | None = None) -> tuple[StoreStats, list[ArticleEntry]]:
        """`stats()` and `catalog(newest)` from one indexed read of the lexical index."""
        listing = self.lexical().listing(newest)
        return self._stats(listing), [_entry(a) for a in listing.newest]

    def page(self, offset: int = 0, limit: int = 50, filters: Filters | None = None) -> tuple[int, list[ArticleEntry]]:
        """How many articles pass `filters`, and `limit` of them from `offset`, in the
        order of `catalog`."""
        total, articles = self.lexical().page(offset, limit, filters)
        return total, [_entry(a) for a in articles]

    def _stats(self, listing: Listing) -> StoreStats:
        return StoreStats(
            path=self.where, model=self.model, dim=self.dim, articles=listing.articles,
            chunks=listing.passages, sources=listing.sources,
            duplicate_clusters=listing.duplicate_clusters, duplicate_articles=listing.duplicate_articles,
        )

    def _records(self) -> Iterator[tuple[str, dict[str, Any]]]:
        for page in _pages(self._articles, ["metadatas"]):
            yield from zip(page["ids"], page["metadatas"] or [])

    def is_empty(self) -> bool:
        # The lexical index's: Chroma's count loads the collection's vector index first.
        return self.lexical().is_empty()

    def nodes(self, complete: set[str] | None = None) -> Iterator[TextNode]:
        """Every chunk of a complete article as a llama-index node, read in pages.

        `complete` is `article_ids()` when the caller has it.
        """
        from llama_index.core.vector_stores.utils import metadata_dict_to_node

        complete = self.article_ids() if complete is None else complete
        for page in _pages(self._chunks, ["documents", "metadatas"]):
            for document, meta in zip(page["documents"], page["metadatas"]):
                if meta["article_id"] in complete:  # format 6's text is in the node's JSON
                    yield metadata_dict_to_node(dict(meta), text=document)  # type: ignore[return-value]

    def dense(
        self, query: np.ndarray, k: int, filters: Filters | None = None,
        complete: Callable[[Iterable[str]], set[str]] | None = None,
    ) -> list[tuple[StoredChunk, float]]:
        """The k chunks nearest to the query vector that pass `filters`, with their cosine.

        Searched in the lexical index's vector files (`index.vectors`), which list only the
        chunks of complete articles; `complete` (article ids to those complete) is checked
        as well when given. A chunk deleted since is left out.
        """
        hits = self.lexical().nearest(query, k, filters)
        chunks = self._chunks_by_id([i for i, _ in hits])
        found = [(chunks[i], cos) for i, cos in hits if i in chunks]
        if complete is None:
            return found
        whole = complete({chunk.article_id for chunk, _ in found})  # one lookup for all the hits
        return [hit for hit in found if hit[0].article_id in whole]

    def _chunks_by_id(self, chunk_ids: Sequence[str]) -> dict[str, StoredChunk]:
        # From the lexical index's copy: Chroma's first read of a collection loads its
        # vector index into memory (2.2 s at a million passages), which nothing here searches.
        # As it is: the callers have just brought it up to date.
        if not chunk_ids:
            return {}
        return {i: _read_back(p, a) for i, (p, a) in self.lexical_index().passages(chunk_ids).items()}

    def sentences(self, chunks: Sequence[StoredChunk]) -> dict[str, list[StoredSentence]]:
        """Each chunk's sentences, in order, with their vectors, from the lexical index's
        copy of the chunks' records (a chunk deleted meanwhile is left out)."""
        if not chunks:
            return {}
        return {i: unpack(packed, count, self.dim)
                for i, (count, packed) in self.lexical().packs([c.id for c in chunks]).items()}

    def chunks_with_vectors(self, chunk_ids: Sequence[str]) -> dict[str, tuple[StoredChunk, np.ndarray]]:
        """Those of the chunks that are still there, with their vectors (from the lexical
        index and its vector files)."""
        vectors = self.lexical().vectors_of(chunk_ids)
        return {i: (chunk, vectors[i]) for i, chunk in self._chunks_by_id(chunk_ids).items() if i in vectors}


def _pages(collection: Collection, include: list[str]) -> Iterator[Any]:
    """Every record of a collection, `_PAGE` at a time."""
    offset = 0
    while True:
        page = collection.get(include=include, limit=_PAGE, offset=offset)  # type: ignore[arg-type]
        yield page
        if len(page["ids"]) < _PAGE:
            return
        offset += _PAGE


def _packed_from_4(old: Collection, chunks: list[tuple[str, Any]], dim: int) -> list[dict[str, Any]]:
    """The metadata that format 5 adds to these chunks (id, metadata), from format 4's
    sentence records (ids "CHUNK/K")."""
    wanted = [f"{c}/{k}" for c, meta in chunks for k in range(int(meta.get("sentences") or 0))]
    got = old.get(ids=wanted, include=["embeddings", "metadatas"])
    found: dict[str, list[tuple[int, int, np.ndarray]]] = {}
    for meta, vector in zip(got["metadatas"] or [], got["embeddings"] if got["embeddings"] is not None else []):
        found.setdefault(str(meta["chunk_id"]), []).append((int(meta["start"]), int(meta["end"]), vector))
    metadatas = []
    for c, _ in chunks:
        rows = sorted(found.get(c, []), key=lambda r: r[0])
        vectors = np.asarray([r[2] for r in rows], dtype=np.float32).reshape(len(rows), dim)
        metadatas.append({SENTENCES_KEY: pack([(r[0], r[1]) for r in rows], vectors), "sentences": len(rows)})
    return metadatas


def _per_chunk(
    sentences: Sequence[SentenceSpan], embeddings: np.ndarray
) -> dict[int, tuple[list[tuple[int, int]], np.ndarray]]:
    """An article's sentences grouped by chunk: each chunk's offsets and vectors, in order."""
    if len(sentences) != len(embeddings):
        raise ValueError("one embedding per sentence")
    rows: dict[int, list[int]] = {}
    for row, sentence in enumerate(sentences):
        rows.setdefault(sentence.chunk_index, []).append(row)
    return {
        chunk: ([(sentences[r].start, sentences[r].end) for r in at], embeddings[at])
        for chunk, at in rows.items()
    }


def _text(document: str | None, meta: dict[str, Any]) -> str:
    """A passage's text: its Chroma document in format 5, its node's JSON in format 6."""
    if document is not None:
        return document
    return str(json.loads(str(meta["_node_content"]))["text"])


def _listed(article_id: str, meta: dict[str, Any]) -> LexicalArticle:
    """An article's record as the lexical index lists it."""
    return LexicalArticle(
        id=article_id, title=str(meta["title"]), source=str(meta["source"]),
        published=str(meta["published"]), url=str(meta["url"]), chunks=int(meta["chunks"]),
        cluster=str(meta.get("cluster") or article_id), signature=str(meta.get("minhash") or ""),
        author=str(meta.get("author") or ""),
    )


def _indexed(chunk_id: str, text: str, meta: dict[str, Any], vector: Any, packed: str) -> LexicalPassage:
    """A chunk as the lexical index holds it, from its record (`packed`: its sentences)."""
    return LexicalPassage(
        chunk_id, str(meta["article_id"]), str(meta["source_key"]), int(meta["published_day"]), text,
        np.asarray(vector, dtype=np.float32), index=int(meta["chunk_index"]), start=int(meta["start"]),
        end=int(meta["end"]), sentences=int(meta.get("sentences") or 0), pack=raw(packed) if packed else b"",
    )


def _read_back(passage: LexicalPassage, article: LexicalArticle) -> StoredChunk:
    """A chunk from the lexical index's copy of its record."""
    return StoredChunk(
        id=passage.id, article_id=passage.article_id, index=passage.index, start=passage.start,
        end=passage.end, text=passage.text, title=article.title, source=article.source,
        url=article.url or None, published=article.published or None, author=article.author or None,
        sentences=passage.sentences,
    )


def to_chunk(node: Any) -> StoredChunk:
    """A llama-index node read back from the store, as our own plain record."""
    meta = node.metadata
    return StoredChunk(
        id=node.node_id, article_id=str(meta["article_id"]), index=int(meta["chunk_index"]),
        start=int(meta["start"]), end=int(meta["end"]), text=node.get_content(),
        title=str(meta["title"]), source=str(meta["source"]), url=str(meta["url"]) or None,
        published=str(meta["published"]) or None, author=str(meta.get("author") or "") or None,
        sentences=int(meta.get("sentences") or 0),
    )


def article_facts(article: Article) -> dict[str, str | int]:
    """What every chunk and the article's record carry: shown in citations, filtered on."""
    return {
        "title": article.title, "source": article.source, "url": article.url or "",
        "published": article.published or "", "author": article.author or "",
        "source_key": source_key(article.source), "published_day": day_number(article.published),
    }
