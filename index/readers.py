"""Read articles from files and folders (plain text, Markdown, HTML and JSON Lines), web
pages, and RSS or Atom feeds.

Readers never raise for bad input: each problem becomes a `Failure` with the file (and
line) and a reason, so one broken file never stops the rest from going in.
"""

from __future__ import annotations

import json
import os
import time
import urllib.parse
from dataclasses import dataclass, replace
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

from index.article import Article, first_line, text_id
from index.cleaning import DecodeError, clean_text, decode

TEXT_SUFFIXES = {".txt", ".text", ".md", ".markdown"}
HTML_SUFFIXES = {".html", ".htm"}
JSONL_SUFFIXES = {".jsonl"}
SUPPORTED = TEXT_SUFFIXES | HTML_SUFFIXES | JSONL_SUFFIXES
MAX_FILE_BYTES = 50 * 1024 * 1024


@dataclass(frozen=True)
class Failure:
    location: str  # a path, or "path:line" for one line of a JSONL file
    reason: str


def discover(
    paths: Iterable[str | os.PathLike[str]], skip: Path | None = None
) -> tuple[list[Path], list[Failure]]:
    """Expand folders (recursively, sorted, hidden entries skipped) into article files.

    `skip` is a folder to leave out, such as the store itself when it lies inside a folder
    being ingested.
    """
    skip = skip.resolve() if skip else None
    files: list[Path] = []
    failures: list[Failure] = []
    for raw in paths:
        path = Path(raw).expanduser()
        if path.is_dir():
            for child in sorted(path.rglob("*")):
                relative = child.relative_to(path).parts
                if any(part.startswith(".") for part in relative) or child.is_dir():
                    continue
                if skip and child.resolve().is_relative_to(skip):
                    continue
                if child.suffix.lower() in SUPPORTED or child.is_symlink():
                    files.append(child)
                else:
                    failures.append(Failure(str(child), _unsupported(child)))
        elif path.is_file() or path.is_symlink():
            if path.suffix.lower() in SUPPORTED:
                files.append(path)
            else:
                failures.append(Failure(str(path), _unsupported(path)))
        else:
            failures.append(Failure(str(path), "no such file or folder"))
    return files, failures


def _unsupported(path: Path) -> str:
    kind = f"'{path.suffix}'" if path.suffix else "with no extension"
    return f"unsupported file type {kind}: use .txt, .md, .html or .jsonl"


def read_file(path: Path) -> Iterator[Article | Failure]:
    try:
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            yield Failure(str(path), f"file too large ({size // 2**20} MiB; limit 50 MiB)")
            return
        data = path.read_bytes()
    except OSError as error:
        yield Failure(str(path), f"cannot read: {error.strerror or error}")
        return
    if not data.strip():
        yield Failure(str(path), "empty file")
        return
    try:
        raw = decode(data)
    except DecodeError as error:
        yield Failure(str(path), str(error))
        return
    suffix = path.suffix.lower()
    if suffix in JSONL_SUFFIXES:
        yield from _read_jsonl(path, raw)
    elif suffix in HTML_SUFFIXES:
        yield _read_html(path, raw)
    else:
        yield _read_text(path, raw)


def is_url(value: str | os.PathLike[str]) -> bool:
    return isinstance(value, str) and value.lower().startswith(("http://", "https://"))


FEED_TYPES = {"application/rss+xml", "application/atom+xml", "application/rdf+xml",
              "application/xml", "text/xml"}


def read_url(
    url: str, timeout: float = 20.0, known: Callable[[list[str]], set[str]] = lambda links: set(),
    feeds: bool = True, public_only: bool = False,
) -> Iterator[Article | Failure]:
    """Fetch a web page (HTML or plain text) and read it as an article, or an RSS or Atom
    feed and read each of its items' pages (`read_feed`).

    The article's origin is the URL, so ingesting the page again after it changed
    replaces the article it gave before. `public_only`: refuse (as a `Failure`) any URL,
    redirect or feed item whose host has a loopback, private or link-local address
    (`index.web`), as a server must for the URLs its users give it.
    """
    import urllib.error

    from index.web import RefusedAddress, open_url

    try:
        with open_url(url, timeout, public_only) as response:
            kind = response.headers.get_content_type()
            data = response.read(MAX_FILE_BYTES + 1)
    except urllib.error.HTTPError as error:
        yield Failure(url, f"the server answered {error.code} {error.reason}")
        return
    except urllib.error.URLError as error:
        refused = isinstance(error.reason, RefusedAddress)
        yield Failure(url, str(error.reason) if refused else f"cannot fetch it: {error.reason}")
        return
    except (TimeoutError, OSError) as error:
        yield Failure(url, f"cannot fetch it: {error}")
        return
    except ValueError as error:
        yield Failure(url, f"not a URL that can be fetched: {error}")
        return
    if len(data) > MAX_FILE_BYTES:
        yield Failure(url, "page too large (over 50 MiB)")
        return
    if kind in FEED_TYPES and feeds:
        yield from read_feed(url, data, timeout, known, public_only)
        return
    if kind not in {"text/html", "application/xhtml+xml", "text/plain"}:
        yield Failure(url, f"unsupported content type {kind}: pages must be HTML, plain text or a feed")
        return
    try:
        raw = decode(data)
    except DecodeError as error:
        yield Failure(url, str(error))
        return
    where = Path(url)  # only for the messages and defaults of the readers below
    article = _read_text(where, raw) if kind == "text/plain" else _read_html(where, raw)
    if isinstance(article, Failure):
        yield Failure(url, article.reason)
        return
    host = urllib.parse.urlsplit(url).hostname or url
    # A page without a site name would be named after the URL's last part: use the host.
    source = article.source if article.source != where.name else host
    yield replace(article, origin=url, url=article.url or url, source=source)


