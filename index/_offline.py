"""Make every library we load stay offline unless the user explicitly says otherwise.

These are process-wide switches read by the libraries themselves, so they must be set
before those libraries are imported. `setdefault` keeps any value the user exported.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path


def _llama_index_static(name: str) -> str | None:
    # Find llama-index-core's bundled data without importing it (that takes seconds).
    spec = importlib.util.find_spec("llama_index.core")
    if spec is None or not spec.submodule_search_locations:
        return None
    folder = Path(next(iter(spec.submodule_search_locations))) / "_static" / name
    return str(folder) if folder.is_dir() else None


def apply() -> None:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
    os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    tiktoken_cache = _llama_index_static("tiktoken_cache")
    if tiktoken_cache:
        os.environ.setdefault("TIKTOKEN_CACHE_DIR", tiktoken_cache)
    nltk_cache = _llama_index_static("nltk_cache")
    if nltk_cache:
        os.environ.setdefault("NLTK_DATA", nltk_cache)
