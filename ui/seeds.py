"""The sample articles the product ships with, and filling an empty store with them."""

from __future__ import annotations

from pathlib import Path

import index
from index.settings import Settings

SEEDS = Path(__file__).resolve().parent.parent / "seeds"


def seed_if_empty(settings: Settings, seeds: Path = SEEDS) -> None:
    """On first start (of the chat or the API), fill an empty store with seeds/."""
    try:
        empty = index.open_store(settings=settings).is_empty()
    except index.StoreError:
        empty = True  # no store yet
    if empty and seeds.is_dir():
        print(f"The store at {settings.where} is empty: ingesting the sample articles in {seeds}")
        print(index.ingest([seeds], settings=settings).summary())
