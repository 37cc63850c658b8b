"""Where a passage's sentence vectors live in Chroma: a record each (store format 4) or
packed into the passage's own record (format 5, `index.packing`).

    .venv/bin/python benchmarks/sentence_layout.py [--passages 3000] [--work DIR]

Each layout gets a fresh embedded Chroma database and the same passages: a 384-dimension
vector, a document of 120 words and a few metadata keys each, with six sentences each
(random unit vectors: HNSW works as hard on them as on real ones, which only the passage
collection is ever searched by). Reported, in one run: the time to write them in batches
of 500 passages, the time to read the sentences of 40 passages chosen at random (50
times, as the answerer does for each question), and the disk the database takes.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from index.packing import pack, unpack  # noqa: E402

SENTENCES, DIM, BATCH = 6, 384, 500


def _unit(rng: np.random.Generator, rows: int) -> np.ndarray:
    vectors = rng.standard_normal((rows, DIM)).astype(np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def run(layout: str, passages: int, work: Path) -> dict[str, float]:
    import chromadb
    from chromadb.config import Settings

    rng = np.random.default_rng(0)
    path = work / layout
    shutil.rmtree(path, ignore_errors=True)
    client = chromadb.PersistentClient(path=str(path), settings=Settings(anonymized_telemetry=False))
    chunks = client.create_collection("chunks", embedding_function=None, configuration={"hnsw": {"space": "cosine"}})
    # Format 4 gave its sentences the sparsest graph Chroma builds: they were never searched.
    records = client.create_collection("sentences", embedding_function=None, configuration={
        "hnsw": {"space": "cosine", "ef_construction": 8, "max_neighbors": 4}})
    spans = [(k * 100, k * 100 + 90) for k in range(SENTENCES)]
    started = time.perf_counter()
    for first in range(0, passages, BATCH):
        ids = [f"a{first + i}#0" for i in range(min(BATCH, passages - first))]
        sentence_vectors = _unit(rng, len(ids) * SENTENCES)
        metas = [{"article_id": i.split("#")[0], "title": "A title of a few words", "sentences": SENTENCES}
                 for i in ids]
        if layout == "packed":
            for row, meta in enumerate(metas):
                meta["sentence_pack"] = pack(spans, sentence_vectors[row * SENTENCES : (row + 1) * SENTENCES])
        chunks.add(ids=ids, embeddings=_unit(rng, len(ids)), metadatas=metas,  # type: ignore[arg-type]
                   documents=["word " * 120] * len(ids))
        if layout == "records":
            records.add(ids=[f"{i}/{k}" for i in ids for k in range(SENTENCES)], embeddings=sentence_vectors,
                        metadatas=[{"chunk_id": i, "start": s, "end": e} for i in ids for s, e in spans])
    written = time.perf_counter() - started
    started = time.perf_counter()
    for _ in range(50):
        ids = [f"a{i}#0" for i in rng.choice(passages, 40, replace=False)]
        if layout == "records":
            got = records.get(ids=[f"{i}/{k}" for i in ids for k in range(SENTENCES)], include=["embeddings", "metadatas"])
            assert len(got["ids"]) == 40 * SENTENCES
        else:
            got = chunks.get(ids=ids, include=["metadatas"])
            assert all(len(unpack(str(m["sentence_pack"]), SENTENCES, DIM)) == SENTENCES for m in got["metadatas"])
    read = (time.perf_counter() - started) / 50
    disk = sum(f.stat().st_size for f in path.rglob("*") if f.is_file())
    return {"write_s": written, "read_ms": 1000 * read, "disk_mib": disk / 2**20}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--passages", type=int, default=3000)
    parser.add_argument("--work", type=Path, default=Path("/tmp/newsqa-bench-sentences"))
    args = parser.parse_args()
    found = {layout: run(layout, args.passages, args.work) for layout in ("records", "packed")}
    records, packed = found["records"], found["packed"]
    print(f"{args.passages} passages, {args.passages * SENTENCES} sentences")
    print(f"write:  a record each {records['write_s']:.2f} s, packed {packed['write_s']:.2f} s "
          f"({records['write_s'] / packed['write_s']:.1f}x)")
    print(f"read the sentences of 40 passages:  {records['read_ms']:.1f} ms, {packed['read_ms']:.1f} ms "
          f"({records['read_ms'] / packed['read_ms']:.1f}x)")
    print(f"disk:  {records['disk_mib']:.0f} MiB, {packed['disk_mib']:.0f} MiB")


if __name__ == "__main__":
    main()
