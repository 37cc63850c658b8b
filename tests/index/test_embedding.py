"""The embedder's one-pass sentence vectors, and the int8 backend, with the real model."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import index
from index.embedding import Embedder
from index.errors import ConfigError, StoreError
from index.settings import Settings
from tests.conftest import SEEDS

pytestmark = pytest.mark.slow

TEXT = (
    "The ferry strike in Dover ended on Tuesday after 12 days. "
    "Maduro won 5.8 million votes in the election. "
    "France beat Croatia 4-2 in the World Cup final in Moscow."
)
SPANS = [(0, 57), (58, 104), (105, len(TEXT))]


@pytest.mark.parametrize("backend", ["torch", "onnx-int8"])
def test_a_sentence_pooled_from_its_passage_is_nearest_its_own_embedding(backend: str) -> None:
    embedder = Embedder(backend=backend)
    vectors, spans = embedder.encode_with_spans([TEXT], [SPANS])
    alone = embedder.encode([TEXT[a:b] for a, b in SPANS])
    assert np.allclose(vectors[0], embedder.encode([TEXT])[0], atol=1e-4)  # the passage: as encode
    assert spans[0].shape == (3, embedder.dim)
    assert np.allclose(np.linalg.norm(spans[0], axis=1), 1.0, atol=1e-4)
    similarity = spans[0] @ alone.T
    assert list(similarity.argmax(axis=1)) == [0, 1, 2]


def test_our_forward_gives_sentence_transformers_vectors() -> None:
    from index.embedding import _model

    embedder = Embedder(precision="fp32")
    texts = [TEXT, "Who won the Venezuelan election?", "word " * 400]  # the last is cut at 256
    expected = _model(embedder.path).encode(texts, normalize_embeddings=True)
    assert np.allclose(embedder.encode(texts), expected, atol=1e-5)


def test_passages_the_chunker_counted_are_not_tokenized_again_and_embed_the_same(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from index import embedding

    embedder = Embedder(precision="fp32")
    texts = [TEXT, "Who won the Venezuelan election?"]
    before, spans_before = embedder.encode_with_spans(texts, [SPANS, [(0, 3)]])
    assert embedder.count_word_pieces(texts[0]) == len(embedding._tokenizer(embedder.path).encode(texts[0]).ids)
    batches: list[list[str]] = []
    tokenizer = embedding._tokenizer(embedder.path)

    class Spy:  # the real tokenizer, noting what it is asked to tokenize in batches
        def encode_batch(self, batch: list[str]) -> list:  # type: ignore[type-arg]
            batches.append(batch)
            return tokenizer.encode_batch(batch)

    monkeypatch.setattr(embedding, "_tokenizer", lambda path: Spy())
    after, spans_after = embedder.encode_with_spans(texts, [SPANS, [(0, 3)]])
    assert batches == [[texts[1]]]  # the counted passage came from the count
    assert np.allclose(before, after, atol=1e-6) and np.allclose(spans_before[0], spans_after[0], atol=1e-6)
    embedder.encode_with_spans(texts, [SPANS, [(0, 3)]])
    assert batches[-1] == texts  # used once: the next call tokenizes it again


def test_a_model_with_more_than_mean_pooling_is_left_to_sentence_transformers(tmp_path: Path) -> None:
    import json
    import shutil

    folder = tmp_path / "model"
    shutil.copytree(Embedder().path, folder)
    modules = json.loads((folder / "modules.json").read_text())
    modules.append({"idx": 3, "name": "3", "path": "3_Dense", "type": "sentence_transformers.models.Dense"})
    (folder / "modules.json").write_text(json.dumps(modules))
    assert Embedder().mean_pooled and not Embedder(str(folder)).mean_pooled


def test_the_int8_backend_is_close_to_torch_and_its_store_is_its_own(tmp_path: Path) -> None:
    torch_vectors = Embedder(backend="torch").encode([TEXT])
    int8_vectors = Embedder(backend="onnx-int8").encode([TEXT])
    assert float(torch_vectors[0] @ int8_vectors[0]) > 0.98
    int8 = Settings.from_env(store=tmp_path / "store", backend="onnx-int8")
    index.ingest([SEEDS], settings=int8, progress=False)
    with pytest.raises(StoreError, match="--backend"):
        index.stats(settings=Settings.from_env(store=tmp_path / "store", backend="torch"))


def test_bf16_gives_the_vectors_of_fp32_and_the_setting_says_what_it_takes() -> None:
    texts = [TEXT, "Who won the Venezuelan election?"]
    bf16, fp32 = Embedder(precision="bf16"), Embedder(precision="fp32")
    assert bf16.bf16 and not fp32.bf16 and bf16.name == fp32.name  # the store records nothing new
    assert float((bf16.encode(texts) * fp32.encode(texts)).sum(axis=1).min()) > 0.999
    assert not Embedder(backend="onnx-int8", precision="bf16").bf16  # int8 has its own arithmetic
    with pytest.raises(ConfigError, match="NEWSQA_PRECISION"):
        Settings(precision="fp16")
