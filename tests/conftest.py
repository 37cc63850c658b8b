"""Shared fixtures: the shipped seeds, ingested once per test session into a temp store."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import index
from index.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
SEEDS = ROOT / "seeds"
VOTES = "How many votes did Maduro get?"


@pytest.fixture(scope="session")
def seeded_settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    settings = Settings.from_env(store=tmp_path_factory.mktemp("seeded") / "store")
    report = index.ingest([SEEDS], settings=settings, progress=False)
    assert len(report.added) == 2 and not report.failed
    return settings


@pytest.fixture()
def store_settings(tmp_path: Path) -> Settings:
    """Settings for a fresh, empty store of this test's own."""
    return Settings.from_env(store=tmp_path / "store")


# Four short reports from two outlets on three days: enough to see filters and deletion.
NEWS = [
    {"id": "bbc-ferry", "source": "BBC", "published": "2005-03-01", "author": "Ann Lee",
     "title": "Ferry strike ends",
     "text": "Ferry strike ends\n\nThe ferry strike in Dover ended on Tuesday after 12 days, "
             "when the union accepted a pay rise of 4%."},
    {"id": "bbc-budget", "source": "BBC", "published": "2005-06-10",
     "title": "Budget sets new tax band",
     "text": "Budget sets new tax band\n\nThe chancellor announced a new tax band of 22% "
             "for incomes above 40,000 pounds."},
    {"id": "wire-ferry", "source": "Reuters", "published": "2006-01-15",
     "title": "Ferry workers vote on strike",
     "text": "Ferry workers vote on strike\n\nFerry workers in Calais voted to strike for 3 "
             "days over staffing levels, the union said."},
    {"id": "undated-note", "source": "Reuters", "title": "Harbour crane installed",
     "text": "Harbour crane installed\n\nA new crane was installed at the harbour in Calais."},
]


@pytest.fixture()
def news_settings(tmp_path: Path) -> Settings:
    """A fresh store of this test's own holding NEWS."""
    feed = tmp_path / "news.jsonl"
    feed.write_text("".join(json.dumps(item) + "\n" for item in NEWS))
    settings = Settings.from_env(store=tmp_path / "store")
    report = index.ingest([feed], settings=settings, progress=False)
    assert len(report.added) == len(NEWS) and not report.failed
    return settings
