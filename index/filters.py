"""Which articles a question may draw on: by source and by published date.

Dates are stored on every chunk as `published_day` (days since 1970-01-01, UTC) so that
Chroma can compare them; sources as `source_key` (case-folded) so that `--source bbc`
matches "BBC". An article with no date never passes a date filter.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timezone
from typing import Any, Iterable, Mapping, Sequence

import numpy as np

from index.errors import ConfigError

_EPOCH = date(1970, 1, 1)
NO_DAY = -(10**6)  # stored for an undated article: before any date a filter can name


def day_number(published: str | None) -> int:
    """The day of an ISO 8601 date or date-time, as days since 1970-01-01 (UTC)."""
    if not published:
        return NO_DAY
    if len(published) == 10:
        return (date.fromisoformat(published) - _EPOCH).days
    moment = datetime.fromisoformat(published)
    if moment.tzinfo is not None:
        moment = moment.astimezone(timezone.utc)
    return (moment.date() - _EPOCH).days


def source_key(source: str) -> str:
    return " ".join(source.casefold().split())


@dataclass(frozen=True)
class Filters:
    """Sources to keep (any of them; empty keeps all) and an inclusive date range."""

    sources: tuple[str, ...] = ()
    since: date | None = None
    until: date | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "sources", tuple(source_key(s) for s in self.sources if s.strip()))
        if self.since and self.until and self.since > self.until:
            raise ConfigError(
                f"the date range is empty: since {self.since} is after until {self.until}"
            )

    @classmethod
    def parse(
        cls, sources: Iterable[str] | str | None = None, since: str | date | None = None,
        until: str | date | None = None,
    ) -> Filters:
        """Filters from user input: a source or list of them, and YYYY-MM-DD dates."""
        if isinstance(sources, str):
            sources = [sources]
        return cls(tuple(sources or ()), _date("since", since), _date("until", until))

    def __bool__(self) -> bool:
        return bool(self.sources or self.since or self.until)

    @property
    def _first_day(self) -> int:
        """The earliest day in range: `since`, or else the first day a date can have."""
        return (self.since - _EPOCH).days if self.since else NO_DAY + 1

    def where(self) -> dict[str, Any] | None:
        """The Chroma `where` clause over chunk metadata, or None for no filter."""
        clauses: list[dict[str, Any]] = []
        if self.sources:
            clauses.append({"source_key": {"$in": list(self.sources)}})
        if self.since or self.until:  # an undated article is in no date range
            clauses.append({"published_day": {"$gte": self._first_day}})
        if self.until:
            clauses.append({"published_day": {"$lte": (self.until - _EPOCH).days}})
        if not clauses:
            return None
        return clauses[0] if len(clauses) == 1 else {"$and": clauses}

    def sql(self) -> tuple[str, list[Any]]:
        """The same test as SQL over columns `source_key` and `day`, with its parameters
        ("1" for no filter)."""
        clauses, params = [], []
        if self.sources:
            clauses.append(f"source_key IN ({', '.join('?' * len(self.sources))})")
            params += list(self.sources)
        if self.since or self.until:
            clauses.append("day >= ?")
            params.append(self._first_day)
        if self.until:
            clauses.append("day <= ?")
            params.append((self.until - _EPOCH).days)
        return " AND ".join(clauses) or "1", params

    def mask(self, sources: np.ndarray, days: np.ndarray, wanted: Sequence[int] | None = None) -> np.ndarray:
        """`matches` for many chunks at once, given their source keys and days; or, with
        `wanted` (the numbers that stand for this filter's sources), their sources' numbers."""
        keep = (np.isin(sources, self.sources if wanted is None else list(wanted)) if self.sources
                else np.ones(len(days), dtype=bool))
        if self.since or self.until:
            keep &= days >= self._first_day
        if self.until:
            keep &= days <= (self.until - _EPOCH).days
        return keep

    def matches(self, meta: Mapping[str, Any]) -> bool:
        """The same test as `where()`, in Python, for one chunk's metadata."""
        source = np.array([meta.get("source_key")], dtype=object)
        return bool(self.mask(source, np.array([int(meta.get("published_day", NO_DAY))]))[0])


def _date(name: str, value: str | date | None) -> date | None:
    if value is None or value == "":
        return None
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(value.strip())
    except ValueError:
        raise ConfigError(f"the {name} date {value!r} is not a date of the form YYYY-MM-DD") from None