def read_feed(
    url: str, data: bytes, timeout: float, known: Callable[[list[str]], set[str]],
    public_only: bool = False,
) -> Iterator[Article | Failure]:
    """Each item of an RSS or Atom feed, read from its page, with the item's title, date
    and author and the feed's title as source. Items whose page is in `known(links)`
    (already ingested) are not fetched again."""
    import feedparser

    feed = feedparser.parse(data)
    if feed.bozo and not feed.entries:
        yield Failure(url, f"not a feed that can be read: {feed.get('bozo_exception', 'no items')}")
        return
    name = clean_text(feed.feed.get("title", "")) or (urllib.parse.urlsplit(url).hostname or url)
    items = [e for e in feed.entries if e.get("link")]
    links = [urllib.parse.urljoin(url, e["link"]) for e in items]
    seen = known(links)
    for entry, link in zip(items, links):
        if link in seen:
            continue
        # An item is a page, never a feed again.
        for page in read_url(link, timeout, feeds=False, public_only=public_only):
            if isinstance(page, Failure):
                yield page
                continue
            when = entry.get("published_parsed") or entry.get("updated_parsed")
            yield replace(
                page, title=clean_text(entry.get("title", "")) or page.title, source=name,
                published=_utc(when) if when else page.published,
                author=clean_text(entry.get("author", "")) or page.author,
            )


def _utc(moment: time.struct_time) -> str:
    return datetime(*moment[:6], tzinfo=timezone.utc).isoformat()


def _read_text(path: Path, raw: str) -> Article | Failure:
    text = clean_text(raw)
    if not text:
        return Failure(str(path), "no text (only whitespace or control characters)")
    return Article(
        id=text_id(text), text=text, title=first_line(text), source=path.name,
        origin=str(path.resolve()),
    )


def _read_html(path: Path, raw: str) -> Article | Failure:
    import trafilatura

    extracted = trafilatura.extract(raw, include_comments=False, include_tables=True)
    text = clean_text(extracted or "")
    if not text:
        return Failure(str(path), "no article text found in the HTML")
    meta = trafilatura.extract_metadata(raw)
    title = clean_text(meta.title or "") if meta else ""
    try:
        published = _iso_date(meta.date) if meta and meta.date else None
    except ValueError:
        published = None  # a date we cannot read is left out, not fatal
    return Article(
        id=text_id(text), text=text, title=title or first_line(text),
        source=(meta.sitename if meta and meta.sitename else path.name),
        url=(meta.url if meta and meta.url else None), published=published,
        author=(clean_text(meta.author) or None) if meta and meta.author else None,
        origin=str(path.resolve()),
    )


def _read_jsonl(path: Path, raw: str) -> Iterator[Article | Failure]:
    for number, line in enumerate(raw.splitlines(), start=1):
        if not line.strip():
            continue
        where = f"{path}:{number}"
        try:
            record = json.loads(line)
        except json.JSONDecodeError as error:
            yield Failure(where, f"invalid JSON: {error.msg} at column {error.colno}")
            continue
        try:
            yield article_from_record(record, default_source=path.name)
        except ValueError as error:
            yield Failure(where, str(error))


def article_from_record(record: Any, default_source: str) -> Article:
    """An article from a JSON object (a JSON Lines line, an API request's article): "text"
    required; "id", "title", "url", "source", "published", "author" optional. Raises
    ValueError saying what is wrong."""
    if not isinstance(record, dict):
        raise ValueError("each line must be a JSON object with at least a \"text\" field")
    raw_text = record.get("text")
    if not isinstance(raw_text, str):
        raise ValueError("missing \"text\" (a string)")
    text = clean_text(raw_text)
    if not text:
        raise ValueError("\"text\" is empty")
    for field in ("id", "title", "url", "source", "published", "author"):
        value = record.get(field)
        if isinstance(value, bool) or (value is not None and not isinstance(value, (str, int))):
            raise ValueError(f"\"{field}\" must be a string")
    given_id = str(record["id"]).strip() if record.get("id") is not None else ""
    published = record.get("published")
    return Article(
        id=given_id or text_id(text),
        text=text,
        title=clean_text(str(record.get("title") or "")) or first_line(text),
        source=clean_text(str(record.get("source") or "")) or default_source,
        url=str(record["url"]).strip() if record.get("url") else None,
        published=_iso_date(str(published)) if published else None,
        author=clean_text(str(record.get("author") or "")) or None,
    )


def _iso_date(value: str) -> str:
    """Validate an ISO 8601 date or date-time and return it in canonical form."""
    text = value.strip()
    try:
        if len(text) == 10:
            return date.fromisoformat(text).isoformat()
        return datetime.fromisoformat(text).isoformat()
    except ValueError:
        raise ValueError(f"\"published\" is not an ISO 8601 date: {value!r}") from None
