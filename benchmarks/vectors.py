"""Dense search at a million passages: Chroma's embedded vector index (HNSW) against
newsqa's vector files beside the lexical index (`index.vectors`: memory-mapped, exact).

    .venv/bin/python benchmarks/vectors.py [--size 1000000] [--work DIR] [--keep]

The same vectors go into both, in one run: `--size` unit vectors of 384 dimensions drawn
around 2,000 random centres (clustered like real embeddings; seeded), each with a source
(71% "bbc" as in benchmarks/scale.py's store, 25% "wiki", 4% "wire") and a day. Then, in
a new process for each: opening and the first query, the p50/p95 of 200 warm queries for
the 50 nearest (what retrieval asks for) without a filter and with each of two source
filters, the share of the exact top 10 that the index finds, and what a reader pays to
see 330 passages (100 articles) that another process has just written. Chroma's reader
sees another process's vectors only by opening the store again (index/store.py); the
files' reader maps what the writer appended. The real product adds Chroma's record reads
by id and the lexical side to each question (benchmarks/scale.py measures all of it).
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

import index  # noqa: E402, F401  (offline switches first)
from memory import peak_rss_mib  # noqa: E402
from index.filters import Filters  # noqa: E402
from index.lexical import FILE, LexicalArticle, LexicalIndex, LexicalPassage  # noqa: E402

DIM = 384
K = 50
PER_ARTICLE = 3  # passages per made-up article
BATCH = 5000
SOURCES = (("bbc", 0.71), ("wiki", 0.25), ("wire", 0.04))
COLLECTION = "bench"


def data(size: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Unit vectors around random centres, each row's source (an index into SOURCES) and day."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(2000, DIM)).astype(np.float32)
    vectors = np.empty((size, DIM), dtype=np.float32)
    for at in range(0, size, 100_000):
        n = min(100_000, size - at)
        part = centres[rng.integers(0, len(centres), n)] + 0.9 * rng.normal(size=(n, DIM)).astype(np.float32)
        vectors[at : at + n] = part / np.linalg.norm(part, axis=1, keepdims=True)
    sources = rng.choice(len(SOURCES), size=size, p=[p for _, p in SOURCES])
    days = rng.integers(12_000, 20_000, size=size)
    return vectors, sources, days


def queries(vectors: np.ndarray, n: int = 200, seed: int = 1) -> np.ndarray:
    rng = np.random.default_rng(seed)
    picked = vectors[rng.choice(len(vectors), n, replace=False)] + 0.5 * rng.normal(size=(n, DIM)).astype(np.float32) / np.sqrt(DIM)
    return picked / np.linalg.norm(picked, axis=1, keepdims=True)


def _passages(first: int, vectors: np.ndarray, sources: np.ndarray, days: np.ndarray, prefix: str = "") -> tuple[list[LexicalArticle], list[LexicalPassage]]:
    articles, passages = [], []
    for n in range(len(vectors)):
        row = first + n
        article = f"{prefix}a{row // PER_ARTICLE}"
        if row % PER_ARTICLE == 0 or n == 0:
            articles.append(LexicalArticle(article, article, SOURCES[sources[n]][0], "", "", PER_ARTICLE, article))
        passages.append(LexicalPassage(f"{prefix}p{row}", article, SOURCES[sources[n]][0], int(days[n]), f"w{row % 997}",
                                       vectors[n]))
    return articles, passages


def build_files(work: Path, vectors: np.ndarray, sources: np.ndarray, days: np.ndarray) -> float:
    started = time.perf_counter()
    (work / "files").mkdir(parents=True, exist_ok=True)
    lexical = LexicalIndex(work / "files" / FILE)
    for at in range(0, len(vectors), BATCH):
        articles, passages = _passages(at, vectors[at : at + BATCH], sources[at : at + BATCH], days[at : at + BATCH])
        lexical.update(articles=articles, passages=passages, stamp=(at, "bench"))
    return time.perf_counter() - started


def _chroma(work: Path) -> Any:
    import chromadb
    from chromadb.config import Settings as ChromaSettings

    client = chromadb.PersistentClient(path=str(work / "chroma"), settings=ChromaSettings(anonymized_telemetry=False))
    return client


def build_chroma(work: Path, vectors: np.ndarray, sources: np.ndarray, days: np.ndarray) -> float:
    started = time.perf_counter()
    collection = _chroma(work).create_collection(COLLECTION, embedding_function=None,  # type: ignore[arg-type]
                                                 configuration={"hnsw": {"space": "cosine"}})
    for at in range(0, len(vectors), BATCH):
        part = range(at, min(at + BATCH, len(vectors)))
        collection.add(ids=[f"p{i}" for i in part], embeddings=vectors[at : at + BATCH],
                       metadatas=[{"source_key": SOURCES[sources[i]][0], "published_day": int(days[i])} for i in part])
    return time.perf_counter() - started


def _timed(run: Callable[[], Any], asked: np.ndarray) -> tuple[float, float]:
    times = []
    for q in asked:
        started = time.perf_counter()
        run_q = run(q)
        times.append((time.perf_counter() - started) * 1000)
        del run_q
    return statistics.median(times), float(np.percentile(times, 95))


def ask(engine: str, work: Path, size: int) -> dict[str, float]:
    """In this (new) process: open, first query, warm queries, recall, then another
    process's write and the next query. The questions and their exact top 10 come from
    the parent (work/asked.npz), so that this process's memory is the index's."""
    saved = np.load(work / "asked.npz")
    asked, exact = saved["asked"], [set(row.tolist()) for row in saved["exact"]]
    found: dict[str, float] = {}
    import torch  # noqa: F401  (the files' search uses it; the product's embedder has loaded it)

    started = time.perf_counter()
    if engine == "files":
        lexical = LexicalIndex(work / "files" / FILE)

        def search(q: np.ndarray, filters: Filters | None = None) -> list[int]:
            return [int(i[1:]) for i, _ in lexical.nearest(q, K, filters)]
    else:
        collection = _chroma(work).get_collection(COLLECTION, embedding_function=None)  # type: ignore[arg-type]

        def search(q: np.ndarray, filters: Filters | None = None) -> list[int]:
            got = collection.query(query_embeddings=[q], n_results=K, where=filters.where() if filters else None,
                                   include=["distances"])
            return [int(i[1:]) for i in got["ids"][0]]
    search(asked[0])
    found["first_query_s"] = time.perf_counter() - started
    found["p50_ms"], found["p95_ms"] = _timed(search, asked)
    for name in ("bbc", "wire"):
        found[f"{name}_p50_ms"], found[f"{name}_p95_ms"] = _timed(lambda q: search(q, Filters.parse(name)), asked)
    found["recall_at_10"] = float(np.mean([len(set(search(q)[:10]) & e) / 10 for q, e in zip(asked, exact)]))
    found["peak_rss_mib"] = peak_rss_mib()
    # Another process writes 100 articles; this one asks for the first of them.
    subprocess.run([sys.executable, __file__, "--stage", f"write-{engine}", "--work", str(work), "--size", str(size)],
                   check=True)
    new = np.load(work / "new.npy")
    started = time.perf_counter()
    if engine == "chroma":  # its copy of the index must be loaded again (index/store.py's _reopen)
        from chromadb.api.shared_system_client import SharedSystemClient

        SharedSystemClient.clear_system_cache()
        collection = _chroma(work).get_collection(COLLECTION, embedding_function=None)  # type: ignore[arg-type]
    hits = search(new[0])
    found["after_write_s"] = time.perf_counter() - started
    found["sees_the_write"] = float(bool(hits) and hits[0] == size)
    return found


def write(engine: str, work: Path, size: int) -> None:
    rng = np.random.default_rng(7)
    new = rng.normal(size=(100 * PER_ARTICLE, DIM)).astype(np.float32)
    new /= np.linalg.norm(new, axis=1, keepdims=True)
    np.save(work / "new.npy", new)
    sources, days = np.zeros(len(new), dtype=int), np.full(len(new), 19_000)
    if engine == "files":
        articles, passages = _passages(size, new, sources, days)
        LexicalIndex(work / "files" / FILE).update(articles=articles, passages=passages, stamp=(size, "bench"))
    else:
        collection = _chroma(work).get_collection(COLLECTION, embedding_function=None)  # type: ignore[arg-type]
        collection.add(ids=[f"p{size + i}" for i in range(len(new))], embeddings=new,
                       metadatas=[{"source_key": "bbc", "published_day": 19_000} for _ in new])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=int, default=1_000_000)
    parser.add_argument("--work", type=Path, default=None, help="where the two stores go (default: a temporary folder)")
    parser.add_argument("--keep", action="store_true", help="keep the stores")
    parser.add_argument("--engines", default="files,chroma")
    parser.add_argument("--stage", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.stage:
        stage, engine = args.stage.split("-")
        if stage == "ask":
            print(json.dumps(ask(engine, args.work, args.size)))
        else:
            write(engine, args.work, args.size)
        return
    work = args.work or Path(tempfile.mkdtemp(prefix="newsqa-bench-vectors-"))
    work.mkdir(parents=True, exist_ok=True)
    engines = args.engines.split(",")
    vectors, sources, days = data(args.size)
    results: dict[str, dict[str, float]] = {}
    try:
        for engine in engines:
            shutil.rmtree(work / engine, ignore_errors=True)
            build = build_files if engine == "files" else build_chroma
            results[engine] = {"build_s": build(work, vectors, sources, days)}
            print(f"{engine}: built in {results[engine]['build_s']:.0f} s", flush=True)
        asked = queries(vectors)
        np.savez(work / "asked.npz", asked=asked, exact=np.stack([np.argsort(-(vectors @ q))[:10] for q in asked[:50]]))
        del vectors
        for engine in engines:
            out = subprocess.run([sys.executable, __file__, "--stage", f"ask-{engine}", "--work", str(work),
                                  "--size", str(args.size)], check=True, capture_output=True, text=True).stdout
            results[engine].update(json.loads(out.strip().splitlines()[-1]))
            results[engine]["disk_mib"] = sum(p.stat().st_size for p in (work / engine).rglob("*") if p.is_file()) / 2**20
            print(f"{engine}: {json.dumps(results[engine])}", flush=True)
    finally:
        if not args.keep and args.work is None:
            shutil.rmtree(work, ignore_errors=True)
    print(report(results, args.size))


def report(r: dict[str, dict[str, float]], size: int) -> str:
    names = [e for e in ("chroma", "files") if e in r]
    rows = [
        ("build (s)", "build_s", "{:.0f}"), ("open + first query (s)", "first_query_s", "{:.2f}"),
        ("warm p50 / p95 (ms)", ("p50_ms", "p95_ms"), "{:.1f} / {:.1f}"),
        ("source filter, 71% of rows (ms)", ("bbc_p50_ms", "bbc_p95_ms"), "{:.1f} / {:.1f}"),
        ("source filter, 4% of rows (ms)", ("wire_p50_ms", "wire_p95_ms"), "{:.1f} / {:.1f}"),
        ("exact top 10 found", "recall_at_10", "{:.3f}"),
        ("another process writes 100 articles: next query (s)", "after_write_s", "{:.2f}"),
        ("... and it finds them", "sees_the_write", "{:.0f}"),
        ("peak memory of the asking process (MiB)", "peak_rss_mib", "{:,.0f}"),
        ("on disk (MiB)", "disk_mib", "{:,.0f}"),
    ]
    lines = [f"| {size:,} vectors | " + " | ".join(names) + " |", "| --- |" + " ---: |" * len(names)]
    for label, key, form in rows:
        cells = [form.format(*(r[e][k] for k in key)) if isinstance(key, tuple) else form.format(r[e][key]) for e in names]
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
