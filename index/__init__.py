"""Reading, cleaning, chunking, embedding and storing news articles.

    >>> import index
    >>> report = index.ingest(["seeds/"], store="my-store")
    >>> print(report.summary())
"""

from index import _offline

_offline.apply()  # before any library that reads these variables is imported

from index.article import Article  # noqa: E402
from index.errors import (  # noqa: E402
    ArticleNotFound,
    ConfigError,
    ModelError,
    NewsQAError,
    StoreError,
)
from index.filters import Filters  # noqa: E402
from index.ingest import DeleteReport, IngestReport, delete, ingest, ingest_articles  # noqa: E402
from index.readers import Failure  # noqa: E402
from index.settings import Settings  # noqa: E402
from index.store import ArticleEntry, Store, StoredArticle, StoreStats  # noqa: E402

__all__ = [
    "Article",
    "ArticleEntry",
    "ArticleNotFound",
    "ConfigError",
    "DeleteReport",
    "Failure",
    "Filters",
    "IngestReport",
    "ModelError",
    "NewsQAError",
    "Settings",
    "Store",
    "StoreError",
    "StoreStats",
    "StoredArticle",
    "delete",
    "get_article",
    "ingest",
    "ingest_articles",
    "open_store",
    "stats",
]


def open_store(store: str | None = None, *, settings: Settings | None = None, create: bool = False) -> Store:
    """Open the store for the configured model (without loading the model)."""
    from index.embedding import Embedder

    settings = Settings.resolve(store, settings)
    embedder = Embedder.for_settings(settings)
    return Store.open(settings, embedder.name, embedder.dim, create=create)


def get_article(article_id: str, store: str | None = None, *, settings: Settings | None = None) -> StoredArticle:
    """An article's stored text and metadata: what citation offsets point into."""
    return open_store(store, settings=settings).article(article_id)


def stats(store: str | None = None, *, settings: Settings | None = None) -> StoreStats:
    return open_store(store, settings=settings).stats()
