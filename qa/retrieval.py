"""Hybrid retrieval: dense (Chroma) and lexical (BM25) rankings, fused by reciprocal rank.

The BM25 index is rebuilt in memory from the Chroma store, which stays the single source
of truth; it is rebuilt whenever the store's revision changes (another ingest wrote).
"""

from __future__ import annotations

import math
import threading
from collections import Counter
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from index.embedding import Embedder
from index.store import Store, StoredChunk, to_chunk
from qa.terms import terms

if TYPE_CHECKING:
    from llama_index.retrievers.bm25 import BM25Retriever

RRF_K = 60  # the usual constant of reciprocal-rank fusion
CANDIDATES = 50  # taken from each ranking before fusing


@dataclass(frozen=True)
class Passage:
    """A retrieved chunk with its scores: fused rank score, cosine, and BM25."""

    chunk: StoredChunk
    score: float
    dense: float
    lexical: float

    @property
    def article_id(self) -> str:
        return self.chunk.article_id

    @property
    def text(self) -> str:
        return self.chunk.text


class LexicalIndex:
    """BM25 over every chunk, plus document frequencies for weighting question terms."""

    def __init__(self, store: Store) -> None:
        from llama_index.retrievers.bm25 import BM25Retriever

        nodes = list(store.nodes())
        self.size = len(nodes)
        self._df: Counter[str] = Counter()
        for node in nodes:
            self._df.update(set(terms(node.get_content())))
        self._bm25: BM25Retriever | None = (
            BM25Retriever.from_defaults(nodes=nodes, similarity_top_k=min(CANDIDATES, len(nodes)))
            if nodes else None
        )

    def search(self, query: str) -> list[tuple[StoredChunk, float]]:
        if self._bm25 is None or not terms(query):
            return []
        hits = self._bm25.retrieve(query)
        return [(to_chunk(hit.node), float(hit.score)) for hit in hits if (hit.score or 0) > 0]

    def idf(self, term: str) -> float:
        """Smoothed inverse document frequency; a term absent from the store weighs most."""
        return math.log(1 + (self.size + 1) / (self._df.get(term, 0) + 0.5))


class Retriever:
    def __init__(self, store: Store, embedder: Embedder) -> None:
        self.store = store
        self.embedder = embedder
        self._lexical: LexicalIndex | None = None
        self._revision = -1
        self._lock = threading.Lock()

    def lexical(self) -> LexicalIndex:
        revision = self.store.revision()
        with self._lock:
            if self._lexical is None or revision != self._revision:
                self._lexical = LexicalIndex(self.store)
                self._revision = revision
            return self._lexical

    def search(self, query: str, k: int, query_vector: np.ndarray | None = None) -> list[Passage]:
        vector = self.embedder.encode_one(query) if query_vector is None else query_vector
        dense = self.store.dense(vector, CANDIDATES)
        lexical = self.lexical().search(query)
        fused: dict[str, float] = {}
        chunks: dict[str, StoredChunk] = {}
        for ranking in (dense, lexical):
            for rank, (chunk, _) in enumerate(ranking):
                fused[chunk.id] = fused.get(chunk.id, 0.0) + 1.0 / (RRF_K + rank + 1)
                chunks[chunk.id] = chunk
        top = sorted(fused, key=lambda i: (-fused[i], i))[:k]
        cosines = {chunk.id: cos for chunk, cos in dense}
        missing = [i for i in top if i not in cosines]
        if missing:
            for chunk_id, embedding in self.store.embeddings(missing).items():
                cosines[chunk_id] = float(embedding @ vector)
        bm25 = {chunk.id: score for chunk, score in lexical}
        return [
            Passage(chunks[i], fused[i], cosines.get(i, 0.0), bm25.get(i, 0.0)) for i in top
        ]
