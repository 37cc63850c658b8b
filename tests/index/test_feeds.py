"""RSS and Atom feeds, served with their pages from a real HTTP server on 127.0.0.1:
each item's page is ingested with the item's title, date and author and the feed's
name as source, and ingesting the feed again fetches only the new items."""

from __future__ import annotations

import subprocess
import sys

import pytest

import index
from index.settings import Settings
from tests.conftest import store_args, web_pages

pytestmark = pytest.mark.slow

PAGE = "<html><head><title>{title}</title></head><body><article><p>{text}</p></article></body></html>"
STORIES = {
    "/news/ferry": ("Ferry strike ends", "The ferry strike in Dover ended on Tuesday after twelve days of talks."),
    "/news/budget": ("Budget tax band", "The chancellor announced a new tax band of 22% for higher incomes."),
    "/news/crane": ("Harbour crane", "A new crane was installed at the harbour in Calais on Monday morning."),
}
ITEM = ("<item><title>{title} (feed title)</title><link>{base}{path}</link>"
        "<pubDate>Tue, 01 Mar 2005 09:30:00 GMT</pubDate><author>desk@example.org (Ann Lee)</author></item>")


def _rss(base: str, paths: list[str]) -> bytes:
    items = "".join(ITEM.format(title=STORIES[p][0], base=base, path=p) for p in paths)
    return (f'<?xml version="1.0"?><rss version="2.0"><channel><title>Harbour Gazette</title>'
            f"<link>{base}/</link>{items}</channel></rss>").encode()


def _atom(base: str, paths: list[str]) -> bytes:
    entries = "".join(
        f"<entry><title>{STORIES.get(p, ('Gone',))[0]}</title><link href='{base}{p}'/><id>{p}</id>"
        f"<updated>2005-03-02T10:00:00Z</updated><author><name>Bo Ek</name></author></entry>"
        for p in paths
    )
    return (f'<?xml version="1.0" encoding="utf-8"?><feed xmlns="http://www.w3.org/2005/Atom">'
            f"<title>Calais Courier</title><id>urn:c</id><updated>2005-03-02T10:00:00Z</updated>{entries}</feed>").encode()


def _pages() -> dict[str, tuple[int, str, bytes]]:
    return {path: (200, "text/html", PAGE.format(title=t, text=x).encode()) for path, (t, x) in STORIES.items()}


def test_a_feed_is_ingested_item_by_item_and_again_only_for_new_items(store_settings: Settings) -> None:
    pages = _pages()
    with web_pages(pages) as base:
        pages["/rss"] = (200, "application/rss+xml", _rss(base, ["/news/ferry", "/news/budget"]))
        report = index.ingest([f"{base}/rss"], settings=store_settings, progress=False)
        assert len(report.added) == 2 and not report.failed
        store = index.open_store(settings=store_settings)
        ferry = next(e for e in store.catalog() if e.url == f"{base}/news/ferry")
        article = store.article(ferry.id)
        assert (article.title, article.source) == ("Ferry strike ends (feed title)", "Harbour Gazette")
        assert article.published == "2005-03-01T09:30:00+00:00" and article.author
        assert "twelve days of talks" in article.text

        # The feed gains an item; the pages of the old ones are gone (a fetch would fail).
        pages["/rss"] = (200, "application/rss+xml", _rss(base, ["/news/ferry", "/news/budget", "/news/crane"]))
        del pages["/news/ferry"], pages["/news/budget"]
        again = index.ingest([f"{base}/rss"], settings=store_settings, progress=False)
        assert len(again.added) == 1 and not again.failed
        assert index.stats(settings=store_settings).sources == {"Harbour Gazette": 3}


def test_an_atom_feed_and_a_broken_one(embedded_settings: Settings) -> None:
    pages = _pages()
    with web_pages(pages) as base:
        pages["/atom"] = (200, "application/atom+xml", _atom(base, ["/news/crane", "/news/missing", "/atom"]))
        pages["/broken"] = (200, "application/rss+xml", b"<rss><channel><title>x")
        report = index.ingest([f"{base}/atom", f"{base}/broken"], settings=embedded_settings, progress=False)
    assert len(report.added) == 1
    reasons = {f.location: f.reason for f in report.failed}
    assert "404" in reasons[f"{base}/news/missing"]  # an item whose page is gone: skipped, said why
    assert "not a feed" in reasons[f"{base}/broken"]
    assert "content type application/atom+xml" in reasons[f"{base}/atom"]  # an item linking to a feed
    entry = index.open_store(settings=embedded_settings).catalog()[0]
    assert (entry.source, entry.published) == ("Calais Courier", "2005-03-02T10:00:00+00:00")


def test_watch_ingests_a_feed_round_after_round(embedded_settings: Settings) -> None:
    pages = _pages()
    with web_pages(pages) as base:
        pages["/rss"] = (200, "application/rss+xml", _rss(base, ["/news/ferry"]))
        done = subprocess.run(
            [sys.executable, "-m", "ui.cli", "watch", f"{base}/rss", "--every", "0s", "--rounds", "2",
             *store_args(embedded_settings)], capture_output=True, text=True, timeout=240,
        )
    rounds = done.stdout.strip().splitlines()
    assert done.returncode == 0, done.stderr
    assert len(rounds) == 2 and "round 1: articles added: 1" in rounds[0] and "round 2: articles added: 0" in rounds[1]
