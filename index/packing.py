"""A passage's sentences, packed into one metadata value of the passage's record.

The answerer reads each retrieved passage's sentences with their vectors (pooled from the
passage's token states at ingest). They are only ever read with their passage, never
searched, so they live in the passage's record instead of a record each: a record of its
own cost Chroma an entry in a vector index (about six a passage, six million at a
million passages) and made writing 3× slower (BENCHMARKS.md, "Sentences in their
passage's record").

The value is base64 text (Chroma's metadata holds str, int, float and bool) of, for the
n sentences: their article offsets (int32, start and end), one scale each (float32) and
their vectors in int8 (the vector divided by the scale, its largest component 127). A
sentence's cosine to a question moves by 0.0003 on average and at most about 0.001 (the
seeds' sentences; tests/index/test_packing.py checks random vectors): half the
bytes of float16, for features whose weights were fitted at two decimals.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import Sequence

import numpy as np

__all__ = ["StoredSentence", "pack", "raw", "unpack"]


@dataclass(frozen=True)
class StoredSentence:
    """A sentence of a stored passage: its offsets in the article and its vector."""

    start: int
    end: int
    vector: np.ndarray


def pack(spans: Sequence[tuple[int, int]], vectors: np.ndarray) -> str:
    """The sentences' offsets and vectors as one metadata string."""
    if len(spans) != len(vectors):
        raise ValueError(f"{len(spans)} sentences but {len(vectors)} vectors")
    if not len(spans):
        return ""
    vectors = np.asarray(vectors, dtype=np.float32)
    scales = np.abs(vectors).max(axis=1) / 127.0
    scales[scales == 0] = 1.0
    quantised = np.round(vectors / scales[:, None]).astype(np.int8)
    raw = np.asarray(spans, dtype="<i4").tobytes() + scales.astype("<f4").tobytes() + quantised.tobytes()
    return base64.b64encode(raw).decode("ascii")


def raw(packed: str) -> bytes:
    """`pack`'s value as bytes (the lexical index keeps them so: a quarter smaller)."""
    return base64.b64decode(packed)


def unpack(packed: str | bytes, count: int, dim: int) -> list[StoredSentence]:
    """The `count` sentences of `dim`-dimensional vectors that `pack` wrote (or its
    `raw` bytes), in order."""
    if count == 0 or not packed:
        return []
    raw = packed if isinstance(packed, bytes) else base64.b64decode(packed)
    if len(raw) != count * (8 + 4 + dim):
        raise ValueError(f"packed sentences of {len(raw)} bytes are not {count} of {dim} dimensions")
    spans = np.frombuffer(raw, dtype="<i4", count=2 * count).reshape(count, 2)
    scales = np.frombuffer(raw, dtype="<f4", count=count, offset=8 * count)
    vectors = np.frombuffer(raw, dtype=np.int8, offset=12 * count).reshape(count, dim) * scales[:, None]
    return [StoredSentence(int(s), int(e), v.astype(np.float32)) for (s, e), v in zip(spans, vectors)]
