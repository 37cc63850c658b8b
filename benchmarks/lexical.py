"""Which engine holds the lexical index: SQLite FTS5, bm25s saved and memory-mapped, or
llama-index's BM25Retriever rebuilt in memory (what newsqa did before)?

    .venv/bin/python benchmarks/lexical.py --store /tmp/newsqa-bench-scale/large [--copies 10]

Reads every passage of a store (build one with benchmarks/scale.py --keep), then for each
engine (tantivy too, when `pip install tantivy` has been run)
engine, on the same passages and in the same run: the time to build it, to open it in a
fresh state and answer a first query, the p50/p95 of warm queries (dev-a questions, seed
0) without and with a source filter, its size on disk, and what adding 100 articles and
deleting them costs. bm25s has no incremental update: a change means a rebuild. newsqa's
engine is the two together (index/segment.py), measured at its slowest: just before its
FTS5 part is frozen into a new segment.
`--copies N` repeats every passage N times under ids of its own (a million passages from
the scale store's 103,360; the in-memory retriever is then left out). The
agreement of each engine's top 10 with FTS5's is printed too (the stemming, stop words and
tokens are the same `index.terms` for all three; the BM25 variants differ in their idf).
"""

from __future__ import annotations

import argparse
import importlib.util
import random
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import index  # noqa: E402
from index.filters import Filters  # noqa: E402
from index.lexical import LexicalArticle, LexicalIndex, LexicalPassage  # noqa: E402
from index.segment import rebuild_threshold  # noqa: E402
from index.settings import Settings  # noqa: E402
from index.terms import terms  # noqa: E402

DEV_A = ROOT.parent / "shared" / "data" / "squad" / "squad-v1.1-dev-a.json"
K = 50  # what retrieval asks for


def passages(store: Path) -> list[LexicalPassage]:
    opened = index.open_store(settings=Settings.from_env(store=store))
    found = list(opened._passages(opened.lexical().listing().newest))  # every article
    found.sort(key=lambda p: p.id)
    return found


def questions(n: int) -> list[str]:
    from qa.squad import load_squad

    if not DEV_A.is_file():
        sys.exit(f"benchmarks/lexical.py: {DEV_A} is missing (the shared SQuAD data)")
    return random.Random(0).sample([q.question for q in load_squad(DEV_A).questions], n)


def _articles(rows: list[LexicalPassage]) -> list[LexicalArticle]:
    ids = sorted({p.article_id for p in rows})
    return [LexicalArticle(i, i, "", "", "", 0, i) for i in ids]


def latency(search: Callable[[str], object], asked: Sequence[str]) -> tuple[float, float]:
    seconds = []
    for question in asked:
        started = time.perf_counter()
        search(question)
        seconds.append(time.perf_counter() - started)
    seconds.sort()
    return 1000 * statistics.median(seconds), 1000 * seconds[min(len(seconds) - 1, int(0.95 * len(seconds)))]


def size_of(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) if path.is_dir() else path.stat().st_size


def fts5(rows: list[LexicalPassage], extra: list[LexicalPassage], asked: Sequence[str], work: Path,
         source: str, segmented: bool) -> dict[str, object]:
    """FTS5 alone, or (`segmented`) as newsqa ranks: a bm25s segment of all but the last
    `rebuild_threshold` - 1 passages, which FTS5 ranks (the most it ever ranks alone)."""
    path = work / ("segmented" if segmented else "fts5") / "lexical.sqlite3"
    path.parent.mkdir()
    started = time.perf_counter()
    built = LexicalIndex(path)
    recent = rebuild_threshold(len(rows)) - 1 if segmented else 0
    frozen, later = rows[: len(rows) - recent], rows[len(rows) - recent :]
    built.update(articles=_articles(frozen), passages=frozen, stamp=(0, "bench"))
    if segmented:
        built.refresh_segment()
    result: dict[str, object] = {"build_s": time.perf_counter() - started}
    if later:
        built.update(articles=_articles(later), passages=later)
    built.close()
    started = time.perf_counter()
    opened = LexicalIndex(path)
    opened.search(asked[0], K)
    result["open_first_s"] = time.perf_counter() - started
    result["p50_p95"] = latency(lambda q: opened.search(q, K), asked)
    only = Filters.parse([source])
    result["filtered_p50_p95"] = latency(lambda q: opened.search(q, K, only), asked)
    result["disk_mib"] = size_of(path.parent) / 2**20
    added = _articles(extra)
    started = time.perf_counter()
    opened.update(articles=added, passages=extra)
    result["add_100_s"] = time.perf_counter() - started
    started = time.perf_counter()
    opened.update(removed=[a.id for a in added])
    result["delete_100_s"] = time.perf_counter() - started
    empty = LexicalIndex(work / f"empty-{segmented}.sqlite3")
    started = time.perf_counter()
    empty.update(articles=added, passages=extra)
    result["add_100_empty_s"] = time.perf_counter() - started
    result["top10"] = {q: [i for i, _ in opened.search(q, 10)] for q in asked}
    return result


