"""The chat exposed to hostile articles and hostile requests.

One chat, started in a folder that holds a secret `.env`, with a 1 MB upload limit;
the malicious articles of tests/ui/hostile.py go in through the articles panel.
"""

from __future__ import annotations

import http.client
import os
import subprocess
import sys
import urllib.parse
from pathlib import Path
from typing import Any, Iterator

import pytest

from tests.conftest import ROOT
from tests.ui.browser import ANSWERED, chat_server, chromium, expect, visit
from tests.ui.hostile import write_articles

pytestmark = [pytest.mark.browser, pytest.mark.slow]

SECRET = "hunter2-the-secret"


@pytest.fixture(scope="module")
def hostile(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, list[Path], Path]]:
    folder = tmp_path_factory.mktemp("hostile")
    files = write_articles(folder / "articles")
    (folder / ".env").write_text(f"NEWSQA_SECRET={SECRET}\n")
    store = folder / "store"
    with chat_server(store, folder, "--max-upload-mb", "1", cwd=folder) as url:
        yield url, files, store


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with chromium() as launched:
        yield launched


def test_hostile_articles_run_nothing_open_nothing_and_call_nowhere(
    browser: Any, hostile: tuple[str, list[Path], Path],
) -> None:
    url, files, _ = hostile
    assert len(files) >= 50
    with visit(browser, url) as seen:
        page = seen.page
        seen.upload(files)
        expect(page.locator("#nq-outcomes").get_by_text("Adding articles")).to_be_visible(timeout=ANSWERED)
        # Every file went in (the table shows only the rows in view).
        expect(page.locator("#nq-description")).to_contain_text(f"{len(files) + 2} articles", timeout=180_000)
        expect(page.locator("#nq-outcomes")).to_contain_text("bulletin-0.txt")
        expect(page.locator("#nq-catalog")).to_contain_text("<img src=x onerror=window.__pwned=1;alert(1)>")
        seen.screenshot("hostile-articles")

        page.get_by_role("tab", name="Chat").click()
        opened = 0
        for question in (
            "What did the Zorvath harbour festival bulletin report at the pier?",
            "What did Zorvath bulletin 12 report?",
            "What did Zorvath bulletin 26 report at the pier?",
            "How many boats did officials in Zorvath count?",
            "What did the bulletin by name report?",
        ):
            seen.ask(question)
            expect(page.locator("#source-1")).to_contain_text("Zorvath")
            for summary in page.locator("#nq-sources summary").all():
                summary.click()  # every cited article, opened whole
                opened += 1
        assert opened >= 5
        expect(page.locator("#nq-sources")).to_contain_text("<")  # payloads shown as text
        seen.screenshot("hostile-answer")
        seen.ask("What is the boiling point of mercury in Zorvath?")  # the closest passages
        assert page.evaluate("window.__pwned") is None
    assert not seen.dialogs, f"dialogs opened: {seen.dialogs}"
    assert not seen.other_hosts(), f"the page contacted other hosts: {seen.other_hosts()}"


def _get(url: str, path: str) -> tuple[int, bytes]:
    """A raw GET: the path goes out exactly as written (no normalising of ../)."""
    where = urllib.parse.urlsplit(url)
    connection = http.client.HTTPConnection(where.hostname, where.port, timeout=30)
    try:
        connection.request("GET", path)
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


def test_the_server_serves_no_file_but_its_own(hostile: tuple[str, list[Path], Path]) -> None:
    url, files, store = hostile
    secrets = {
        "/etc/passwd": b"root:",
        ".env": SECRET.encode(),
        str(store / "chroma.sqlite3"): b"SQLite format",
        str(files[0]): b"Zorvath",
    }
    paths = []
    for target in secrets:
        absolute = target if target.startswith("/") else str(Path.cwd() / target)
        for prefix in ("/file=", "/gradio_api/file=", "/file/", "/gradio_api/file/", "/static/",
                       "/assets/", "/svelte/"):
            paths += [prefix + target, prefix + absolute, prefix + urllib.parse.quote(absolute, safe="")]
        paths += [f"/{target}", "/../../../../.." + absolute, "/%2e%2e/%2e%2e/%2e%2e/%2e%2e" + absolute,
                  "/static/..%2f..%2f..%2f..%2f..%2f.." + absolute, "/gradio_api/file=../../../.." + absolute,
                  "/gradio_api/file=..%2f..%2f..%2f..%2f.." + absolute]
    paths += ["/.env", "/gradio_api/file=.env", "/file=.env", "/static/../.env", "/assets/..%2f.env"]
    leaked = []
    for path in paths:
        status, body = _get(url, path)
        if status == 200 and any(secret in body for secret in secrets.values()):
            leaked.append(path)
    assert not leaked, f"served a file it must not: {leaked}"
    assert _get(url, "/")[0] == 200  # the app itself is served


