"""The passages' vectors in flat files beside the lexical index, memory-mapped and
searched exactly.

Chroma's embedded store loads a collection's whole vector index (HNSW) into each
process's memory: 15 s at a million passages before the first question, again whenever
another process has written (a process's copy never sees another's vectors), and its
filtered search took 3 s there. These files cost nothing to open, every process sees what
a writer appends as it lands (the pages are the kernel's, shared), and a filter is a mask.

The search is exact, in two steps. A matrix-vector product over a half-precision copy
ranks every row (torch's float16 product: 25 ms for a million 384-dimension vectors on
these 2 cores, against numpy's float32 over the mapped file at 53 ms); the best few are
scored again in full precision, and more are taken whenever a row left out could still
beat the k-th, given float16's error (at most `_HALF_ERROR` on a cosine).

Row n holds the passage whose lexical rowid is n (`LexicalIndex`: AUTOINCREMENT, so a
committed rowid is never reused). `*.f32` holds the vectors, unit length, `*.f16` the same
in half precision; `*.facts` the row's source number (0: no passage) and day, for
filters. The lexical index writes a passage's row before the transaction that lists it
commits and clears a deleted one's after the transaction that removed it commits, so
that every row a search returns either belongs to a listed passage or is dropped when
its rowid no longer resolves. A rebuild writes new files under a new name (readers keep
the ones they mapped).
"""

from __future__ import annotations

import mmap
import os
import threading
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple, Sequence

import numpy as np

if TYPE_CHECKING:
    import torch

FACTS = np.dtype([("source", "<i4"), ("day", "<i4")])
_GROW = 4096  # rows the files grow by at least, so that writers rarely resize them
# How far a cosine of unit vectors computed in float16 (products summed in float32, the
# result rounded to float16) can be from float32's: each factor's rounding moves a product
# by at most 2^-11 of it, the products' magnitudes sum to at most 1, and the result's
# rounding adds 2^-11 more. Measured at a million real passages: 0.00024 at most.
_HALF_ERROR = 2.0**-9
_SHORTLIST = 4  # rows scored again in full precision, per row asked for (at first)


class _Mapped(NamedTuple):
    rows: int
    vectors: np.ndarray  # float32
    half: torch.Tensor | None  # float16, over the same rows (None: no rows)
    facts: np.ndarray


