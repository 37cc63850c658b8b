"""Filters: parsing user input, and the Chroma clause agreeing with the Python test."""

from datetime import date

import numpy as np
import pytest

from index.errors import ConfigError
from index.filters import NO_DAY, Filters, day_number


def test_days_count_from_1970_in_utc() -> None:
    assert day_number("1970-01-02") == 1
    assert day_number("2005-03-01") == day_number("2005-03-01T23:30:00")
    assert day_number("2005-03-01T23:30:00-05:00") == day_number("2005-03-02")  # 04:30 UTC
    assert day_number(None) == NO_DAY


def test_parse_takes_one_source_or_several_and_folds_case() -> None:
    assert Filters.parse("BBC  News").sources == ("bbc news",)
    assert Filters.parse(["bbc", "Reuters"], since="2005-01-01").sources == ("bbc", "reuters")
    assert Filters.parse(since="2005-01-01").since == date(2005, 1, 1)
    assert not Filters.parse() and Filters.parse(until="2005-01-01")


@pytest.mark.parametrize(
    ("since", "until", "message"),
    [("1 May 2005", None, "the since date '1 May 2005' is not a date of the form YYYY-MM-DD"),
     ("2005-02-01", "2005-01-01", "the date range is empty")],
)
def test_bad_dates_say_what_to_type(since: str, until: str | None, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        Filters.parse(since=since, until=until)


def test_where_clause_and_matches_agree() -> None:
    f = Filters.parse(["bbc", "reuters"], since="2005-01-01", until="2005-12-31")
    assert f.where() == {"$and": [
        {"source_key": {"$in": ["bbc", "reuters"]}},
        {"published_day": {"$gte": day_number("2005-01-01")}},
        {"published_day": {"$lte": day_number("2005-12-31")}},
    ]}
    inside = {"source_key": "bbc", "published_day": day_number("2005-06-01")}
    assert f.matches(inside)
    assert not f.matches({**inside, "source_key": "ap"})
    assert not f.matches({**inside, "published_day": day_number("2006-01-01")})
    assert not f.matches({**inside, "published_day": NO_DAY})  # undated: never in a range
    until = Filters.parse(until="2005-12-31")
    assert not until.matches({"published_day": NO_DAY}) and until.matches(inside)
    assert until.where() == {"$and": [
        {"published_day": {"$gte": NO_DAY + 1}}, {"published_day": {"$lte": day_number("2005-12-31")}},
    ]}
    assert Filters.parse("bbc").where() == {"source_key": {"$in": ["bbc"]}}


def test_the_mask_over_many_chunks_agrees_with_matches() -> None:
    metas = [{"source_key": k, "published_day": d} for k in ("bbc", "ap")
             for d in (NO_DAY, day_number("2004-12-31"), day_number("2005-06-01"))]
    sources = np.array([m["source_key"] for m in metas], dtype=object)
    days = np.array([m["published_day"] for m in metas])
    for f in (Filters.parse("bbc"), Filters.parse(until="2005-01-01"),
              Filters.parse(["ap", "bbc"], since="2005-01-01"), Filters.parse(since="2004-01-01")):
        assert list(f.mask(sources, days)) == [f.matches(m) for m in metas]
    assert Filters().where() is None and Filters().matches({})
