"""The chat or the HTTP API under load: 20 clients asking at once while articles are added.

    .venv/bin/python benchmarks/load.py [--api] [--users 20] [--questions 10] [--upload 300]

Starts the chat (`python -m ui`), or with --api the HTTP API (`newsqa serve`), on a free
loopback port over a fresh store (seeded on start), then, in the same run:
1. one client alone asks `--questions` × 2 questions, one after the other;
2. `--users` clients each ask `--questions` questions at once, while one more client
   adds `--upload` articles (the chat: a JSONL file through the articles panel, each
   client a gradio_client session; the API: POST /v1/articles with the articles as JSON,
   the questions as POST /v1/chat/completions).
Reports answer latency p50/p95 in both phases (seconds from asking to the whole answer,
waiting in the queue included) and their ratio, errors (any exception, an HTTP error, or
a reply that says "went wrong"), how the questions ended (answered, abstained, told
"Sorry"), and whether every added article went in.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

QUESTIONS = [
    "How many votes did Maduro get?",
    "Who was Maduro's closest rival?",
    "Who won the World Cup final?",
    "What was the score of the World Cup final?",
    "When does Maduro's new term begin?",
    "Who scored in the World Cup final?",
    "What did the United States do after the vote?",
    "What is the boiling point of mercury?",  # not in the articles: abstains
]


def free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def start_server(work: Path, api: bool) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    url = f"http://127.0.0.1:{port}/"
    log = open(work / "server.log", "wb")
    command = ["-m", "ui.cli", "serve"] if api else ["-m", "ui"]
    server = subprocess.Popen(
        [sys.executable, *command, "--store", str(work / "store"), "--port", str(port)],
        stdout=log, stderr=subprocess.STDOUT, cwd=ROOT,
    )
    deadline = time.monotonic() + 300
    while True:
        try:
            urllib.request.urlopen(url + ("health" if api else ""), timeout=2).close()
            return server, url
        except OSError:
            if server.poll() is not None or time.monotonic() > deadline:
                sys.exit(f"the chat did not start; see {work / 'server.log'}")
            time.sleep(0.5)


def said(chat: list[dict[str, Any]]) -> str:
    content = chat[-1]["content"] if chat else ""
    return content if isinstance(content, str) else " ".join(p.get("text", "") for p in content)


def ask_all(url: str, questions: list[str], results: list[dict[str, Any]]) -> None:
    """One session (one client) asking its questions one after the other."""
    from gradio_client import Client

    client = Client(url, verbose=False)
    for question in questions:
        start = time.perf_counter()
        try:
            chat, *_ = client.predict(question, [], [], "", "", api_name="/respond")
            reply = said(chat)
            ended = ("error" if "went wrong" in reply else "sorry" if reply.startswith("Sorry")
                     else "abstained" if "could not find" in reply else "answered")
        except Exception as error:  # counted, not raised: the benchmark reports errors
            ended, reply = "error", f"{type(error).__name__}: {error}"
        results.append({"seconds": time.perf_counter() - start, "ended": ended, "reply": reply[:200]})


def _post(url: str, body: Any) -> Any:
    request = urllib.request.Request(url, json.dumps(body).encode(), {"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=600) as response:
        return json.load(response)


def ask_all_api(url: str, questions: list[str], results: list[dict[str, Any]]) -> None:
    """One client asking the API's OpenAI-compatible route, one question after the other."""
    for question in questions:
        start = time.perf_counter()
        try:
            reply = _post(f"{url}v1/chat/completions",
                          {"model": "newsqa", "messages": [{"role": "user", "content": question}]})
            text = reply["choices"][0]["message"]["content"]
            ended = "abstained" if reply["abstained"] else "answered"
        except Exception as error:  # an HTTP error too: counted, not raised
            ended, text = "error", f"{type(error).__name__}: {error}"
        results.append({"seconds": time.perf_counter() - start, "ended": ended, "reply": text[:200]})


def upload_api(url: str, path: Path, outcome: dict[str, Any]) -> None:
    articles = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    start = time.perf_counter()
    try:
        report = _post(f"{url}v1/articles", {"articles": articles})
        outcome.update(rows=f"{len(report['added'])} of {len(articles)} added, {len(report['failed'])} failed",
                       about=json.load(urllib.request.urlopen(f"{url}v1/stats", timeout=60)))
    except Exception as error:
        outcome["error"] = f"{type(error).__name__}: {error}"
    outcome["seconds"] = time.perf_counter() - start


