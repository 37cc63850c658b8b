"""Near-duplicate articles: the same wire story from several outlets, or a repost.

Each article gets a MinHash signature of its word 5-shingles; articles whose estimated
Jaccard similarity passes THRESHOLD share a cluster, named after the first article of
it that was stored. Signatures live in the articles' records; their LSH keys live in the
lexical index (`index.lexical`), so that an ingest looks up a new article's few keys
instead of reading every record.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any, Callable

import numpy as np

PERMUTATIONS = 64
SHINGLE_WORDS = 5
THRESHOLD = 0.8
SCHEME = "affine32"  # 32-bit hash values: what the stored signatures hold
_WORD = re.compile(r"\w+")


@lru_cache(maxsize=1)
def _permutations() -> Any:
    """The permutations MinHash draws from its seed: drawn once, not for every article
    (a tenth of the time of a signature)."""
    from datasketch import MinHash

    return MinHash(num_perm=PERMUTATIONS, seed=1, scheme=SCHEME).permutations


def signature(text: str) -> str:
    """The article's MinHash signature, as hex text (Chroma metadata holds no arrays)."""
    from datasketch import MinHash

    words = _WORD.findall(text.casefold())
    shingles = {" ".join(words[i : i + SHINGLE_WORDS]) for i in range(max(1, len(words) - SHINGLE_WORDS + 1))}
    minhash = MinHash(num_perm=PERMUTATIONS, seed=1, scheme=SCHEME, permutations=_permutations())
    minhash.update_batch([s.encode("utf-8") for s in shingles])
    return minhash.hashvalues.astype(np.uint32).tobytes().hex()


# datasketch's MinHashLSH optimum for THRESHOLD and PERMUTATIONS (a test checks it).
BANDS, ROWS = 5, 11


def band_keys(hexed: str) -> list[bytes]:
    """The LSH keys of a signature (band number, then the band's values): two articles are
    candidate near-duplicates when they share a key, as in datasketch's MinHashLSH."""
    values = bytes.fromhex(hexed)
    width = 4 * ROWS  # bytes of a band: ROWS 32-bit values
    return [bytes([band]) + values[band * width : (band + 1) * width] for band in range(BANDS)]


class Clusters:
    """Which stored article a new one duplicates, if any.

    The stored articles' keys are looked up in the lexical index (`stored`: keys to the
    {article id: cluster} of stored articles that hold one of them); the articles of this
    ingest, not yet stored, are kept here, and so are the stored ones it replaced or removed.
    """

    def __init__(self, stored: Callable[[list[bytes]], dict[str, str]]) -> None:
        self._stored = stored
        self._entries: dict[str, tuple[list[bytes], str]] = {}
        self._keys: dict[bytes, set[str]] = {}
        self._removed: set[str] = set()

    def find(self, hexed: str) -> str | None:
        """The cluster of a near-duplicate of the article with this signature (the one
        with the smallest id)."""
        keys = band_keys(hexed)
        found = {i: c for i, c in self._stored(keys).items() if i not in self._removed}
        for key in keys:
            for article_id in self._keys.get(key, ()):
                found[article_id] = self._entries[article_id][1]
        return found[min(found)] if found else None

    def add(self, article_id: str, hexed: str, cluster: str) -> None:
        self.remove(article_id)
        keys = band_keys(hexed)
        self._entries[article_id] = (keys, cluster)
        for key in keys:
            self._keys.setdefault(key, set()).add(article_id)

    def remove(self, article_id: str) -> None:
        self._removed.add(article_id)
        keys, _ = self._entries.pop(article_id, ([], ""))
        for key in keys:
            self._keys[key].discard(article_id)
