"""Ingest with the real model into a real Chroma store on disk."""

import json
from pathlib import Path

import numpy as np
import pytest

import index
from index.embedding import Embedder
from index.errors import StoreError
from index.settings import Settings
from index.store import FORMAT_4_SENTENCES, LOCK_FILE, SCHEMA, SENTENCES_KEY, TEXT_KEY, Store, to_chunk
from tests.conftest import SEEDS

pytestmark = pytest.mark.slow


class CountingEmbedder(Embedder):
    """The real embedder, counting what it is asked to embed (a spy, not a mock)."""

    def __init__(self) -> None:
        super().__init__()
        self.embedded = 0

    def encode_with_spans(self, texts, spans, batch_size: int = 32):  # type: ignore[no-untyped-def,override]
        self.embedded += len(texts)
        return super().encode_with_spans(texts, spans, batch_size)


def _chunk_ids(store: Store) -> list[str]:
    return sorted(n.node_id for n in store.nodes())


def test_reingesting_the_same_input_adds_and_embeds_nothing(store_settings: Settings) -> None:
    spy = CountingEmbedder()
    first = index.ingest([SEEDS], settings=store_settings, embedder=spy, progress=False)
    assert len(first.added) == 2 and spy.embedded == first.texts_embedded == first.chunks_written > 0
    store = index.open_store(settings=store_settings)
    before = _chunk_ids(store)

    spy.embedded = 0
    again = index.ingest([SEEDS], settings=store_settings, embedder=spy, progress=False)
    assert (again.added, again.replaced, sorted(again.unchanged)) == ([], [], sorted(first.added))
    assert spy.embedded == 0 and again.chunks_written == 0
    assert _chunk_ids(store) == before
    assert store.stats().articles == 2


def test_a_changed_jsonl_article_replaces_its_chunks_without_orphans(
    store_settings: Settings, tmp_path: Path
) -> None:
    feed = tmp_path / "feed.jsonl"
    long_text = " ".join(f"Sentence number {i} reports on the harbour works." for i in range(60))
    feed.write_text(json.dumps({"id": "story-1", "text": "Harbour works\n\n" + long_text}) + "\n")
    index.ingest([feed], settings=store_settings, progress=False)
    store = index.open_store(settings=store_settings)
    assert len(_chunk_ids(store)) > 2

    feed.write_text(json.dumps({"id": "story-1", "text": "Harbour works\n\nThey are finished."}) + "\n")
    report = index.ingest([feed], settings=store_settings, progress=False)
    assert report.replaced == ["story-1"] and report.added == []
    assert _chunk_ids(store) == ["story-1#0"]
    assert store.article("story-1").text == "Harbour works\n\nThey are finished."
    assert store.stats() .articles == 1


def test_an_edited_file_replaces_the_article_it_produced(store_settings: Settings, tmp_path: Path) -> None:
    path = tmp_path / "note.txt"
    path.write_text("Bridge reopens\n\nThe bridge reopened on Monday.")
    first = index.ingest([path], settings=store_settings, progress=False)
    path.write_text("Bridge reopens\n\nThe bridge reopened on Tuesday, a day late.")
    second = index.ingest([path], settings=store_settings, progress=False)
    store = index.open_store(settings=store_settings)
    assert second.replaced and second.removed == first.added
    assert store.stats().articles == 1
    assert all(i.startswith(second.replaced[0]) for i in _chunk_ids(store))


def test_bad_files_are_skipped_with_reasons_and_the_rest_goes_in(
    store_settings: Settings, tmp_path: Path
) -> None:
    (tmp_path / "good.txt").write_text((SEEDS / "world-cup-final-2018.txt").read_text())
    (tmp_path / "empty.txt").write_text("")
    (tmp_path / "binary.md").write_bytes(b"\x00\xff\x00\xfe")
    (tmp_path / "broken.jsonl").write_text('{"text": "Fine line."}\n{oops\n')
    report = index.ingest([tmp_path], settings=store_settings, progress=False)
    assert len(report.added) == 2  # good.txt and the valid JSONL line
    failed = {Path(f.location).name: f.reason for f in report.failed}
    assert failed == {
        "empty.txt": "empty file",
        "binary.md": "binary file (contains NUL bytes), not text",
        "broken.jsonl:2": failed["broken.jsonl:2"],
    }
    assert "failed: 3" in report.summary() and "empty.txt: empty file" in report.summary()


