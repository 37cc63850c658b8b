"""Ingest: read, clean, chunk, embed and store articles, skipping what is already there."""

from __future__ import annotations

import os
import sys
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Iterable, Iterator

import numpy as np

from index.article import Article, fingerprint
from index.chunking import Chunk, Chunker
from index.cleaning import clean_text
from index.duplicates import Clusters, signature
from index.embedding import Embedder
from index.errors import ConfigError, StoreError
from index.readers import Failure, discover, is_url, read_file, read_url
from index.settings import Settings
from index.store import ArticleWrite, SentenceSpan, Store

# Articles embedded and written together. The model sorts a batch's passages by length so
# that little of its work is padding: among 64 articles' passages that padding was 14% of
# the BBC articles' word pieces, among 256 articles' 8% (5% across all 2,225), and ingest
# took 7-9% less (BENCHMARKS.md, "Store format 6").
BATCH_ARTICLES = 256


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
    batch_size: int = BATCH_ARTICLES,
    public_urls_only: bool = False,
) -> IngestReport:
    """Add the articles found under `paths` (files, folders, http(s) URLs of pages or of
    RSS/Atom feeds, whose items already in the store are not fetched again) to the store
    (created if missing).

    Bad files are reported in `IngestReport.failed` and skipped; the library raises only
    for problems with the store or the model. `progress=None` shows a bar on a terminal.
    `source` names the outlet of every article read (plain text files have none).
    `batch_size` articles are embedded and committed together. `public_urls_only`: URLs
    whose host is a loopback, private or link-local address fail instead of being
    fetched (for URLs that a server's users give it; see `index.web`).
    """
    settings = Settings.resolve(store, settings)
    paths = list(paths)
    urls = [p for p in paths if is_url(p)]
    files, failures = discover([p for p in paths if not is_url(p)], skip=settings.store)
    report = IngestReport(failed=list(failures))
    source = (source or "").strip() or None

    def known(links: list[str]) -> set[str]:
        """The feed items' pages that are in the store already (not fetched again)."""
        model = embedder or Embedder.for_settings(settings)  # its name: the model loads later
        try:
            opened = Store.open(settings, model.name, model.dim)
        except StoreError:  # no store yet: nothing is known
            return set()
        return set(opened.ids_from_origins(links))

    def articles() -> Iterator[Article]:
        inputs: list[Path | str] = [*files, *map(str, urls)]
        for where in _bar(inputs, "file", progress):
            items = (read_url(where, known=known, public_only=public_urls_only) if isinstance(where, str)
                     else read_file(Path(where)))
            for item in items:
                if isinstance(item, Failure):
                    report.failed.append(item)
                else:
                    yield replace(item, source=source) if source else item

    return _ingest_all(articles(), settings, embedder, report, batch_size)


