"""The reader: a cross-encoder trained here that reads a question together with a passage.

For each passage it gives a score (a logit) that the passage answers the question, which
orders the passages (and, in the evaluator's "reader abstention" ablation, decides
abstention), and start and end scores for each of its word pieces, from which the exact
answer words are taken. It is the packaged
all-MiniLM-L6-v2 with two small heads, trained on SQuAD train-44 by
`benchmarks/train_reader.py`; the shipped file (`reader.safetensors`) holds every weight
but the word embeddings, which stay the packaged model's. `reader.json` beside it holds
the input length and the thresholds calibrated on train-44 articles held out of training.

Loading is lazy, once per process, offline. Where the CPU has bf16 instructions the
network is cast to bf16 whole (a fifth faster than under autocast, whose layer norms stay
fp32: on 160 held-out paragraphs 98% of the spans came out the same, the scores within
0.08); elsewhere it runs in fp32.
"""

from __future__ import annotations

import json
import math
import threading
from dataclasses import dataclass, replace
from functools import cached_property, lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence

import numpy as np

from index.embedding import resolve_model
from index.errors import ModelError
from index.precision import cpu_has_bf16
from index.settings import DEFAULT_MODEL

if TYPE_CHECKING:
    import torch
    from tokenizers import Tokenizer

    from qa._reader_model import ReaderModel
    from qa.retrieval import Passage

HERE = Path(__file__).parent
WEIGHTS = HERE / "reader.safetensors"
CONFIG = HERE / "reader.json"
MAX_LENGTH = 320  # word pieces in all: a passage is at most 256, the question and title the rest
MAX_QUESTION = 48  # word pieces of the question (a follow-up carries the one before)
MAX_TITLE = 24
MAX_ANSWER = 30  # word pieces of a short answer
READ = 4  # passages read per question: the retrieval's best, reordered by the reader
# Batches are padded to a multiple of this: oneDNN keeps state for each input shape it
# meets, and a process that reads every width from 20 to 320 grows by it.
WIDTH_STEP = 16


@dataclass(frozen=True)
class Span:
    """Characters [start, end) of the text read, and the reader's score for them."""

    start: int
    end: int
    score: float


@dataclass(frozen=True)
class Reading:
    """What the reader made of one passage: `score`, the logit that it answers the
    question; `starts`/`ends`, a logit per word piece of the passage whose characters
    are `offsets` in it."""

    score: float
    starts: np.ndarray
    ends: np.ndarray
    offsets: np.ndarray  # (pieces, 2) character offsets into the text

    def mass(self, lo: int, hi: int) -> float:
        """The log-probability, under the span head's softmax over the passage, that the
        answer starts and ends within characters [lo, hi): how sure the reader is that a
        sentence holds the answer, where `span` gives only its best guess's score."""
        inside = self._inside(lo, hi)
        if not inside.any():
            return -math.inf
        return sum(float(np.logaddexp.reduce(x[inside]) - total)
                   for x, total in zip((self.starts, self.ends), self._totals))

    @cached_property
    def _totals(self) -> tuple[float, float]:
        """The softmaxes' log-normalisers, once per passage (`mass` is asked per sentence)."""
        return float(np.logaddexp.reduce(self.starts)), float(np.logaddexp.reduce(self.ends))

    def _inside(self, lo: int, hi: int) -> np.ndarray:
        """Which word pieces lie within characters [lo, hi)."""
        return (self.offsets[:, 0] >= lo) & (self.offsets[:, 1] <= hi)

    def span(self, lo: int = 0, hi: int | None = None, max_pieces: int = MAX_ANSWER) -> Span | None:
        """The best-scored answer whose word pieces lie within characters [lo, hi)."""
        hi = int(self.offsets[-1, 1]) if hi is None and len(self.offsets) else hi
        if hi is None:
            return None
        inside = np.flatnonzero(self._inside(lo, hi))
        if not len(inside):
            return None
        first, last = int(inside[0]), int(inside[-1]) + 1
        starts, ends = self.starts[first:last], self.ends[first:last]
        pairs = starts[:, None] + ends[None, :]
        n = len(starts)
        band = np.triu(np.ones((n, n), dtype=bool)) & ~np.triu(np.ones((n, n), dtype=bool), k=max_pieces)
        pairs = np.where(band, pairs, -np.inf)
        i, j = np.unravel_index(int(np.argmax(pairs)), pairs.shape)
        return Span(int(self.offsets[first + i, 0]), int(self.offsets[first + j, 1]), float(pairs[i, j]))


@dataclass(frozen=True)
class Batch:
    """Encoded (question, title, passage) triples, and where each passage's pieces sit."""

    input_ids: np.ndarray
    attention_mask: np.ndarray
    token_type_ids: np.ndarray
    passage_start: list[int]  # position of each passage's first piece
    offsets: list[np.ndarray]  # character offsets of its pieces (the ones that fit)