def test_an_interrupted_article_is_completed_by_the_next_ingest(
    store_settings: Settings, tmp_path: Path
) -> None:
    index.ingest([SEEDS], settings=store_settings, progress=False)
    store = index.open_store(settings=store_settings)
    # Simulate a crash after an article's chunks were written but before its record was.
    victim = store.ids_from_origin(str((SEEDS / "world-cup-final-2018.txt").resolve()))[0]
    store._articles.delete(ids=[victim])
    report = index.ingest([SEEDS], settings=store_settings, progress=False)
    assert report.added == [victim] and len(report.unchanged) == 1
    assert store.article(victim).chunks == len([i for i in _chunk_ids(store) if i.startswith(victim)])


def test_a_store_built_with_another_model_is_refused_with_how_to_rebuild(
    seeded_settings: Settings,
) -> None:
    with pytest.raises(StoreError, match="rebuild") as caught:
        Store.open(seeded_settings, "some/other-model", 768)
    assert "all-MiniLM-L6-v2" in str(caught.value)


def test_chroma_never_embeds_on_its_own(seeded_settings: Settings) -> None:
    store = index.open_store(settings=seeded_settings)
    with pytest.raises(ValueError, match="embedding function"):
        store._chunks.add(ids=["x"], documents=["would need Chroma's downloading embedder"])


def test_a_store_of_another_format_says_how_to_rebuild(store_settings: Settings) -> None:
    index.ingest([SEEDS / "world-cup-final-2018.txt"], settings=store_settings, progress=False)
    chunks = index.open_store(settings=store_settings)._chunks
    chunks.modify(metadata={**(chunks.metadata or {}), "schema": 1})
    with pytest.raises(StoreError, match="another version of newsqa.*ingest again"):
        index.stats(settings=store_settings)


def _as_format_4(store: Store) -> None:
    """Rewrite a store in format 4's layout: a record per sentence, in a collection of its
    own (how the previous version wrote it), and none packed in the chunks."""
    chunks = [to_chunk(node) for node in store.nodes()]
    sentences = store.sentences(chunks)
    old = store._client.create_collection(FORMAT_4_SENTENCES, embedding_function=None,
                                          configuration={"hnsw": {"space": "cosine"}})
    rows = [(f"{c}/{k}", {"article_id": c.split("#")[0], "chunk_id": c, "start": s.start, "end": s.end}, s.vector)
            for c, found in sentences.items() for k, s in enumerate(found)]
    old.add(ids=[r[0] for r in rows], metadatas=[r[1] for r in rows], embeddings=np.stack([r[2] for r in rows]))
    store._chunks.update(ids=list(sentences), metadatas=[{SENTENCES_KEY: None} for _ in sentences])
    store._chunks.modify(metadata={**(store._chunks.metadata or {}), "schema": 4})


def test_a_store_of_the_previous_format_is_upgraded_in_place_without_embedding_again(
    store_settings: Settings,
) -> None:
    index.ingest([SEEDS], settings=store_settings, progress=False)
    store = index.open_store(settings=store_settings)
    chunks = [to_chunk(node) for node in store.nodes()]
    before = store.sentences(chunks)
    _as_format_4(store)
    assert not any(m.get(SENTENCES_KEY) for m in store._chunks.get(include=["metadatas"])["metadatas"])

    upgraded = index.open_store(settings=store_settings)
    assert upgraded._chunks.metadata["schema"] == SCHEMA
    assert FORMAT_4_SENTENCES not in {c.name for c in upgraded._client.list_collections()}
    after = upgraded.sentences(chunks)
    assert {c: [(s.start, s.end) for s in found] for c, found in after.items()} == {
        c: [(s.start, s.end) for s in found] for c, found in before.items()
    }
    for chunk_id, found in after.items():
        assert np.abs(np.stack([s.vector for s in found]) - np.stack([s.vector for s in before[chunk_id]])).max() < 1e-2
    spy = CountingEmbedder()
    again = index.ingest([SEEDS], settings=store_settings, embedder=spy, progress=False)
    assert len(again.unchanged) == 2 and spy.embedded == 0


def test_a_store_is_not_upgraded_while_another_process_writes_to_it(embedded_settings: Settings) -> None:
    from filelock import FileLock

    index.ingest([SEEDS / "world-cup-final-2018.txt"], settings=embedded_settings, progress=False)
    _as_format_4(index.open_store(settings=embedded_settings))
    with FileLock(str(embedded_settings.store / LOCK_FILE)):
        with pytest.raises(StoreError, match="being written to or upgraded by another process"):
            index.open_store(settings=embedded_settings)
    assert index.open_store(settings=embedded_settings)._chunks.metadata["schema"] == SCHEMA