def ingest_articles(
    articles: Iterable[Article],
    store: str | os.PathLike[str] | None = None,
    *,
    settings: Settings | None = None,
    embedder: Embedder | None = None,
    progress: bool | None = None,
    batch_size: int = BATCH_ARTICLES,
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
    return _ingest_all(_bar(cleaned, "article", progress), settings, embedder, report, batch_size)


def _bar(items: list[Any], unit: str, progress: bool | None) -> Any:
    from tqdm import tqdm

    show = sys.stderr.isatty() if progress is None else progress
    return tqdm(items, desc="ingest", unit=unit, disable=not show, file=sys.stderr)


def _ingest_all(
    articles: Iterable[Article], settings: Settings, embedder: Embedder | None,
    report: IngestReport, batch_size: int,
) -> IngestReport:
    if batch_size < 1:
        raise ConfigError(f"batch_size={batch_size}: use at least 1 article per batch")
    embedder = embedder or Embedder.for_settings(settings)
    store = Store.open(settings, embedder.name, embedder.dim, create=True)
    with store.writing():
        run = _Run(store, embedder, settings, report)
        pending: dict[str, ArticleWrite] = {}  # changed articles waiting for a full batch
        for batch in _batches(articles, batch_size):
            for write in run.changed(batch):
                pending.pop(write.article.id, None)  # a later copy of an id wins
                pending[write.article.id] = write
            if len(pending) >= batch_size:
                run.write(list(pending.values()))
                pending.clear()
        if pending:
            run.write(list(pending.values()))
    return report


def _spans(write: ArticleWrite, chunk: Chunk) -> list[tuple[int, int]]:
    """The chunk's sentences, as offsets in the chunk's text."""
    return [(s.start - chunk.start, s.end - chunk.start) for s in write.sentences if s.chunk_index == chunk.index]


def _batches(articles: Iterable[Article], size: int) -> Iterator[list[Article]]:
    batch: list[Article] = []
    for article in articles:
        batch.append(article)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


class _Run:
    """One ingest, holding the store's write lock: what it writes and what it has seen."""

    def __init__(self, store: Store, embedder: Embedder, settings: Settings, report: IngestReport) -> None:
        self.store, self.embedder, self.settings, self.report = store, embedder, settings, report
        self.chunker = Chunker(settings.chunk_tokens, embedder.max_word_pieces, embedder.count_word_pieces)
        self.clusters = Clusters(store.lexical_index().near_duplicates)  # current: see Store.writing

    def changed(self, batch: list[Article]) -> list[ArticleWrite]:
        """The articles of a batch that are new or changed, cut into chunks and sentences
        and placed in their near-duplicate cluster."""
        stored = self.store.fingerprints([a.id for a in batch])
        # An edited file gets a new id (ids hash the text): its old article goes once the
        # new one is in, even if that happened in an earlier, killed ingest.
        by_origin = self.store.ids_from_origins([a.origin for a in batch if a.origin])
        writes = []
        for article in batch:
            older = [i for i in by_origin.get(article.origin or "", []) if i != article.id]
            print_ = fingerprint(article, self.settings.chunk_tokens)
            if stored.get(article.id) == print_:
                self.report.unchanged.append(article.id)
                self.remove(older)
                continue
            chunks = self.chunker.split(article.text)
            sentences = [SentenceSpan(chunk.index, start, end) for chunk in chunks for start, end in chunk.sentences]
            write = ArticleWrite(article, print_, chunks, sentences, older=older)
            self._cluster(write)
            writes.append(write)
            replaced = article.id in stored or older
            (self.report.replaced if replaced else self.report.added).append(article.id)
        return writes

    def _cluster(self, write: ArticleWrite) -> None:
        self.clusters.remove(write.article.id)  # its old version is no duplicate of it
        write.signature = signature(write.article.text)
        write.cluster = self.clusters.find(write.signature) or write.article.id
        self.clusters.add(write.article.id, write.signature, write.cluster)

    def write(self, writes: list[ArticleWrite]) -> None:
        # One call for every chunk of the batch (the model sorts them by length, so its
        # batches carry little padding), and one pass over each: a sentence's vector is
        # pooled from its chunk's token states (see Embedder.encode_with_spans).
        chunks = [(w, c) for w in writes for c in w.chunks]
        spans = [_spans(w, c) for w, c in chunks]
        vectors, per_chunk = self.embedder.encode_with_spans([c.text for _, c in chunks], spans)
        at = 0
        for w in writes:
            w.embeddings = vectors[at : at + len(w.chunks)]
            w.sentence_embeddings = np.concatenate(
                [*per_chunk[at : at + len(w.chunks)], np.zeros((0, self.embedder.dim), dtype=np.float32)]
            )
            at += len(w.chunks)
        self.store.write_articles(writes)
        self.report.texts_embedded += len(chunks)
        self.report.chunks_written += len(chunks)
        for w in writes:
            self.remove(w.older)

    def remove(self, article_ids: list[str]) -> None:
        for article_id in article_ids:
            self.store.delete_article(article_id)
            self.report.removed.append(article_id)
            self.clusters.remove(article_id)


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
    embedder = Embedder.for_settings(settings)
    target = Store.open(settings, embedder.name, embedder.dim)
    report = DeleteReport()
    with target.writing():
        wanted = dict.fromkeys(article_ids)  # in order, each once
        for source in sources:
            found = target.ids_from_source(source)
            wanted.update(dict.fromkeys(found))
            if not found:
                report.missing.append(f"source {source!r}")
        complete = target.lexical_index().complete(wanted)  # current while writing
        for article_id in wanted:
            if article_id in complete:
                target.delete_article(article_id)
                report.deleted.append(article_id)
            else:
                report.missing.append(article_id)
    return report
