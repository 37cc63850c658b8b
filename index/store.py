"""The Chroma store: chunks with their embeddings, and the articles they came from.

Three collections in one Chroma database: `chunks` holds the passages (written and queried
through llama-index's ChromaVectorStore), `sentences` holds an embedding for each sentence
of each passage (so answering never embeds the articles' text again), and `articles` holds
each article's full text and metadata. An article's record is written after its chunks and
sentences, so it marks the article as complete: a re-ingest redoes any article whose
record is missing or stale.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator, Sequence

import numpy as np

from index.article import Article
from index.chunking import Chunk
from index.errors import ArticleNotFound, StoreError

if TYPE_CHECKING:
    from chromadb.api import ClientAPI
    from chromadb.api.models.Collection import Collection
    from llama_index.core.schema import TextNode
    from llama_index.vector_stores.chroma import ChromaVectorStore

CHUNKS = "newsqa_chunks"
SENTENCES = "newsqa_sentences"
ARTICLES = "newsqa_articles"
SCHEMA = 2  # 2: sentence embeddings
_PAGE = 5000


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


@dataclass(frozen=True)
class SentenceSpan:
    """A sentence of a chunk, by its offsets in the article."""

    chunk_index: int
    start: int
    end: int


@dataclass(frozen=True)
class StoredSentence:
    start: int
    end: int
    vector: np.ndarray


@dataclass(frozen=True)
class StoreStats:
    path: str
    model: str
    dim: int
    articles: int
    chunks: int


def chunk_id(article_id: str, index: int) -> str:
    return f"{article_id}#{index}"


class Store:
    """One embedded Chroma database on disk, opened for one embedding model."""

    def __init__(self, path: Path, client: ClientAPI, model: str, dim: int) -> None:
        from llama_index.vector_stores.chroma import ChromaVectorStore

        self.path = path
        self.model = model
        self.dim = dim
        self._client = client
        # embedding_function=None: Chroma must never embed (its default downloads a model).
        meta = {"model": model, "dim": dim, "schema": SCHEMA}
        existing = {c.name for c in client.list_collections()}
        self._chunks = self._collection(CHUNKS, meta, existing)
        self._check_compatible(self._chunks.metadata or {})
        self._sentences = self._collection(SENTENCES, meta, existing)
        self._articles = self._collection(ARTICLES, {**meta, "revision": 0}, existing)
        self._vectors: ChromaVectorStore = ChromaVectorStore(chroma_collection=self._chunks)

    def _collection(self, name: str, meta: dict[str, Any], existing: set[str]) -> Collection:
        if name in existing:  # never pass metadata here: it would overwrite the stored model
            return self._client.get_collection(name, embedding_function=None)  # type: ignore[arg-type]
        return self._client.create_collection(
            name, embedding_function=None, metadata=meta,  # type: ignore[arg-type]
            configuration={"hnsw": {"space": "cosine"}},
        )

    @classmethod
    def open(cls, path: Path, model: str, dim: int, create: bool = False) -> Store:
        import chromadb
        from chromadb.config import Settings as ChromaSettings

        path = Path(path)
        if not create and not (path / "chroma.sqlite3").is_file():
            raise StoreError(
                f"no store at {path}: ingest articles first (newsqa ingest PATH --store {path})"
            )
        if path.exists() and not path.is_dir():
            raise StoreError(f"the store path {path} is a file; pick a folder (--store DIR)")
        try:
            client = chromadb.PersistentClient(
                path=str(path), settings=ChromaSettings(anonymized_telemetry=False)
            )
        except Exception as error:
            raise StoreError(f"cannot open the store at {path}: {error}") from error
        return cls(path, client, model, dim)

    def _check_compatible(self, meta: dict[str, Any]) -> None:
        if int(meta.get("schema", 0)) != SCHEMA:
            raise StoreError(
                f"the store at {self.path} was built by another version of newsqa (store "
                f"format {meta.get('schema')}; this version reads format {SCHEMA}): delete "
                f"{self.path} (or choose a new --store) and run newsqa ingest again"
            )
        if meta.get("model") != self.model or int(meta.get("dim", -1)) != self.dim:
            raise StoreError(
                f"the store at {self.path} was built with the model {meta.get('model')!r} "
                f"({meta.get('dim')} dimensions), not {self.model!r} ({self.dim}). "
                f"Open it with --model {meta.get('model')}, or rebuild it: delete {self.path} "
                "(or choose a new --store) and run newsqa ingest again."
            )

    # --- writing -------------------------------------------------------------------

    def write_article(
        self, article: Article, chunks: Sequence[Chunk], embeddings: np.ndarray,
        sentences: Sequence[SentenceSpan], sentence_embeddings: np.ndarray, fingerprint: str,
    ) -> None:
        """Replace whatever is stored for the article with these chunks, then commit it."""
        from llama_index.core.schema import NodeRelationship, RelatedNodeInfo, TextNode

        self._vectors.delete(article.id)
        self._sentences.delete(where={"article_id": article.id})
        nodes = []
        for chunk, vector in zip(chunks, embeddings, strict=True):
            meta = {
                "article_id": article.id, "chunk_index": chunk.index,
                "start": chunk.start, "end": chunk.end, "title": article.title,
                "source": article.source, "url": article.url or "",
                "published": article.published or "",
            }
            nodes.append(
                TextNode(
                    id_=chunk_id(article.id, chunk.index), text=chunk.text, metadata=meta,
                    embedding=vector.tolist(), start_char_idx=chunk.start,
                    end_char_idx=chunk.end,
                    relationships={NodeRelationship.SOURCE: RelatedNodeInfo(node_id=article.id)},
                    # Retrieval reads the passage alone, not "title: ..." lines.
                    excluded_embed_metadata_keys=list(meta), excluded_llm_metadata_keys=list(meta),
                )
            )
        if nodes:
            self._vectors.add(nodes)
        self._write_sentences(article.id, sentences, sentence_embeddings)
        centroid = embeddings.mean(axis=0) if len(embeddings) else np.zeros(self.dim)
        norm = float(np.linalg.norm(centroid)) or 1.0
        self._articles.upsert(
            ids=[article.id], documents=[article.text], embeddings=[(centroid / norm).tolist()],
            metadatas=[{
                "title": article.title, "source": article.source, "url": article.url or "",
                "published": article.published or "", "origin": article.origin or "",
                "fingerprint": fingerprint, "chunks": len(chunks), "sentences": len(sentences),
            }],
        )
        self._bump_revision()

    def _write_sentences(
        self, article_id: str, sentences: Sequence[SentenceSpan], embeddings: np.ndarray
    ) -> None:
        if len(sentences) != len(embeddings):
            raise ValueError("one embedding per sentence")
        ids, metas = [], []
        for n, sentence in enumerate(sentences):
            chunk = chunk_id(article_id, sentence.chunk_index)
            ids.append(f"{chunk}/{n}")
            metas.append({"article_id": article_id, "chunk_id": chunk,
                          "start": sentence.start, "end": sentence.end})
        for at in range(0, len(ids), _PAGE):
            self._sentences.add(
                ids=ids[at : at + _PAGE], embeddings=embeddings[at : at + _PAGE],
                metadatas=metas[at : at + _PAGE],  # type: ignore[arg-type]
            )

    def delete_article(self, article_id: str) -> None:
        # Chunks first: a record without chunks is healed by the next ingest of it, while
        # chunks without a record would be orphans nothing points to.
        self._vectors.delete(article_id)
        self._sentences.delete(where={"article_id": article_id})
        self._articles.delete(ids=[article_id])
        self._bump_revision()

    def _bump_revision(self) -> None:
        meta = dict(self._client.get_collection(ARTICLES).metadata or {})
        meta["revision"] = int(meta.get("revision", 0)) + 1
        self._articles.modify(metadata=meta)

    # --- reading -------------------------------------------------------------------

    def revision(self) -> int:
        """Changes whenever any process writes to the store."""
        return int((self._client.get_collection(ARTICLES).metadata or {}).get("revision", 0))

    def fingerprint(self, article_id: str) -> str | None:
        """The stored fingerprint, or None when the article is absent or incomplete."""
        got = self._articles.get(ids=[article_id], include=["metadatas"])
        if not got["ids"]:
            return None
        meta = got["metadatas"][0]  # type: ignore[index]
        stored = self._chunks.get(where={"document_id": article_id}, include=[])
        if len(stored["ids"]) != int(meta.get("chunks", -1)):
            return None
        sentences = self._sentences.get(where={"article_id": article_id}, include=[])
        if len(sentences["ids"]) != int(meta.get("sentences", -1)):
            return None
        return str(meta.get("fingerprint"))

    def ids_from_origin(self, origin: str) -> list[str]:
        return self._articles.get(where={"origin": origin}, include=[])["ids"]

    def article(self, article_id: str) -> StoredArticle:
        got = self._articles.get(ids=[article_id], include=["documents", "metadatas"])
        if not got["ids"]:
            raise ArticleNotFound(
                f"no article {article_id!r} in the store at {self.path} "
                "(article ids are listed in every citation and by --json)"
            )
        meta = got["metadatas"][0]  # type: ignore[index]
        return StoredArticle(
            id=article_id, text=got["documents"][0], title=str(meta["title"]),  # type: ignore[index]
            source=str(meta["source"]), url=str(meta["url"]) or None,
            published=str(meta["published"]) or None, origin=str(meta["origin"]) or None,
            chunks=int(meta["chunks"]),
        )

    def stats(self) -> StoreStats:
        return StoreStats(
            path=str(self.path), model=self.model, dim=self.dim,
            articles=self._articles.count(), chunks=self._chunks.count(),
        )

    def is_empty(self) -> bool:
        return self._articles.count() == 0

    def nodes(self) -> Iterator[TextNode]:
        """Every chunk as a llama-index node, in pages (for the lexical index)."""
        from llama_index.core.vector_stores.utils import metadata_dict_to_node

        offset = 0
        while True:
            page = self._chunks.get(include=["documents", "metadatas"], limit=_PAGE, offset=offset)
            for text, meta in zip(page["documents"], page["metadatas"]):  # type: ignore[arg-type]
                yield metadata_dict_to_node(dict(meta), text=text)  # type: ignore[return-value]
            if len(page["ids"]) < _PAGE:
                return
            offset += _PAGE

    def dense(self, query: np.ndarray, k: int) -> list[tuple[StoredChunk, float]]:
        """The k chunks nearest to the query vector, with their cosine similarity."""
        from llama_index.core.vector_stores.types import VectorStoreQuery

        k = min(k, self._chunks.count())
        if k == 0:
            return []
        result = self._vectors.query(
            VectorStoreQuery(query_embedding=query.tolist(), similarity_top_k=k)
        )
        # ChromaVectorStore reports exp(-distance); with cosine space, distance = 1 - cos.
        return [
            (to_chunk(node), 1.0 + float(np.log(max(similarity, 1e-30))))
            for node, similarity in zip(result.nodes or [], result.similarities or [])
        ]

    def sentences(self, chunk_ids: Sequence[str]) -> dict[str, list[StoredSentence]]:
        """Each chunk's sentences, in order, with their embeddings."""
        if not chunk_ids:
            return {}
        got = self._sentences.get(
            where={"chunk_id": {"$in": list(chunk_ids)}}, include=["embeddings", "metadatas"]
        )
        found: dict[str, list[StoredSentence]] = {}
        for meta, vector in zip(got["metadatas"], got["embeddings"]):  # type: ignore[arg-type]
            found.setdefault(str(meta["chunk_id"]), []).append(
                StoredSentence(int(meta["start"]), int(meta["end"]), np.asarray(vector, dtype=np.float32))  # type: ignore[arg-type]
            )
        for sentences in found.values():
            sentences.sort(key=lambda s: s.start)
        return found

    def embeddings(self, chunk_ids: Sequence[str]) -> dict[str, np.ndarray]:
        got = self._chunks.get(ids=list(chunk_ids), include=["embeddings"])
        return {i: np.asarray(e, dtype=np.float32) for i, e in zip(got["ids"], got["embeddings"])}  # type: ignore[arg-type]


def to_chunk(node: Any) -> StoredChunk:
    """A llama-index node read back from the store, as our own plain record."""
    meta = node.metadata
    return StoredChunk(
        id=node.node_id, article_id=str(meta["article_id"]), index=int(meta["chunk_index"]),
        start=int(meta["start"]), end=int(meta["end"]), text=node.get_content(),
        title=str(meta["title"]), source=str(meta["source"]), url=str(meta["url"]) or None,
        published=str(meta["published"]) or None,
    )