class Vectors:
    """One set of files, `{stem}.f32`, `{stem}.f16` and `{stem}.facts`: rows of `dim` floats."""

    def __init__(self, folder: Path, stem: str, dim: int) -> None:
        self.stem = stem
        self.dim = dim
        self._vectors_path = folder / f"{stem}.f32"
        self._half_path = folder / f"{stem}.f16"
        self._facts_path = folder / f"{stem}.facts"
        self._mapped: _Mapped | None = None
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
        half = vectors.astype(np.float16)
        need = max(rows) + 1
        with _opened(self._vectors_path) as v, _opened(self._half_path) as h, _opened(self._facts_path) as f:
            _grow(v, need, 4 * self.dim)
            _grow(h, need, 2 * self.dim)
            _grow(f, need, FACTS.itemsize)
            for n, row in enumerate(rows):  # rows of one write are consecutive, mostly: cheap either way
                os.pwrite(v, vectors[n].tobytes(), row * 4 * self.dim)
                os.pwrite(h, half[n].tobytes(), row * 2 * self.dim)
                os.pwrite(f, facts[n : n + 1].tobytes(), row * FACTS.itemsize)
            for fd in (v, h, f):
                os.fsync(fd)

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
        for path in (self._vectors_path, self._half_path, self._facts_path):
            path.unlink(missing_ok=True)

    # --- reading -------------------------------------------------------------------

    def search(self, query: np.ndarray, k: int, keep: np.ndarray | None = None) -> list[tuple[int, float]]:
        """The k rows nearest to the query (cosine, highest first) among those holding a
        passage and, if given, `keep`'s (a mask over `facts()`'s rows)."""
        import torch

        mapped = self._map()
        if not mapped.rows or k <= 0 or mapped.half is None:
            return []
        query = np.asarray(query, dtype=np.float32)
        rough = torch.mv(mapped.half, torch.from_numpy(query).half()).float().numpy()
        allowed = mapped.facts["source"] > 0
        if keep is not None:
            allowed &= keep[: mapped.rows]
        rough[~allowed] = -np.inf
        allowed_rows = int(allowed.sum())
        k = min(k, allowed_rows)
        if k == 0:
            return []
        taken = min(allowed_rows, _SHORTLIST * k)
        while True:
            short = np.sort(np.argpartition(-rough, taken - 1)[:taken])  # in row order: read forwards
            exact = mapped.vectors[short] @ query
            order = np.argsort(-exact, kind="stable")[:k]
            # A row left out scores at most its rough score plus the error: done when that
            # cannot reach the k-th exact score.
            if taken == allowed_rows or rough[short].min() + _HALF_ERROR < exact[order[-1]]:
                return [(int(short[i]), float(exact[i])) for i in order]
            taken = min(allowed_rows, 4 * taken)

    def facts(self) -> np.ndarray:
        """Every row's source number and day (what filters test), as mapped now."""
        return self._map().facts

    def vectors(self, rows: Sequence[int]) -> dict[int, np.ndarray]:
        """The vectors of those of the rows that hold a passage."""
        mapped = self._map()
        return {r: np.array(mapped.vectors[r]) for r in rows if r < mapped.rows and mapped.facts["source"][r] > 0}

    def _map(self) -> _Mapped:
        """The files as they are now, mapped again when a writer has grown them."""
        try:
            rows = min(self._vectors_path.stat().st_size // (4 * self.dim),
                       self._half_path.stat().st_size // (2 * self.dim),
                       self._facts_path.stat().st_size // FACTS.itemsize)
        except FileNotFoundError:
            rows = 0
        with self._mapping:
            if self._mapped is None or self._mapped.rows != rows:
                self._mapped = self._mapping_of(rows)
            return self._mapped

    def _mapping_of(self, rows: int) -> _Mapped:
        if rows == 0:
            return _Mapped(0, np.zeros((0, self.dim), np.float32), None, np.zeros(0, FACTS))
        import torch

        half = _mapped(self._half_path, np.float16, (rows, self.dim), "MADV_SEQUENTIAL")  # scanned whole
        with warnings.catch_warnings():  # read-only memory: torch warns that writing would fail; nothing writes
            warnings.simplefilter("ignore", UserWarning)
            tensor = torch.from_numpy(half)
        return _Mapped(rows, _mapped(self._vectors_path, np.float32, (rows, self.dim), "MADV_RANDOM"), tensor,
                       _mapped(self._facts_path, FACTS, (rows,), "MADV_SEQUENTIAL"))


def _mapped(path: Path, dtype: np.dtype | type, shape: tuple[int, ...], advice: str) -> np.ndarray:
    """A read-only array over the file's first rows, mapped with the kernel told how it is
    read: ahead for a scan, exactly the pages asked for by rows picked here and there (its
    default reads around each, and then a search's first rescoring waited 0.45 s on a cold
    disk, for what `pread` reads in 0.01 s). The array keeps the map open."""
    with open(path, "rb") as file:
        mapping = mmap.mmap(file.fileno(), int(np.prod(shape)) * np.dtype(dtype).itemsize, prot=mmap.PROT_READ)
    if hasattr(mmap, advice):  # Unix only
        mapping.madvise(getattr(mmap, advice))
    return np.frombuffer(mapping, dtype=dtype).reshape(shape)


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
    # By a 32nd at least: a search scans the empty rows at the end too (an 8th cost the
    # search of a million passages 11% more rows).
    os.ftruncate(fd, max(rows, have + max(_GROW, have // 32)) * row_bytes)