def bm25s_engine(rows: list[LexicalPassage], asked: Sequence[str], work: Path, source: str) -> dict[str, object]:
    import bm25s

    folder = work / "bm25s"
    started = time.perf_counter()
    tokens = [terms(p.text) for p in rows]
    model = bm25s.BM25()
    model.index(bm25s.tokenization.Tokenized(*_vocabulary(tokens)), show_progress=False)
    model.save(str(folder))
    result: dict[str, object] = {"build_s": time.perf_counter() - started}
    del model
    started = time.perf_counter()
    loaded = bm25s.BM25.load(str(folder), mmap=True)
    ids = np.array([p.id for p in rows], dtype=object)
    sources = np.array([p.source_key for p in rows], dtype=object)

    def search(question: str, mask: np.ndarray | None = None) -> list[str]:
        words = [w for w in terms(question) if w in loaded.vocab_dict]
        if not words:
            return []
        scores = loaded.get_scores(words, weight_mask=mask)
        top = np.argpartition(-scores, K)[:K]
        return list(ids[top[np.argsort(-scores[top])]])

    search(asked[0])
    result["open_first_s"] = time.perf_counter() - started
    result["p50_p95"] = latency(search, asked)
    mask = (sources == source).astype(np.float32)
    result["filtered_p50_p95"] = latency(lambda q: search(q, mask), asked)
    result["disk_mib"] = size_of(folder) / 2**20
    result["top10"] = {q: search(q)[:10] for q in asked}
    return result


def tantivy_engine(rows: list[LexicalPassage], extra: list[LexicalPassage], asked: Sequence[str], work: Path,
                   source: str) -> dict[str, object]:
    """Tantivy (`pip install tantivy`), the same words pre-cut by `index.terms`."""
    import tantivy

    builder = tantivy.SchemaBuilder()
    builder.add_text_field("words", tokenizer_name="whitespace", index_option="freq")
    builder.add_text_field("id", stored=True, tokenizer_name="raw", index_option="basic")
    builder.add_text_field("article", tokenizer_name="raw", index_option="basic")
    builder.add_text_field("source", tokenizer_name="raw", index_option="basic")
    builder.add_integer_field("day", indexed=True, fast=True)
    schema = builder.build()
    folder = work / "tantivy"
    folder.mkdir()

    def add(writer: object, passages: list[LexicalPassage]) -> None:
        for p in passages:
            writer.add_document(tantivy.Document(  # type: ignore[attr-defined]
                words=" ".join(terms(p.text)), id=p.id, article=p.article_id, source=p.source_key, day=p.day))
        writer.commit()  # type: ignore[attr-defined]

    started = time.perf_counter()
    built = tantivy.Index(schema, path=str(folder))
    writer = built.writer(heap_size=200_000_000, num_threads=1)
    add(writer, rows)
    writer.wait_merging_threads()
    result: dict[str, object] = {"build_s": time.perf_counter() - started}
    del writer, built
    started = time.perf_counter()
    opened = tantivy.Index(schema, path=str(folder))
    only = tantivy.Query.const_score_query(tantivy.Query.term_query(schema, "source", source), 0.0)

    def search(question: str, filtered: bool = False, k: int = K) -> list[str]:
        words = sorted(set(terms(question)))
        if not words:
            return []
        query = tantivy.Query.boolean_query(
            [(tantivy.Occur.Should, tantivy.Query.term_query(schema, "words", w)) for w in words])
        if filtered:
            query = tantivy.Query.boolean_query([(tantivy.Occur.Must, query), (tantivy.Occur.Must, only)])
        searcher = opened.searcher()
        return [searcher.doc(address)["id"][0] for _, address in searcher.search(query, k).hits]

    search(asked[0])
    result["open_first_s"] = time.perf_counter() - started
    result["p50_p95"] = latency(search, asked)
    result["filtered_p50_p95"] = latency(lambda q: search(q, True), asked)
    result["disk_mib"] = size_of(folder) / 2**20
    writer = opened.writer(heap_size=50_000_000, num_threads=1)
    started = time.perf_counter()
    add(writer, extra)
    opened.reload()
    result["add_100_s"] = time.perf_counter() - started
    started = time.perf_counter()
    for article in sorted({p.article_id for p in extra}):
        writer.delete_documents_by_term("article", article)
    writer.commit()
    opened.reload()
    result["delete_100_s"] = time.perf_counter() - started
    result["top10"] = {q: search(q, k=10) for q in asked}
    return result


def _vocabulary(tokens: list[list[str]]) -> tuple[list[list[int]], dict[str, int]]:
    vocab: dict[str, int] = {}
    ids = [[vocab.setdefault(t, len(vocab)) for t in row] for row in tokens]
    return ids, vocab


