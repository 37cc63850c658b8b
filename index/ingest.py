"""Ingest: read, clean, chunk, embed and store articles, skipping what is already there."""

from __future__ import annotations

import os
import sys
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Iterable, Iterator

from index.article import Article, fingerprint
from index.chunking import Chunker
from index.cleaning import clean_text
from index.embedding import Embedder
from index.readers import Failure, discover, read_file
from index.settings import Settings
from index.sentences import sentence_spans
from index.store import SentenceSpan, Store


@dataclass
class IngestReport:
    added: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    replaced: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)  # older versions of edited files
    failed: list[Failure] = field(default_factory=list)
    chunks_written: int = 0
    texts_embedded: int = 0

    def summary(self) -> str:
        lines = [
            f"articles added: {len(self.added)}, unchanged: {len(self.unchanged)}, "
            f"replaced: {len(self.replaced)}, failed: {len(self.failed)} "
            f"({self.chunks_written} passages written)"
        ]
        lines += [f"  failed: {f.location}: {f.reason}" for f in self.failed]
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def ingest(
    paths: Iterable[str | os.PathLike[str]],
    store: str | os.PathLike[str] | None = None,
    *,
    settings: Settings | None = None,
    embedder: Embedder | None = None,
    progress: bool | None = None,
    source: str | None = None,
) -> IngestReport:
    """Add the articles found under `paths` to the store (created if missing).

    Bad files are reported in `IngestReport.failed` and skipped; the library raises only
    for problems with the store or the model. `progress=None` shows a bar on a terminal.
    `source` names the outlet of every article read (plain text files have none).
    """
    settings = Settings.resolve(store, settings)
    files, failures = discover(paths, skip=settings.store)
    report = IngestReport(failed=list(failures))
    source = (source or "").strip() or None

    def articles() -> Iterator[Article]:
        for path in _bar(files, "file", progress):
            for item in read_file(Path(path)):
                if isinstance(item, Failure):
                    report.failed.append(item)
                else:
                    yield replace(item, source=source) if source else item

    return _ingest_all(articles(), settings, embedder, report)


def ingest_articles(
    articles: Iterable[Article],
    store: str | os.PathLike[str] | None = None,
    *,
    settings: Settings | None = None,
    embedder: Embedder | None = None,
    progress: bool | None = None,
) -> IngestReport:
    """Add articles built in Python (not read from files) to the store.

    Their text is cleaned as files' text is; an article left with no text is reported in
    `IngestReport.failed`.
    """
    settings = Settings.resolve(store, settings)
    report = IngestReport()
    cleaned = []
    for article in articles:
        text = clean_text(article.text)
        if text:
            cleaned.append(replace(article, text=text))
        else:
            report.failed.append(Failure(article.id, "no text"))
    return _ingest_all(_bar(cleaned, "article", progress), settings, embedder, report)


def _bar(items: list[Any], unit: str, progress: bool | None) -> Any:
    from tqdm import tqdm

    show = sys.stderr.isatty() if progress is None else progress
    return tqdm(items, desc="ingest", unit=unit, disable=not show, file=sys.stderr)


def _ingest_all(
    articles: Iterable[Article], settings: Settings, embedder: Embedder | None,
    report: IngestReport,
) -> IngestReport:
    embedder = embedder or Embedder(settings.model)
    target = Store.open(settings.store, embedder.name, embedder.dim, create=True)
    chunker = Chunker(settings.chunk_tokens, embedder.max_word_pieces, embedder.count_word_pieces)
    with target.writing():
        for article in articles:
            _ingest_article(article, target, chunker, embedder, settings, report)
    return report


def _ingest_article(
    article: Article, store: Store, chunker: Chunker, embedder: Embedder,
    settings: Settings, report: IngestReport,
) -> None:
    print_ = fingerprint(article, settings.chunk_tokens)
    stored = store.fingerprint(article.id)
    # An edited file gets a new id (ids hash the text): its old article goes, even when
    # the new one is already in (a killed ingest may have stopped in between).
    older = [i for i in store.ids_from_origin(article.origin) if i != article.id] if article.origin else []
    if stored == print_:
        report.unchanged.append(article.id)
    else:
        _write(article, print_, store, chunker, embedder, report)
        (report.replaced if stored is not None or older else report.added).append(article.id)
    for old in older:
        store.delete_article(old)
        report.removed.append(old)


def _write(
    article: Article, print_: str, store: Store, chunker: Chunker, embedder: Embedder,
    report: IngestReport,
) -> None:
    chunks = chunker.split(article.text)
    sentences = [
        SentenceSpan(chunk.index, start, end)
        for chunk in chunks for start, end in sentence_spans(chunk.text, offset=chunk.start)
    ]
    embeddings = embedder.encode([c.text for c in chunks])
    sentence_embeddings = embedder.encode([article.text[s.start : s.end] for s in sentences])
    report.texts_embedded += len(chunks) + len(sentences)
    store.write_article(article, chunks, embeddings, sentences, sentence_embeddings, print_)
    report.chunks_written += len(chunks)


@dataclass
class DeleteReport:
    deleted: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)  # ids asked for that were not there

    def summary(self) -> str:
        line = f"articles deleted: {len(self.deleted)}"
        return line + (f"; not in the store: {', '.join(self.missing)}" if self.missing else "")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def delete(
    article_ids: Iterable[str] = (),
    store: str | os.PathLike[str] | None = None,
    *,
    sources: Iterable[str] = (),
    settings: Settings | None = None,
) -> DeleteReport:
    """Remove articles by id, and every article of the given sources."""
    settings = Settings.resolve(store, settings)
    embedder = Embedder(settings.model)
    target = Store.open(settings.store, embedder.name, embedder.dim)
    report = DeleteReport()
    with target.writing():
        wanted = list(dict.fromkeys(article_ids))
        for source in sources:
            found = target.ids_from_source(source)
            wanted += [i for i in found if i not in wanted]
            if not found:
                report.missing.append(f"source {source!r}")
        complete = target.article_ids()
        for article_id in wanted:
            if article_id in complete:
                target.delete_article(article_id)
                report.deleted.append(article_id)
            else:
                report.missing.append(article_id)
    return report