def _said(message: dict[str, Any]) -> str:
    """A chat message's text, as gradio_client returns it (a string or a list of parts)."""
    content = message["content"]
    return content if isinstance(content, str) else " ".join(part.get("text", "") for part in content)


def test_an_over_long_question_gets_a_clear_message(hostile: tuple[str, list[Path], Path]) -> None:
    from gradio_client import Client

    client = Client(hostile[0], verbose=False)
    chat, *_ = client.predict("why " * 25_000, [], [], "", "", api_name="/respond")
    assert "the question is too long (99999 characters; the limit is 2000)" in _said(chat[-1])
    chat, *_ = client.predict("   ", [], [], "", "", api_name="/respond")
    assert chat == []  # empty input is ignored


def test_an_upload_over_the_limit_is_refused(browser: Any, hostile: tuple[str, list[Path], Path],
                                             tmp_path: Path) -> None:
    big = tmp_path / "big.txt"
    big.write_text("Zorvath " * 200_000)  # 1.6 MB, over the 1 MB limit
    with visit(browser, hostile[0]) as seen:
        page = seen.page
        page.get_by_role("tab", name="Articles").click()
        page.locator("#nq-upload input[type=file]").set_input_files([str(big)])
        expect(page.get_by_text("exceed the maximum allowed size of 1")).to_be_visible(timeout=ANSWERED)
    # The server refuses it too, for clients that are not the page.
    boundary = "newsqa-boundary"
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"files\"; filename=\"big.txt\"\r\n"
            f"Content-Type: text/plain\r\n\r\n").encode() + big.read_bytes() + f"\r\n--{boundary}--\r\n".encode()
    where = urllib.parse.urlsplit(hostile[0])
    connection = http.client.HTTPConnection(where.hostname, where.port, timeout=60)
    try:
        connection.request("POST", "/gradio_api/upload", body,
                           {"Content-Type": f"multipart/form-data; boundary={boundary}"})
        response = connection.getresponse()
        assert response.status == 413, (response.status, response.read()[:300])
    finally:
        connection.close()


def test_the_chat_off_loopback_refuses_to_start_without_a_login(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "NEWSQA_CHAT_AUTH"}
    done = subprocess.run(
        [sys.executable, "-m", "ui", "--store", str(tmp_path / "store"), "--host", "0.0.0.0"],
        capture_output=True, text=True, timeout=120, cwd=ROOT, env=env,
    )
    assert done.returncode == 1
    assert done.stderr.strip().splitlines() == [
        "newsqa: error: --host 0.0.0.0 would expose the chat to the network without a login: "
        "set NEWSQA_CHAT_AUTH=user:password (or --auth-file FILE), or keep --host 127.0.0.1"
    ]
    assert not (tmp_path / "store").exists()  # nothing started


def test_with_a_login_nothing_is_answered_before_signing_in(tmp_path: Path) -> None:
    with chat_server(tmp_path / "store", tmp_path, env={"NEWSQA_CHAT_AUTH": "ann:s3cret"}) as url:
        assert _get(url, "/config")[0] == 401
        from gradio_client import Client

        with pytest.raises(Exception):
            Client(url, verbose=False)
        client = Client(url, auth=("ann", "s3cret"), verbose=False)
        chat, *_ = client.predict("How many votes did Maduro get?", [], [], "", "", api_name="/respond")
        assert "5.8 million" in _said(chat[-1])
