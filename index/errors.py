"""Errors the library raises. Each message says what went wrong and how to fix it."""

from __future__ import annotations


class NewsQAError(Exception):
    """Base class: every error meant for a user derives from it."""


class ConfigError(NewsQAError):
    """A setting has a value we cannot use."""


class StoreError(NewsQAError):
    """The store is missing, unreadable, or was built for another model."""


class ModelError(NewsQAError):
    """The embedding model cannot be loaded."""


class ArticleNotFound(NewsQAError):
    """No article with that id is in the store."""
