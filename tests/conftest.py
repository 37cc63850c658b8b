"""Shared fixtures: the shipped seeds, ingested once per test session into a temp store."""

from __future__ import annotations

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