def upload(url: str, path: Path, outcome: dict[str, Any]) -> None:
    from gradio_client import Client, handle_file

    client = Client(url, verbose=False)
    start = time.perf_counter()
    try:
        rows, about, *_ = client.predict([handle_file(str(path))], "", api_name="/add")
        outcome.update(rows=rows, about=about)
    except Exception as error:
        outcome["error"] = f"{type(error).__name__}: {error}"
    outcome["seconds"] = time.perf_counter() - start


def articles_file(work: Path, count: int) -> Path:
    """`count` short made-up articles, one JSONL line each."""
    path = work / "upload.jsonl"
    with open(path, "w", encoding="utf-8") as out:
        for n in range(count):
            text = (f"Ferry line {n} opens in Port Aldane\n\nThe ferry line number {n} between Port "
                    f"Aldane and Kessel Island opened on Monday. It carries {100 + n} passengers "
                    "a day, the harbour authority said. Tickets cost four euros.")
            out.write(json.dumps({"id": f"ferry-{n}", "title": f"Ferry line {n} opens",
                                  "text": text, "source": "Aldane Post"}) + "\n")
    return path


def percentiles(values: list[float]) -> tuple[float, float]:
    ordered = sorted(values)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return statistics.median(ordered), p95


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--users", type=int, default=20)
    parser.add_argument("--questions", type=int, default=10, help="questions per user")
    parser.add_argument("--upload", type=int, default=300, help="articles in the uploaded file")
    parser.add_argument("--api", action="store_true", help="load the HTTP API (newsqa serve), not the chat")
    args = parser.parse_args()
    asking, adding = (ask_all_api, upload_api) if args.api else (ask_all, upload)
    with tempfile.TemporaryDirectory(prefix="newsqa-load-") as folder:
        work = Path(folder)
        server, url = start_server(work, args.api)
        try:
            asking(url, QUESTIONS[:2], [])  # warm up: the first answers load what is lazy
            alone: list[dict[str, Any]] = []
            asking(url, [QUESTIONS[i % len(QUESTIONS)] for i in range(2 * args.questions)], alone)

            loaded: list[dict[str, Any]] = []
            uploaded: dict[str, Any] = {}
            start = time.perf_counter()
            with ThreadPoolExecutor(args.users + 1) as pool:
                pool.submit(adding, url, articles_file(work, args.upload), uploaded)
                for user in range(args.users):
                    mine = [QUESTIONS[(user + i) % len(QUESTIONS)] for i in range(args.questions)]
                    pool.submit(asking, url, mine, loaded)
            wall = time.perf_counter() - start
            after: list[dict[str, Any]] = []
            asking(url, ["How many passengers does ferry line 7 carry?"], after)
        finally:
            server.terminate()
            server.wait(timeout=30)
    report(args, alone, loaded, uploaded, after, wall)


def report(args: argparse.Namespace, alone: list[dict[str, Any]], loaded: list[dict[str, Any]],
           uploaded: dict[str, Any], after: list[dict[str, Any]], wall: float) -> None:
    p50_alone, p95_alone = percentiles([r["seconds"] for r in alone])
    p50_load, p95_load = percentiles([r["seconds"] for r in loaded])
    ended = {kind: sum(r["ended"] == kind for r in loaded) for kind in ("answered", "abstained", "sorry", "error")}
    rows = uploaded.get("rows", {})
    rows = rows.get("data", rows) if isinstance(rows, dict) else rows
    lines = [
        ("the HTTP API" if args.api else "the chat") + f": one client alone: {len(alone)} questions, p50 {p50_alone * 1000:.0f} ms, p95 {p95_alone * 1000:.0f} ms",
        f"{args.users} clients at once, {args.questions} questions each, during an upload of "
        f"{args.upload} articles: {len(loaded)} questions in {wall:.1f} s, "
        f"p50 {p50_load * 1000:.0f} ms, p95 {p95_load * 1000:.0f} ms",
        f"under load / alone: p50 {p50_load / p50_alone:.1f}x, p95 {p95_load / p95_alone:.1f}x",
        "how the questions under load ended: " + ", ".join(f"{k} {v}" for k, v in ended.items()),
        f"upload: {uploaded.get('error') or rows} in {uploaded.get('seconds', 0):.1f} s; "
        f"afterwards: {uploaded.get('about', '')}",
        f"a question about the uploaded articles afterwards: {after[0]['ended']}: {after[0]['reply'][:120]}",
    ]
    errors = [r["reply"] for r in loaded if r["ended"] in {"error", "sorry"}]
    lines += [f"  {e}" for e in errors[:5]]
    print("\n".join(lines))


if __name__ == "__main__":
    main()
