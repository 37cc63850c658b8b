"""Hybrid retrieval: dense (Chroma) and lexical (BM25) candidates, reranked.

The default ranking ("learned") takes the candidates of both rankings that plain
reciprocal-rank fusion puts first and orders them by a linear model over a few features:
the passage's and its best sentence's cosine to the question, its BM25 score, and how much
of the question's (idf-weighted) words it and its best sentence hold. The plain rankings
("dense", "bm25", "rrf") remain as baselines for the evaluator.

The BM25 side is the store's lexical index (`index.lexical`): on disk, kept in step with
the Chroma store, which stays the single source of truth.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Sequence

import numpy as np

from index.embedding import Embedder
from index.filters import Filters
from index.lexical import LexicalIndex
from index.store import Store, StoredChunk, StoredSentence
from qa import weights
from qa.ranking import PASSAGE_FEATURES, LinearModel, overlap, term_set

if TYPE_CHECKING:
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

    def to_dict(self) -> dict[str, Any]:
        """What a search result shows (`newsqa search --json`, the API, the MCP tool)."""
        c = self.chunk
        return {"article_id": c.article_id, "chunk_id": c.id, "title": c.title, "source": c.source,
                "url": c.url, "published": c.published, "start": c.start, "end": c.end,
                "text": c.text, "score": self.score, "dense": self.dense, "lexical": self.lexical}


class Retriever:
    def __init__(self, store: Store, embedder: Embedder, mode: str = "learned") -> None:
        if mode not in MODES:
            raise ValueError(f"unknown retrieval mode {mode!r}; use one of {', '.join(MODES)}")
        self.store = store
        self.embedder = embedder
        self.mode = mode
        self.model = LinearModel(weights.PASSAGE, weights.PASSAGE_BIAS)

    def lexical(self) -> LexicalIndex:
        """The store's lexical index, current (one revision check)."""
        return self.store.lexical()

    def search(
        self, query: str, k: int, query_vector: np.ndarray | None = None,
        lexical_index: LexicalIndex | None = None, filters: Filters | None = None,
    ) -> list[Passage]:
        """The k best passages that pass `filters`; `lexical_index` is the caller's
        `lexical()`, when it has it."""
        vector = self.embedder.encode_one(query) if query_vector is None else query_vector
        lexical_index = lexical_index or self.lexical()
        candidates = Candidates(
            self.store.dense(vector, CANDIDATES, filters, lexical_index.complete),
            lexical_index.search(query, CANDIDATES, filters),
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
            features = passage_features(candidates, pool, lexical_index.weights(query), vector)
            scores = self.model.score(features)
            order = np.argsort(-scores, kind="stable")[:k]
            top = [(pool[j], float(scores[j])) for j in order]
        candidates.complete([i for i, _ in top], self.store, vector)
        return [
            Passage(candidates.chunks[i], score, candidates.cosine[i], candidates.bm25.get(i, 0.0),
                    tuple(candidates.sentences.get(i, ())))
            for i, score in top if i in candidates.cosine
        ]


_YEAR = re.compile(r"\b(1[5-9]\d\d|20\d\d)\b")


def naming_years(question: str, passages: Sequence[Passage]) -> list[Passage]:
    """The passages that can answer for the years the question names: those whose text or
    article title names each of them, or whose article was published in one of them.

    An article from 2005 cannot say what happened in 2023, however close its words are.
    In SQuAD's training questions, 8% name a year, and the answer's paragraph names it
    for all but 0.2% of all questions.
    """
    years = set(_YEAR.findall(question))
    if not years:
        return list(passages)
    return [
        p for p in passages
        if years <= set(_YEAR.findall(f"{p.chunk.title} {p.text}")) | {(p.chunk.published or "")[:4]}
    ]


class Candidates:
    """The chunks that dense and BM25 search found for one query, and what is known of them.

    BM25's hits come as ids: a chunk found by BM25 alone is read from the store (with its
    vector) only if it is among those ranked (`complete`).
    """

    def __init__(self, dense: list[tuple[StoredChunk, float]], lexical: list[tuple[str, float]]) -> None:
        self.chunks = {c.id: c for c, _ in dense}
        self.cosine = {c.id: cos for c, cos in dense}
        self.bm25 = dict(lexical)
        self.dense_order = [c.id for c, _ in dense]
        self.bm25_order = [i for i, _ in lexical]
        self.fused: dict[str, float] = {}
        for ranking in (self.dense_order, self.bm25_order):
            for rank, chunk_id in enumerate(ranking):
                self.fused[chunk_id] = self.fused.get(chunk_id, 0.0) + 1.0 / (RRF_K + rank + 1)
        self.fused_order = sorted(self.fused, key=lambda i: (-self.fused[i], i))
        self.sentences: dict[str, list[StoredSentence]] = {}

    def complete(self, ids: list[str], store: Store, vector: np.ndarray) -> None:
        """Read the chunks (and cosines) BM25-only candidates lack, and every candidate's
        sentences. A chunk deleted since the lexical index listed it stays unread."""
        missing = [i for i in ids if i not in self.cosine]
        if missing:
            for chunk_id, (chunk, embedding) in store.chunks_with_vectors(missing).items():
                self.chunks[chunk_id] = chunk
                self.cosine[chunk_id] = float(embedding @ vector)
        unread = [i for i in ids if i in self.chunks and i not in self.sentences]
        if unread:
            self.sentences.update(store.sentences([self.chunks[i] for i in unread]))
            for i in unread:
                self.sentences.setdefault(i, [])


def passage_features(
    candidates: Candidates, ids: list[str], question_weights: dict[str, float], vector: np.ndarray,
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
        rows["coverage"].append(overlap(question_weights, term_set(chunk.text)))
        rows["best_sentence_overlap"].append(max(overlaps))
        rows["best_sentence_both"].append(float(np.max(cosines + np.asarray(overlaps))))
    return {name: np.asarray(values) for name, values in rows.items()}
