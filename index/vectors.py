"""The passages' vectors in two flat files beside the lexical index, memory-mapped and
searched exactly.

Chroma's embedded store loads a collection's whole vector index (HNSW) into each
process's memory: 15 s at a million passages before the first question, again whenever
another process has written (a process's copy never sees another's vectors), and its
filtered search took 3 s there. These files cost nothing to open, every process sees what
a writer appends as it lands (the pages are the kernel's, shared), and a filter is a mask.
An exact search of a million 384-dimension vectors is one matrix-vector product: about
40 ms on these 2 cores, and no approximation.

Row n holds the passage whose lexical rowid is n (`LexicalIndex`: AUTOINCREMENT, so a
committed rowid is never reused). `*.f32` holds the vectors, unit length; `*.facts` the
row's source number (0: no passage) and day, for filters. The lexical index writes a
passage's row before the transaction that lists it commits and clears a deleted one's
after the transaction that removed it commits, so that every row a search returns
either belongs to a listed passage or is dropped when its rowid no longer resolves. A
rebuild writes a new pair of files under a new name (readers keep the ones they mapped).
"""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Sequence

import numpy as np

FACTS = np.dtype([("source", "<i4"), ("day", "<i4")])
_GROW = 4096  # rows the files grow by at least, so that writers rarely resize them


class Vectors:
    """One pair of files: `{stem}.f32` and `{stem}.facts`, rows of `dim` floats."""

    def __init__(self, folder: Path, stem: str, dim: int) -> None:
        self.stem = stem
        self.dim = dim
        self._vectors_path = folder / f"{stem}.f32"
        self._facts_path = folder / f"{stem}.facts"
        self._mapped: tuple[int, np.ndarray, np.ndarray] | None = None  # (rows, vectors, facts)
        self._mapping = threading.Lock()

    # --- writing (the lexical index's writer only) ------------------------------------

    def write(self, rows: Sequence[int], vectors: np.ndarray, sources: Sequence[int], days: Sequence[int]) -> None:
        """Put these rows' vectors and facts on disk (durably: the transaction that lists
        them commits after this returns)."""
        if not len(rows):
            return
        vectors = np.asarray(vectors, dtype=np.float32).reshape(len(rows), self.dim)
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        vectors = vectors / np.where(norms > 0, norms, 1.0)
        facts = np.empty(len(rows), dtype=FACTS)
        facts["source"], facts["day"] = sources, days
        need = max(rows) + 1
        with _opened(self._vectors_path) as v, _opened(self._facts_path) as f:
            _grow(v, need, 4 * self.dim)
            _grow(f, need, FACTS.itemsize)
            for n, row in enumerate(rows):  # rows of one write are consecutive, mostly: cheap either way
                os.pwrite(v, vectors[n].tobytes(), row * 4 * self.dim)
                os.pwrite(f, facts[n : n + 1].tobytes(), row * FACTS.itemsize)
            os.fsync(v)
            os.fsync(f)

    def clear(self, rows: Sequence[int]) -> None:
        """Mark these rows as holding no passage (after their removal committed)."""
        if not len(rows) or not self._facts_path.exists():
            return
        empty = np.zeros(1, dtype=FACTS).tobytes()
        with _opened(self._facts_path) as f:
            size = os.fstat(f).st_size
            for row in rows:
                if (row + 1) * FACTS.itemsize <= size:
                    os.pwrite(f, empty, row * FACTS.itemsize)
            os.fsync(f)

    def remove(self) -> None:
        self._vectors_path.unlink(missing_ok=True)
        self._facts_path.unlink(missing_ok=True)

    # --- reading -------------------------------------------------------------------

    def search(self, query: np.ndarray, k: int, keep: np.ndarray | None = None) -> list[tuple[int, float]]:
        """The k rows nearest to the query (cosine, highest first) among those holding a
        passage and, if given, `keep`'s (a mask over `facts()`'s rows)."""
        rows, vectors, facts = self._map()
        if not rows or k <= 0:
            return []
        scores = vectors @ np.asarray(query, dtype=np.float32)
        allowed = facts["source"] > 0
        if keep is not None:
            allowed &= keep[:rows]
        scores[~allowed] = -np.inf
        k = min(k, int(allowed.sum()))
        if k == 0:
            return []
        top = np.argpartition(-scores, k - 1)[:k]
        top = top[np.argsort(-scores[top], kind="stable")]
        return [(int(row), float(scores[row])) for row in top]

    def facts(self) -> np.ndarray:
        """Every row's source number and day (what filters test), as mapped now."""
        return self._map()[2]

    def vectors(self, rows: Sequence[int]) -> dict[int, np.ndarray]:
        """The vectors of those of the rows that hold a passage."""
        mapped, vectors, facts = self._map()
        return {r: np.array(vectors[r]) for r in rows if r < mapped and facts["source"][r] > 0}

    def _map(self) -> tuple[int, np.ndarray, np.ndarray]:
        """The files as they are now, mapped again when a writer has grown them."""
        try:
            rows = min(self._vectors_path.stat().st_size // (4 * self.dim),
                       self._facts_path.stat().st_size // FACTS.itemsize)
        except FileNotFoundError:
            rows = 0
        with self._mapping:
            if self._mapped is None or self._mapped[0] != rows:
                if rows == 0:
                    self._mapped = (0, np.zeros((0, self.dim), np.float32), np.zeros(0, FACTS))
                else:
                    # Plain arrays over the maps (they keep them open): numpy's products on a
                    # memmap subclass return memmaps, slower to handle.
                    self._mapped = (
                        rows,
                        np.asarray(np.memmap(self._vectors_path, dtype=np.float32, mode="r", shape=(rows, self.dim))),
                        np.asarray(np.memmap(self._facts_path, dtype=FACTS, mode="r", shape=(rows,))),
                    )
            return self._mapped


class _opened:
    """A file descriptor for reading and writing, created if missing, closed on exit."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __enter__(self) -> int:
        self.fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        return self.fd

    def __exit__(self, *_: object) -> None:
        os.close(self.fd)


def _grow(fd: int, rows: int, row_bytes: int) -> None:
    """Make the file hold at least `rows` rows (zeros: no passage), never shrinking it (a
    reader may have mapped it)."""
    size = os.fstat(fd).st_size
    if size >= rows * row_bytes:
        return
    have = size // row_bytes
    os.ftruncate(fd, max(rows, have + max(_GROW, have // 8)) * row_bytes)