def in_memory(rows: list[LexicalPassage], asked: Sequence[str]) -> dict[str, object]:
    """llama-index's BM25Retriever over the passages as nodes: what every process built."""
    from llama_index.core.schema import TextNode
    from llama_index.retrievers.bm25 import BM25Retriever

    started = time.perf_counter()
    nodes = [TextNode(id_=p.id, text=p.text) for p in rows]
    retriever = BM25Retriever.from_defaults(nodes=nodes, similarity_top_k=K)
    retriever.retrieve(asked[0])
    result: dict[str, object] = {"build_s": time.perf_counter() - started}
    result["open_first_s"] = result["build_s"]
    result["p50_p95"] = latency(retriever.retrieve, asked)
    result["top10"] = {q: [h.node_id for h in retriever.retrieve(q)[:10]] for q in asked}
    return result


def agreement(a: dict[str, list[str]], b: dict[str, list[str]], texts: dict[str, str]) -> float:
    """The share of one top 10's distinct texts in the other's (copies share a text)."""
    shares = []
    for q in a:
        mine, theirs = {texts.get(i, i) for i in a[q]}, {texts.get(i, i) for i in b[q]}
        shares.append(len(mine & theirs) / max(1, len(mine)))
    return float(np.mean(shares))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--store", type=Path, required=True)
    parser.add_argument("--questions", type=int, default=200)
    parser.add_argument("--copies", type=int, default=1)
    parser.add_argument("--engines", help="a comma-separated few of the engines besides FTS5 (all by default)")
    args = parser.parse_args()
    started = time.perf_counter()
    rows = passages(args.store)
    read_s = time.perf_counter() - started
    if args.copies > 1:
        rows = [LexicalPassage(f"c{c}/{p.id}", f"c{c}/{p.article_id}", p.source_key, p.day, p.text)
                for c in range(args.copies) for p in rows]
    articles = sorted({p.article_id for p in rows})
    extra_ids = set(random.Random(1).sample(articles, 100))
    extra = [LexicalPassage(f"new/{p.id}", f"new/{p.article_id}", p.source_key, p.day, p.text)
             for p in rows if p.article_id in extra_ids]
    source = statistics.mode(p.source_key for p in rows)
    asked = questions(args.questions)
    print(f"{len(rows)} passages of {len(articles)} articles read from the store in {read_s:.1f} s; "
          f"adding {len(extra)} passages of 100 articles; filter: source {source!r}", file=sys.stderr)
    work = Path(tempfile.mkdtemp(prefix="newsqa-lexical-"))
    try:
        engines = {
            "FTS5": lambda: fts5(rows, extra, asked, work, source, segmented=False),
            "segment + FTS5 (newsqa)": lambda: fts5(rows, extra, asked, work, source, segmented=True),
            "tantivy": lambda: tantivy_engine(rows, extra, asked, work, source),
            "bm25s (mmap)": lambda: bm25s_engine(rows, asked, work, source),
            "in memory (before)": lambda: in_memory(rows, asked),
        }
        if args.copies > 1 or not importlib.util.find_spec("llama_index.retrievers.bm25"):
            del engines["in memory (before)"]  # a million nodes in memory: out of reach here
        if not importlib.util.find_spec("tantivy"):
            del engines["tantivy"]
        wanted = ["FTS5", *(args.engines.split(",") if args.engines else [e for e in engines if e != "FTS5"])]
        results = {}
        for name in wanted:
            results[name] = engines[name]()
            print(name, {k: v for k, v in results[name].items() if k != "top10"}, file=sys.stderr, flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    texts = {p.id: p.text for p in rows}
    print(report(results, len(rows), texts))


def report(results: dict[str, dict[str, object]], size: int, texts: dict[str, str]) -> str:
    reference = results["FTS5"]["top10"]
    lines = [f"| {size:,} passages | " + " | ".join(results) + " |", "| --- |" + " ---: |" * len(results)]

    def row(name: str, cell: Callable[[dict[str, object]], str]) -> None:
        lines.append(f"| {name} | " + " | ".join(cell(r) for r in results.values()) + " |")

    def get(key: str, fmt: str) -> Callable[[dict[str, object]], str]:
        return lambda r: fmt.format(r[key]) if key in r else "–"

    def pair(key: str) -> Callable[[dict[str, object]], str]:
        return lambda r: "{:.1f} / {:.1f}".format(*r[key]) if key in r else "–"  # type: ignore[str-format]

    row("build (s)", get("build_s", "{:.1f}"))
    row("open + first query (s)", get("open_first_s", "{:.2f}"))
    row("warm query p50 / p95 (ms)", pair("p50_p95"))
    row("with a source filter (ms)", pair("filtered_p50_p95"))
    row("on disk (MiB)", get("disk_mib", "{:.0f}"))
    row("add 100 articles (s)", get("add_100_s", "{:.2f}"))
    row("… into an empty index (s)", get("add_100_empty_s", "{:.2f}"))
    row("delete them (s)", get("delete_100_s", "{:.2f}"))
    row("top 10 shared with FTS5's", lambda r: f"{agreement(reference, r['top10'], texts):.2f}")  # type: ignore[arg-type]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
