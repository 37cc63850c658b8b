"""Ingesting web pages by URL, from a real HTTP server on 127.0.0.1."""

from __future__ import annotations

import socket
from typing import Iterator

import pytest

import index
from index import web
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
    "/away": (302, "text/plain", b"http://127.0.0.2:9/intranet"),
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


def test_with_public_only_no_loopback_private_or_link_local_address_is_fetched(site: str) -> None:
    port = site.rsplit(":", 1)[1]
    for url in (f"{site}/terminal", f"http://localhost:{port}/terminal"):
        [refused] = read_url(url, timeout=5, public_only=True)
        assert isinstance(refused, Failure) and refused.reason.startswith("refused: ")
        assert "loopback address" in refused.reason and "--allow-private-urls" in refused.reason
    kinds = {address: web.not_public(address) for address in (
        "10.1.2.3", "172.16.0.1", "192.168.1.1", "169.254.169.254", "127.0.0.2", "0.0.0.0",
        "100.64.0.1", "::1", "fe80::1", "fc00::1", "::ffff:10.0.0.1", "8.8.8.8", "2606:4700::1111",
    )}
    assert kinds == {
        "10.1.2.3": "private", "172.16.0.1": "private", "192.168.1.1": "private",
        "169.254.169.254": "link-local", "127.0.0.2": "loopback", "0.0.0.0": "unspecified",
        "100.64.0.1": "non-global", "::1": "loopback", "fe80::1": "link-local", "fc00::1": "private",
        "::ffff:10.0.0.1": "private", "8.8.8.8": None, "2606:4700::1111": None,
    }


def test_with_public_only_each_redirect_is_checked_before_it_is_followed(
    site: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Our own check, narrowed for this test (its pages are on 127.0.0.1): that one address
    # counts as public, every other is refused, so what /away redirects to must be.
    monkeypatch.setattr(web, "not_public", lambda address: None if address == "127.0.0.1" else "private")
    [page] = read_url(f"{site}/terminal", timeout=5, public_only=True)
    assert not isinstance(page, Failure) and page.title == "Terminal approved"
    [refused] = read_url(f"{site}/away", timeout=5, public_only=True)
    assert isinstance(refused, Failure)
    assert refused.reason.startswith("refused: 127.0.0.2 is a private address")
