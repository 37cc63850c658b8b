"""A frozen BM25 segment: bm25s over the lexical index's passages up to one row, saved in
a folder and memory-mapped by every reader.

FTS5's bm25() scores every passage that holds a query word: 23 ms a query at 100,000
passages, 211 ms at a million. bm25s answers the same query in 2 ms at a million, but
cannot change. So the lexical index ranks its passages in two parts: this segment, rebuilt
now and then from the index's own rows (never from Chroma), and FTS5 for the passages
added since. Passages deleted since are masked out. bm25s's "robertson" variant is
FTS5's bm25 (same k1, b and idf; a word in more than half the passages weighs nothing in
either) divided by k1 + 1, so the two parts' scores are merged after multiplying this
one's by it; their corpus statistics differ by the passages added since the segment was
built (at most `rebuild_threshold`).
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from index.filters import Filters

K1, B = 1.2, 0.75  # FTS5's bm25() constants
REBUILD_AT = 20_000  # passages outside the segment that call for a new one ...
REBUILD_SHARE = 0.1  # ... or this share of all the passages, when that is more
PREFIX = "newsqa-lexical-segment-"


def rebuild_threshold(passages: int) -> int:
    """How many passages outside the segment call for a new one, in an index of this many.

    A rebuild reads every passage (two minutes at a million), so a fixed step would make
    its cost per passage added grow with the index: 6 ms a passage at a million, every
    20,000, about half of what embedding it costs. A step that grows with the index keeps
    it at about 1 ms; FTS5 then ranks at most a tenth of the passages (22 ms a query at
    100,000).
    """
    return max(REBUILD_AT, int(REBUILD_SHARE * passages))


@dataclass
class Segment:
    folder: Path
    last_row: int  # the largest rowid it holds
    rows: np.ndarray  # rowids, in the segment's document order
    sources: np.ndarray  # per document, an index into `source_keys`
    source_keys: list[str]
    days: np.ndarray
    model: object  # bm25s.BM25
    dead_version: str = ""  # which set of deleted rows it masks (the index's meta "dead")
    _alive: np.ndarray = field(default_factory=lambda: np.zeros(0, np.float32))
    _masks: dict[Filters, np.ndarray] = field(default_factory=dict)

    @classmethod
    def load(cls, folder: Path, last_row: int) -> Segment:
        import bm25s

        facts = json.loads((folder / "facts.json").read_text())
        model = bm25s.BM25.load(str(folder), mmap=True, load_corpus=False, show_progress=False)
        segment = cls(folder, last_row, np.load(folder / "rows.npy", mmap_mode="r"),
                      np.load(folder / "sources.npy", mmap_mode="r"), facts["source_keys"],
                      np.load(folder / "days.npy", mmap_mode="r"), model)
        segment.set_dead(frozenset(), "")
        return segment

    def set_dead(self, dead: frozenset[int], version: str) -> None:
        """Mask out the rows deleted since the segment was built (`version` names the set)."""
        self.dead_version = version
        alive = np.ones(len(self.rows), dtype=np.float32)
        if dead:
            alive[np.isin(self.rows, np.fromiter(dead, dtype=np.int64))] = 0
        self._alive, self._masks = alive, {}

    def search(self, words: list[str], k: int, filters: Filters | None) -> list[tuple[int, float]]:
        """(rowid, FTS5-scaled score) of the k best documents holding any of the words."""
        vocabulary = self.model.vocab_dict  # type: ignore[attr-defined]
        known = [w for w in words if w in vocabulary]
        if not known:
            return []
        scores = self.model.get_scores(known, weight_mask=self._mask(filters))  # type: ignore[attr-defined]
        k = min(k, len(scores))
        top = np.argpartition(-scores, k - 1)[:k]
        top = top[np.argsort(-scores[top], kind="stable")]
        return [(int(self.rows[i]), float(scores[i]) * (K1 + 1)) for i in top if scores[i] > 0]

    def _mask(self, filters: Filters | None) -> np.ndarray:
        if not filters:
            return self._alive
        if filters not in self._masks:
            wanted = [n for n, key in enumerate(self.source_keys) if key in filters.sources]
            keep = filters.mask(np.asarray(self.sources), np.asarray(self.days), wanted)
            if len(self._masks) > 32:  # a few filters recur; don't keep every one ever asked
                self._masks.clear()
            self._masks[filters] = self._alive * keep
        return self._masks[filters]


def build(db: sqlite3.Connection, into: Path) -> tuple[Path, int] | None:
    """A new segment of every passage in the index, in a folder of its own under `into`;
    None when there are none. Read inside one transaction: a consistent snapshot."""
    import bm25s

    rows, sources, days, tokens = [], [], [], []
    keys: dict[str, int] = {}
    vocabulary: dict[str, int] = {}
    db.execute("BEGIN")
    try:
        for rowid, source, day, text in db.execute(
            "SELECT p.rowid, p.source_key, p.day, w.terms FROM passages AS p "
            "JOIN words AS w ON w.rowid = p.rowid ORDER BY p.rowid"
        ):
            rows.append(rowid)
            sources.append(keys.setdefault(source, len(keys)))
            days.append(day)
            tokens.append([vocabulary.setdefault(t, len(vocabulary)) for t in text.split()])
    finally:
        db.execute("COMMIT")
    if not rows:
        return None
    model = bm25s.BM25(k1=K1, b=B, method="robertson")
    model.index(bm25s.tokenization.Tokenized(ids=tokens, vocab=vocabulary), show_progress=False)
    folder = into / f"{PREFIX}{rows[-1]}"
    partial = into / f"{PREFIX}{rows[-1]}.partial-{os.getpid()}"
    shutil.rmtree(partial, ignore_errors=True)
    model.save(str(partial), show_progress=False)
    np.save(partial / "rows.npy", np.asarray(rows, dtype=np.int64))
    np.save(partial / "sources.npy", np.asarray(sources, dtype=np.int32))
    np.save(partial / "days.npy", np.asarray(days, dtype=np.int64))
    (partial / "facts.json").write_text(json.dumps({"source_keys": list(keys)}))
    shutil.rmtree(folder, ignore_errors=True)
    partial.rename(folder)  # readers only ever see a whole folder
    return folder, rows[-1]


def remove_others(into: Path, keep: str | None) -> None:
    """Delete the segments (and partial ones) other than `keep`: readers that mapped one
    keep reading it until they load the new one."""
    for folder in into.glob(f"{PREFIX}*"):
        if folder.name != keep:
            shutil.rmtree(folder, ignore_errors=True)
