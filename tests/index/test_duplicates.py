"""Near-duplicate clusters: the LSH keys kept in the lexical index find what datasketch's
MinHashLSH finds, for articles stored earlier as for those of the same ingest."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from datasketch import MinHash, MinHashLSH

import index
from index.duplicates import BANDS, PERMUTATIONS, ROWS, SCHEME, THRESHOLD, Clusters, signature
from index.settings import Settings

BODY = " ".join(f"Dock {i} in Dover reopened after the strike and crews cleared {i * 40} lorries." for i in range(8))


def _minhash(hexed: str) -> MinHash:
    values = np.frombuffer(bytes.fromhex(hexed), dtype=np.uint32)
    return MinHash(num_perm=PERMUTATIONS, seed=1, hashvalues=values, scheme=SCHEME)


def test_a_signature_is_datasketchs_own_minhash_of_the_shingles() -> None:
    # Signatures are stored: whatever makes them faster must not change them.
    words = BODY.casefold().replace(".", " ").split()
    plain = MinHash(num_perm=PERMUTATIONS, seed=1, scheme=SCHEME)
    plain.update_batch([" ".join(words[i : i + 5]).encode() for i in range(len(words) - 4)])
    assert signature(BODY) == plain.hashvalues.astype(np.uint32).tobytes().hex()


def test_the_bands_are_datasketchs_optimum() -> None:
    lsh = MinHashLSH(threshold=THRESHOLD, num_perm=PERMUTATIONS)
    assert (lsh.b, lsh.r) == (BANDS, ROWS)


def test_candidates_are_those_minhash_lsh_finds() -> None:
    texts = [BODY, BODY + " Services resume.", BODY.replace("crews", "workers"),
             BODY.replace("Dover", "Calais").replace("strike", "storm"), "A crane was installed at the harbour."]
    signatures = [signature(t) for t in texts]
    lsh = MinHashLSH(threshold=THRESHOLD, num_perm=PERMUTATIONS)
    clusters = Clusters(lambda keys: {})
    for n, hexed in enumerate(signatures[:-1]):
        lsh.insert(f"a{n}", _minhash(hexed))
        clusters.add(f"a{n}", hexed, f"a{n}")
    for hexed in signatures:
        expected = sorted(lsh.query(_minhash(hexed)))
        assert clusters.find(hexed) == (expected[0] if expected else None)


@pytest.mark.slow
def test_an_article_stored_by_an_earlier_ingest_is_found_in_the_index(embedded_settings: Settings, tmp_path: Path) -> None:
    for n, (article_id, text) in enumerate((("wire-dover", BODY), ("post-dover", BODY + " Services resume."))):
        feed = tmp_path / f"{n}.jsonl"
        feed.write_text(json.dumps({"id": article_id, "title": article_id, "text": text}) + "\n")
        index.ingest([feed], settings=embedded_settings, progress=False)
    listing = index.open_store(settings=embedded_settings).lexical().listing()
    assert {a.id: a.cluster for a in listing.newest} == {"wire-dover": "wire-dover", "post-dover": "wire-dover"}
    assert (listing.duplicate_clusters, listing.duplicate_articles) == (1, 2)

