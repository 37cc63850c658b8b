"""Near-duplicate articles: the same wire story from several outlets, or a repost.

Each article gets a MinHash signature of its word 5-shingles; articles whose estimated
Jaccard similarity passes THRESHOLD share a cluster, named after the first article of
it that was stored. Signatures live in the articles' records, so the index is rebuilt
from the store at each ingest.
"""

from __future__ import annotations

import re
from typing import Iterable

import numpy as np

PERMUTATIONS = 64
SHINGLE_WORDS = 5
THRESHOLD = 0.8
SCHEME = "affine32"  # 32-bit hash values: what the stored signatures hold
_WORD = re.compile(r"\w+")


def signature(text: str) -> str:
    """The article's MinHash signature, as hex text (Chroma metadata holds no arrays)."""
    from datasketch import MinHash

    words = _WORD.findall(text.casefold())
    shingles = {" ".join(words[i : i + SHINGLE_WORDS]) for i in range(max(1, len(words) - SHINGLE_WORDS + 1))}
    minhash = MinHash(num_perm=PERMUTATIONS, seed=1, scheme=SCHEME)
    minhash.update_batch([s.encode("utf-8") for s in shingles])
    return minhash.hashvalues.astype(np.uint32).tobytes().hex()


class Clusters:
    """Which stored article a new one duplicates, if any."""

    def __init__(self, stored: Iterable[tuple[str, str, str]]) -> None:
        """`stored`: (article id, its signature, its cluster) of the articles in the store."""
        from datasketch import MinHashLSH

        self._lsh = MinHashLSH(threshold=THRESHOLD, num_perm=PERMUTATIONS)
        self._cluster: dict[str, str] = {}
        for article_id, hexed, cluster in stored:
            self.add(article_id, hexed, cluster)

    def find(self, hexed: str) -> str | None:
        """The cluster of a stored near-duplicate of the article with this signature."""
        matches = sorted(self._lsh.query(_minhash(hexed)))
        return self._cluster[matches[0]] if matches else None

    def add(self, article_id: str, hexed: str, cluster: str) -> None:
        if article_id in self._cluster:
            self._lsh.remove(article_id)
        self._lsh.insert(article_id, _minhash(hexed))
        self._cluster[article_id] = cluster

    def remove(self, article_id: str) -> None:
        if self._cluster.pop(article_id, None) is not None:
            self._lsh.remove(article_id)


def _minhash(hexed: str):  # type: ignore[no-untyped-def]
    from datasketch import MinHash

    values = np.frombuffer(bytes.fromhex(hexed), dtype=np.uint32)
    return MinHash(num_perm=PERMUTATIONS, seed=1, hashvalues=values, scheme=SCHEME)
