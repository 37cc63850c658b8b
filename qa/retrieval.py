"""Hybrid retrieval: dense (Chroma) and lexical (BM25) candidates, reranked.

The default ranking ("learned") takes the candidates of both rankings that plain
reciprocal-rank fusion puts first and orders them by a linear model over a few features:
the passage's and its best sentence's cosine to the question, its BM25 score, and how much
of the question's (idf-weighted) words it and its best sentence hold. The plain rankings
("dense", "bm25", "rrf") remain as baselines for the evaluator.

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
from index.filters import NO_DAY, Filters
from index.store import Store, StoredChunk, StoredSentence, to_chunk
from qa import weights
from qa.ranking import PASSAGE_FEATURES, LinearModel, overlap, term_set
from qa.terms import terms

if TYPE_CHECKING:
    from llama_index.retrievers.bm25 import BM25Retriever

    from qa.reader import Reading

MODES = ("learned", "rrf", "bm25", "dense")
RRF_K = 60  # the usual constant of reciprocal-rank fusion
CANDIDATES = 50  # taken from each ranking before fusing
RERANKED = 30  # the best fused candidates that the learned ranking reorders


@dataclass(frozen=True)
class Passage:
    """A retrieved chunk with its sentences, its ranking score, cosine and BM25 score, and
    what the reader made of it (when it read it)."""

    chunk: StoredChunk
    score: float
    dense: float
    lexical: float
    sentences: tuple[StoredSentence, ...] = ()
    reading: Reading | None = None

    @property
    def article_id(self) -> str:
        return self.chunk.article_id

    @property
    def text(self) -> str:
        return self.chunk.text

    def sentence_text(self, sentence: StoredSentence) -> str:
        base = self.chunk.start
        return self.chunk.text[sentence.start - base : sentence.end - base]


class LexicalIndex:
    """BM25 over the chunks of every complete article, plus document frequencies for
    weighting question terms. `articles` is the set of those articles' ids: what readers
    may see at the revision the index was built for."""

    def __init__(self, store: Store) -> None:
        from llama_index.retrievers.bm25 import BM25Retriever

        self.articles = store.article_ids()
        nodes = list(store.nodes(self.articles))
        self.size = len(nodes)
        self._df: Counter[str] = Counter()
        self.terms: dict[str, frozenset[str]] = {}
        for node in nodes:
            self.terms[node.node_id] = frozenset(terms(node.get_content()))
            self._df.update(self.terms[node.node_id])
        self._bm25: BM25Retriever | None = (
            BM25Retriever.from_defaults(nodes=nodes, similarity_top_k=min(CANDIDATES, len(nodes)))
            if nodes else None
        )
        # What filters test, in the BM25 corpus' order, as arrays: a mask over 100,000
        # chunks then takes a millisecond instead of a Python loop's fraction of a second.
        self._sources = np.array([str(n.metadata.get("source_key", "")) for n in nodes], dtype=object)
        self._days = np.array([int(n.metadata.get("published_day", NO_DAY)) for n in nodes], dtype=np.int64)
        self._masking = threading.Lock()

    def search(self, query: str, filters: Filters | None = None) -> list[tuple[StoredChunk, float]]:
        mask = filters.mask(self._sources, self._days) if filters else None
        if mask is not None and not mask.any():
            return []
        return self._retrieve(query, None if mask is None else mask.astype(int).tolist())

    def _retrieve(self, query: str, mask: list[int] | None) -> list[tuple[StoredChunk, float]]:
        """BM25 hits over the chunks whose `mask` entry is 1 (all of them for None)."""
        if self._bm25 is None or not terms(query) or (mask is not None and not any(mask)):
            return []
        with self._masking:  # the retriever reads its mask from an attribute
            self._bm25.corpus_weight_mask = mask
            try:
                hits = self._bm25.retrieve(query)
            finally:
                self._bm25.corpus_weight_mask = None
        return [(to_chunk(hit.node), float(hit.score)) for hit in hits if (hit.score or 0) > 0]

    def idf(self, term: str) -> float:
        """Smoothed inverse document frequency; a term absent from the store weighs most."""
        return math.log(1 + (self.size + 1) / (self._df.get(term, 0) + 0.5))

    def weights(self, text: str) -> dict[str, float]:
        return {t: self.idf(t) for t in terms(text)}


class Retriever:
    def __init__(self, store: Store, embedder: Embedder, mode: str = "learned") -> None:
        if mode not in MODES:
            raise ValueError(f"unknown retrieval mode {mode!r}; use one of {', '.join(MODES)}")
        self.store = store
        self.embedder = embedder
        self.mode = mode
        self.model = LinearModel(weights.PASSAGE, weights.PASSAGE_BIAS)
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

    def search(
        self, query: str, k: int, query_vector: np.ndarray | None = None,
        lexical_index: LexicalIndex | None = None, filters: Filters | None = None,
    ) -> list[Passage]:
        """The k best passages that pass `filters`; `lexical_index` is the caller's
        `lexical()`, when it has it."""
        vector = self.embedder.encode_one(query) if query_vector is None else query_vector
        lexical_index = lexical_index or self.lexical()
        candidates = Candidates(
            self.store.dense(vector, CANDIDATES, filters, lexical_index.articles),
            lexical_index.search(query, filters),
        )
        if self.mode == "dense":
            top = [(i, candidates.cosine[i]) for i in candidates.dense_order[:k]]
        elif self.mode == "bm25":
            top = [(i, candidates.bm25[i]) for i in candidates.bm25_order[:k]]
        elif self.mode == "rrf":
            top = [(i, candidates.fused[i]) for i in candidates.fused_order[:k]]
        else:
            pool = candidates.fused_order[:RERANKED]
            candidates.complete(pool, self.store, vector)
            pool = [i for i in pool if i in candidates.cosine]  # unreadable vectors: see Store
            features = passage_features(candidates, pool, lexical_index, lexical_index.weights(query), vector)
            scores = self.model.score(features)
            order = np.argsort(-scores, kind="stable")[:k]
            top = [(pool[j], float(scores[j])) for j in order]
        candidates.complete([i for i, _ in top], self.store, vector)
        return [
            Passage(candidates.chunks[i], score, candidates.cosine[i], candidates.bm25.get(i, 0.0),
                    tuple(candidates.sentences.get(i, ())))
            for i, score in top if i in candidates.cosine
        ]


class Candidates:
    """The chunks that dense and BM25 search found for one query, and what is known of them."""

    def __init__(
        self, dense: list[tuple[StoredChunk, float]], lexical: list[tuple[StoredChunk, float]]
    ) -> None:
        self.chunks = {c.id: c for c, _ in (*dense, *lexical)}
        self.cosine = {c.id: cos for c, cos in dense}
        self.bm25 = {c.id: score for c, score in lexical}
        self.dense_order = [c.id for c, _ in dense]
        self.bm25_order = [c.id for c, _ in lexical]
        self.fused: dict[str, float] = {}
        for ranking in (self.dense_order, self.bm25_order):
            for rank, chunk_id in enumerate(ranking):
                self.fused[chunk_id] = self.fused.get(chunk_id, 0.0) + 1.0 / (RRF_K + rank + 1)
        self.fused_order = sorted(self.fused, key=lambda i: (-self.fused[i], i))
        self.sentences: dict[str, list[StoredSentence]] = {}

    def complete(self, ids: list[str], store: Store, vector: np.ndarray) -> None:
        """Fetch the cosines BM25-only candidates lack, and every candidate's sentences."""
        missing = [i for i in ids if i not in self.cosine]
        if missing:
            for chunk_id, embedding in store.embeddings(missing).items():
                self.cosine[chunk_id] = float(embedding @ vector)
        unread = [i for i in ids if i not in self.sentences]
        if unread:
            self.sentences.update(store.sentences([self.chunks[i] for i in unread]))
            for i in unread:
                self.sentences.setdefault(i, [])


