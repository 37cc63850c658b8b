"""A passage's sentences packed into its record: offsets exact, vectors close (index/packing.py)."""

from __future__ import annotations

import numpy as np
import pytest

from index.packing import pack, unpack


def _unit(rows: int, dim: int, seed: int) -> np.ndarray:
    vectors = np.random.default_rng(seed).standard_normal((rows, dim)).astype(np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def test_offsets_come_back_exactly_and_cosines_within_a_few_ten_thousandths() -> None:
    spans = [(0, 41), (42, 97), (98, 1_000_000)]
    vectors = _unit(3, 384, seed=0)
    found = unpack(pack(spans, vectors), count=3, dim=384)
    assert [(s.start, s.end) for s in found] == spans
    questions = _unit(200, 384, seed=1)
    got = np.stack([s.vector for s in found]) @ questions.T
    error = np.abs(got - vectors @ questions.T)
    assert error.mean() < 5e-4 and error.max() < 2.5e-3
    assert all(s.vector.dtype == np.float32 for s in found)


def test_a_passage_without_sentences_packs_to_nothing() -> None:
    assert pack([], np.zeros((0, 384), dtype=np.float32)) == ""
    assert unpack("", count=0, dim=384) == []


def test_a_pack_of_another_size_is_refused_not_misread() -> None:
    packed = pack([(0, 5)], _unit(1, 384, seed=2))
    with pytest.raises(ValueError, match="not 2 of 384"):
        unpack(packed, count=2, dim=384)
    with pytest.raises(ValueError, match="2 sentences but 1 vectors"):
        pack([(0, 5), (6, 9)], _unit(1, 384, seed=3))