def encode(
    tokenizer: Tokenizer, questions: Sequence[str], titles: Sequence[str], texts: Sequence[str],
    max_length: int = MAX_LENGTH,
) -> Batch:
    """[CLS] question [SEP] title [SEP] passage [SEP], the passage cut to fit `max_length`.

    The one place inputs are built, for training and for answering alike."""
    cls, sep = tokenizer.token_to_id("[CLS]"), tokenizer.token_to_id("[SEP]")
    q_enc = tokenizer.encode_batch(list(questions), add_special_tokens=False)
    t_enc = tokenizer.encode_batch(list(titles), add_special_tokens=False)
    p_enc = tokenizer.encode_batch(list(texts), add_special_tokens=False)
    rows, types, starts, offsets = [], [], [], []
    for q, t, p in zip(q_enc, t_enc, p_enc):
        head = [cls, *q.ids[-MAX_QUESTION:], sep, *t.ids[:MAX_TITLE], sep]
        room = max_length - len(head) - 1
        pieces = p.ids[:room]
        rows.append(head + pieces + [sep])
        types.append([0] * len(head) + [1] * (len(pieces) + 1))
        starts.append(len(head))
        offsets.append(np.asarray(p.offsets[:room], dtype=np.int64).reshape(-1, 2))
    width = min(max_length, -(-max(len(r) for r in rows) // WIDTH_STEP) * WIDTH_STEP)
    ids = np.zeros((len(rows), width), dtype=np.int64)
    mask = np.zeros_like(ids)
    type_ids = np.zeros_like(ids)
    for n, (row, kind) in enumerate(zip(rows, types)):
        ids[n, : len(row)] = row
        mask[n, : len(row)] = 1
        type_ids[n, : len(row)] = kind
    return Batch(ids, mask, type_ids, starts, offsets)


class Reader:
    """Reads passages for a question; the network loads on the first `read`."""

    def __init__(
        self, weights: Path = WEIGHTS, config: Path = CONFIG, bf16: bool | None = None,
        base: str = DEFAULT_MODEL,
    ) -> None:
        self.weights = Path(weights)
        self.config_path = Path(config)
        self.bf16 = cpu_has_bf16() if bf16 is None else bf16  # None: where the CPU has it
        self.base = base
        if not self.weights.is_file() or not self.config_path.is_file():
            raise ModelError(
                f"the reader's weights are missing ({self.weights}): reinstall newsqa, or "
                "rebuild them with benchmarks/train_reader.py"
            )

    @cached_property
    def config(self) -> dict[str, Any]:
        return json.loads(self.config_path.read_text())

    def rerank(
        self, question: str, passages: Sequence[Passage], n: int = READ, within: float | None = None
    ) -> list[Passage]:
        """The first `n` passages (those whose retrieval score is `within` of the first's,
        when given), read and ordered by the reader's score; then the rest, unread, in
        their order."""
        head = list(passages[:n])
        if within is not None and head:
            head = [p for p in head if p.score >= head[0].score - within]
        readings = self.read(question, [p.text for p in head], [p.chunk.title for p in head])
        read = sorted((replace(p, reading=r) for p, r in zip(head, readings)), key=lambda p: -p.reading.score)  # type: ignore[union-attr]
        taken = {p.chunk.id for p in head}
        return read + [p for p in passages if p.chunk.id not in taken]

    def read(
        self, question: str, texts: Sequence[str], titles: Sequence[str], batch_size: int = 8
    ) -> list[Reading]:
        if not texts:
            return []
        model, tokenizer, lock = _loaded(self.weights, resolve_model(self.base)[1], self.bf16)
        max_length = int(self.config.get("max_length", MAX_LENGTH))
        readings: list[Reading] = []
        for at in range(0, len(texts), batch_size):
            part = list(texts[at : at + batch_size])
            batch = encode(tokenizer, [question] * len(part), list(titles[at : at + batch_size]), part, max_length)
            with lock:  # one forward pass at a time: two would only share the same cores
                readings += read_batch(model, batch, self.bf16)
        return readings


def read_batch(model: ReaderModel, batch: Batch, bf16: bool | None = None) -> list[Reading]:
    """The network's readings of an encoded batch (under bf16 autocast where the CPU has it,
    which a model already in bf16 does not need)."""
    import torch

    from index.precision import autocast

    with torch.inference_mode(), autocast(bf16):
        relevance, starts, ends = (t.float().numpy() for t in model(*to_tensors(batch)))
    return [
        Reading(float(relevance[n]), starts[n, first : first + len(offsets)],
                ends[n, first : first + len(offsets)], offsets)
        for n, (first, offsets) in enumerate(zip(batch.passage_start, batch.offsets))
    ]


@lru_cache(maxsize=2)
def _loaded(weights: Path, base: Path, bf16: bool) -> tuple[ReaderModel, Tokenizer, threading.Lock]:
    import torch
    from tokenizers import Tokenizer

    from qa._reader_model import load_model

    try:
        model = load_model(base, weights)
        if bf16:
            model = model.to(torch.bfloat16)
        tokenizer = _plain(Tokenizer.from_file(str(base / "tokenizer.json")))
    except Exception as error:  # a damaged file surfaces as many different errors
        raise ModelError(f"cannot load the reader from {weights}: {error}") from error
    return model, tokenizer, threading.Lock()


def tokenizer_for(base: str = DEFAULT_MODEL) -> Tokenizer:
    """The packaged model's word pieces (the training script encodes with these)."""
    from tokenizers import Tokenizer

    return _plain(Tokenizer.from_file(str(resolve_model(base)[1] / "tokenizer.json")))


def _plain(tokenizer: Tokenizer) -> Tokenizer:
    """`encode` cuts and pads by itself; the model folder's tokenizer would do both too."""
    tokenizer.no_truncation()
    tokenizer.no_padding()
    return tokenizer


def to_tensors(batch: Batch) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    import torch

    return tuple(torch.from_numpy(a) for a in (batch.input_ids, batch.attention_mask, batch.token_type_ids))  # type: ignore[return-value]