def passage_features(
    candidates: Candidates, ids: list[str], lexical: LexicalIndex,
    question_weights: dict[str, float], vector: np.ndarray,
) -> dict[str, np.ndarray]:
    top_bm25 = max(candidates.bm25.values(), default=0.0) or 1.0
    rows: dict[str, list[float]] = {name: [] for name in PASSAGE_FEATURES}
    for chunk_id in ids:
        chunk = candidates.chunks[chunk_id]
        sentences = candidates.sentences.get(chunk_id, [])
        if sentences:
            cosines = np.stack([s.vector for s in sentences]) @ vector
            base = chunk.start
            overlaps = [
                overlap(question_weights, term_set(chunk.text[s.start - base : s.end - base]))
                for s in sentences
            ]
        else:
            cosines, overlaps = np.zeros(1), [0.0]
        rows["dense"].append(candidates.cosine.get(chunk_id, 0.0))
        rows["best_sentence_dense"].append(float(cosines.max()))
        rows["bm25"].append(candidates.bm25.get(chunk_id, 0.0) / top_bm25)
        rows["coverage"].append(overlap(question_weights, lexical.terms.get(chunk_id, frozenset())))
        rows["best_sentence_overlap"].append(max(overlaps))
        rows["best_sentence_both"].append(float(np.max(cosines + np.asarray(overlaps))))
    return {name: np.asarray(values) for name, values in rows.items()}
