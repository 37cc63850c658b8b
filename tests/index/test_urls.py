"""Ingesting web pages by URL, from a real HTTP server on 127.0.0.1."""

from __future__ import annotations

import socket
from typing import Iterator

import pytest

import index
from index.readers import Failure, read_url
from index.settings import Settings
from tests.conftest import web_pages

BODY = " ".join(["The harbour authority approved the new ferry terminal on Friday."] * 4)
PAGES: dict[str, tuple[int, str, bytes]] = {
    "/terminal": (200, "text/html; charset=utf-8", (
        "<html><head><title>Terminal approved</title>"
        "<meta property='og:site_name' content='Harbour Herald'>"
        "<meta name='author' content='Kim Lee'></head><body>"
        f"<article><h1>Terminal approved</h1><p>{BODY}</p><p>{BODY}</p></article></body></html>"
    ).encode()),
    "/note.txt": (200, "text/plain", b"Ferry timetable\n\nThe winter timetable starts on Monday."),
    "/logo.png": (200, "image/png", b"\x89PNG\r\n"),
}


@pytest.fixture(scope="module")
def site() -> Iterator[str]:
    with web_pages(PAGES) as url:
        yield url


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_a_page_is_read_with_its_metadata(site: str) -> None:
    [article] = list(read_url(f"{site}/terminal"))
    assert not isinstance(article, Failure)
    assert (article.title, article.source, article.author) == ("Terminal approved", "Harbour Herald", "Kim Lee")
    assert article.url == article.origin == f"{site}/terminal" and "ferry terminal" in article.text
    [note] = list(read_url(f"{site}/note.txt"))
    assert not isinstance(note, Failure) and (note.title, note.source) == ("Ferry timetable", "127.0.0.1")


def test_unusable_urls_fail_with_a_reason(site: str) -> None:
    closed = f"http://127.0.0.1:{_closed_port()}/x"
    reasons = {url: [f.reason for f in read_url(url, timeout=5)] for url in [
        f"{site}/missing", f"{site}/logo.png", closed,
    ]}
    assert reasons[f"{site}/missing"] == ["the server answered 404 Not Found"]
    assert reasons[f"{site}/logo.png"] == [
        "unsupported content type image/png: pages must be HTML, plain text or a feed"]
    [refused] = reasons[closed]
    assert refused.startswith("cannot fetch it:") and "refused" in refused


@pytest.mark.slow
def test_ingest_takes_urls_next_to_files_and_skips_the_broken_ones(
    site: str, store_settings: Settings
) -> None:
    report = index.ingest([f"{site}/terminal", f"{site}/missing"], settings=store_settings, progress=False)
    assert len(report.added) == 1 and [f.location for f in report.failed] == [f"{site}/missing"]
    article = index.get_article(report.added[0], settings=store_settings)
    assert article.source == "Harbour Herald" and article.url == f"{site}/terminal"
    again = index.ingest([f"{site}/terminal"], settings=store_settings, progress=False)
    assert again.unchanged == report.added