def _as_format_5(store: Store) -> None:
    """Rewrite a store in format 5's layout: the texts as Chroma documents, none in the
    passages' node JSON or the articles' metadata."""
    chunks = store._chunks.get(include=["metadatas", "embeddings"])
    nodes = [json.loads(m["_node_content"]) for m in chunks["metadatas"]]
    store._chunks.update(ids=chunks["ids"], embeddings=chunks["embeddings"], documents=[n["text"] for n in nodes],
                         metadatas=[{"_node_content": json.dumps({**n, "text": ""})} for n in nodes])
    articles = store._articles.get(include=["metadatas", "embeddings"])
    store._articles.update(ids=articles["ids"], embeddings=articles["embeddings"],
                           documents=[m[TEXT_KEY] for m in articles["metadatas"]],
                           metadatas=[{TEXT_KEY: None} for _ in articles["ids"]])
    for collection in (store._chunks, store._articles):
        collection.modify(metadata={**(collection.metadata or {}), "schema": 5})


def test_a_store_of_format_5_is_read_as_it_is_and_marked_6_when_written(store_settings: Settings) -> None:
    index.ingest([SEEDS / "world-cup-final-2018.txt"], settings=store_settings, progress=False)
    store = index.open_store(settings=store_settings)
    (article_id,) = store.article_ids()
    passages = {c.id: c for c in map(to_chunk, store.nodes())}
    text = store.article(article_id).text
    assert store._chunks.get(include=["documents"])["documents"] == [None] * len(passages)
    _as_format_5(store)
    assert None not in store._chunks.get(include=["documents"])["documents"]

    old = index.open_store(settings=store_settings)
    assert old._chunks.metadata["schema"] == 5
    assert {c.id: c for c in map(to_chunk, old.nodes())} == passages and old.article(article_id).text == text
    old.lexical_index().update(clear=True)  # no stamp: rebuilt from format 5's records
    old.lexical()
    assert {i: chunk for i, (chunk, _) in old.chunks_with_vectors(list(passages)).items()} == passages

    index.ingest([SEEDS], settings=store_settings, progress=False)
    new = index.open_store(settings=store_settings)
    assert new._chunks.metadata["schema"] == new._articles.metadata["schema"] == SCHEMA
    assert new.article(article_id).text == text and len(new.article_ids()) == 2
    assert {c.id: c for c in map(to_chunk, new.nodes()) if c.article_id == article_id} == passages


def test_llama_index_reads_the_passages_with_their_text(seeded_settings: Settings) -> None:
    # Format 6 keeps a passage's text in its node's JSON, not in Chroma's document:
    # llama-index's own Chroma store must still give each node its text and metadata.
    from llama_index.core.vector_stores.types import VectorStoreQuery
    from llama_index.vector_stores.chroma import ChromaVectorStore

    store = index.open_store(settings=seeded_settings)
    held = {c.id: c for c in map(to_chunk, store.nodes())}
    question = Embedder().encode_one("How many votes did Maduro get?")
    found = ChromaVectorStore(chroma_collection=store._chunks).query(
        VectorStoreQuery(query_embedding=question.tolist(), similarity_top_k=3)
    )
    assert len(found.nodes) == 3
    for node in found.nodes:
        assert node.get_content() == held[node.node_id].text != ""
        assert node.metadata["title"] == held[node.node_id].title
    assert "5.8 million" in " ".join(node.get_content() for node in found.nodes)


def test_every_sentence_of_every_passage_is_stored_with_its_embedding(store_settings: Settings) -> None:
    index.ingest([SEEDS], settings=store_settings, progress=False)
    store = index.open_store(settings=store_settings)
    chunks = [to_chunk(node) for node in store.nodes()]
    chunk_ids = [c.id for c in chunks]
    sentences = store.sentences(chunks)
    assert set(sentences) == set(chunk_ids)
    for chunk_id, found in sentences.items():
        article = store.article(chunk_id.split("#")[0])
        assert all(np.isclose(np.linalg.norm(s.vector), 1.0, atol=1e-3) for s in found)
        assert [article.text[s.start : s.end].strip() for s in found] == [
            article.text[s.start : s.end] for s in found
        ]
