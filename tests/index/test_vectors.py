"""The passages' vector files beside the lexical index: exact search, filters, rows that a
reader maps while a writer appends, and what a killed writer leaves. Real files, real
SQLite; vectors made up (the model is not what these tests are about)."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import numpy as np

from index.filters import Filters, day_number
from index.lexical import FILE, VECTORS_PREFIX, LexicalArticle, LexicalIndex, LexicalPassage
from index.vectors import Vectors

DIM = 8


def _unit(seed: int) -> np.ndarray:
    vector = np.random.default_rng(seed).normal(size=DIM).astype(np.float32)
    return vector / np.linalg.norm(vector)


def _article(article_id: str, source: str = "BBC") -> LexicalArticle:
    return LexicalArticle(article_id, f"Article {article_id}", source, "", "", 2, article_id)


def _passages(article_id: str, seeds: tuple[int, int], source: str = "bbc", day: str = "2005-03-01") -> list[LexicalPassage]:
    return [LexicalPassage(f"{article_id}#{n}", article_id, source, day_number(day), f"Passage {n} of {article_id}",
                           _unit(seed)) for n, seed in enumerate(seeds)]


def _index(tmp_path: Path) -> LexicalIndex:
    lexical = LexicalIndex(tmp_path / FILE)
    lexical.update(articles=[_article("a"), _article("b", "Reuters")],
                   passages=_passages("a", (1, 2)) + _passages("b", (3, 4), "reuters", "2023-03-22"), stamp=(1, "s"))
    return lexical


def test_the_nearest_are_the_exact_cosine_ranking(tmp_path: Path) -> None:
    lexical = _index(tmp_path)
    query = _unit(3) + 0.3 * _unit(1)
    query /= np.linalg.norm(query)
    cosines = {f"{a}#{n}": float(_unit(seed) @ query) for a, seeds in (("a", (1, 2)), ("b", (3, 4)))
               for n, seed in enumerate(seeds)}
    expected = sorted(cosines, key=lambda i: -cosines[i])
    found = lexical.nearest(query, 4)
    assert [i for i, _ in found] == expected
    assert all(abs(cos - cosines[i]) < 1e-6 for i, cos in found)
    assert lexical.vectors_of(["b#0", "gone"]).keys() == {"b#0"}
    assert np.allclose(lexical.vectors_of(["b#0"])["b#0"], _unit(3))


def test_near_ties_that_half_precision_cannot_tell_apart_are_still_ranked_exactly(tmp_path: Path) -> None:
    # 300 passages whose cosines to the query (about 0.89) all lie within 0.0005, float16's
    # step there: the half-precision scan sees them tied, so the search must score more of
    # them again than it first takes.
    rng = np.random.default_rng(0)
    base = _unit(1)
    vectors = base + 1e-4 * rng.normal(size=(300, DIM)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    lexical = LexicalIndex(tmp_path / FILE)
    lexical.update(articles=[_article("a")], stamp=(1, "s"), passages=[
        LexicalPassage(f"a#{n}", "a", "bbc", 0, f"Passage {n}", v) for n, v in enumerate(vectors)])
    query = base + 2 * _unit(2)
    query /= np.linalg.norm(query)
    cosines = vectors @ query
    best = np.sort(cosines)[::-1][:6]
    assert np.ptp(cosines) < 2.0**-11 and (np.diff(best) < -1e-7).all()  # tied in float16, not in float32
    expected = [f"a#{n}" for n in np.argsort(-cosines, kind="stable")[:5]]
    assert [i for i, _ in lexical.nearest(query, 5)] == expected


def test_filters_are_masks_over_the_rows(tmp_path: Path) -> None:
    lexical = _index(tmp_path)
    query = _unit(3)
    assert {i for i, _ in lexical.nearest(query, 4, Filters.parse("BBC"))} == {"a#0", "a#1"}
    assert {i for i, _ in lexical.nearest(query, 4, Filters.parse(since="2020-01-01"))} == {"b#0", "b#1"}
    assert not lexical.nearest(query, 4, Filters.parse("BBC", until=date(2001, 1, 1)))
    assert not lexical.nearest(query, 4, Filters.parse("AP"))


def test_a_reader_sees_what_a_writer_appends_and_deletes_without_reopening(tmp_path: Path) -> None:
    writer, reader = _index(tmp_path), LexicalIndex(tmp_path / FILE)  # as two processes would
    assert len(reader.nearest(_unit(9), 10)) == 4
    writer.update(articles=[_article("c")], passages=_passages("c", (9, 10)), stamp=(2, "s"))
    assert reader.nearest(_unit(9), 1)[0][0] == "c#0"
    writer.update(removed=["c"], stamp=(3, "s"))
    assert {i for i, _ in reader.nearest(_unit(9), 10)} == {"a#0", "a#1", "b#0", "b#1"}


def test_rows_no_committed_passage_holds_are_never_returned(tmp_path: Path) -> None:
    lexical = _index(tmp_path)
    vectors = lexical._current_vectors()
    assert vectors is not None
    # A writer killed after writing its rows and before its transaction committed.
    vectors.write([5, 6], np.stack([_unit(7), _unit(8)]), [1, 1], [0, 0])
    assert {i for i, _ in lexical.nearest(_unit(7), 10)} == {"a#0", "a#1", "b#0", "b#1"}
    # The next writer gets those rowids again (AUTOINCREMENT rolled back) and overwrites them.
    lexical.update(articles=[_article("c")], passages=_passages("c", (11, 12)), stamp=(2, "s"))
    assert lexical.nearest(_unit(11), 1)[0][0] == "c#0"
    (found, cosine), = lexical.nearest(_unit(12), 1)
    assert found == "c#1" and abs(cosine - 1) < 1e-6


def test_a_rebuild_writes_new_files_and_removes_the_old(tmp_path: Path) -> None:
    lexical = _index(tmp_path)
    before = lexical._current_vectors()
    assert before is not None
    lexical.update(articles=[_article("d")], passages=_passages("d", (5, 6)), stamp=(9, "s"), clear=True)
    after = lexical._current_vectors()
    assert after is not None and after.stem != before.stem
    assert {p.name.split(".")[0] for p in tmp_path.glob(f"{VECTORS_PREFIX}*")} == {after.stem}
    assert {i for i, _ in lexical.nearest(_unit(5), 10)} == {"d#0", "d#1"}
    # Rows start again from 1: a reader still searching the old files must not take their
    # rows for the new passages of the same rowids.
    assert lexical._resolve(before.stem, "rowid", [1]) is None
    assert lexical._resolve(after.stem, "rowid", [1]) == {1: "d#0"}


def test_passages_without_a_vector_are_found_by_words_alone(tmp_path: Path) -> None:
    lexical = LexicalIndex(tmp_path / FILE)
    lexical.update(articles=[_article("a")], passages=[LexicalPassage("a#0", "a", "bbc", 0, "Ferry strike ends")])
    assert lexical.nearest(_unit(1), 3) == [] and lexical.search("ferry", 3)


def test_the_files_grow_in_steps_and_map_again_when_they_do(tmp_path: Path) -> None:
    vectors = Vectors(tmp_path, "v", DIM)
    assert vectors.search(_unit(1), 3) == []
    vectors.write([1], _unit(1)[None], [1], [0])
    size = (tmp_path / "v.f32").stat().st_size
    vectors.write([2], _unit(2)[None], [1], [0])
    assert (tmp_path / "v.f32").stat().st_size == size  # room was made for more than one row
    vectors.write([size // (4 * DIM) + 5], _unit(3)[None], [2], [0])  # past the end: grows
    assert [row for row, _ in vectors.search(_unit(3), 1)] == [size // (4 * DIM) + 5]
    vectors.clear([1])
    assert {row for row, _ in vectors.search(_unit(1), 10)} == {2, size // (4 * DIM) + 5}
