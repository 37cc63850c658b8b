"""The HTTP API: `newsqa serve` as a real server process on a free loopback port, asked
with the official `openai` client and with plain HTTP."""

from __future__ import annotations

import http.client
import json
import os
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any, Iterator

import pytest

import index
import qa
from index.settings import Settings
from tests.conftest import ROOT, SEEDS, VOTES, free_port, serving, web_pages
from ui.cli import main

pytestmark = pytest.mark.slow

OUT_OF_CORPUS = "What did the Federal Reserve do with interest rates in March 2023?"
KEY = "test-key-5f1c"


def serve(store: Path, logs: Path, *args: str, env: dict[str, str] | None = None) -> Any:
    port = free_port()
    return serving(
        [sys.executable, "-m", "ui.cli", "serve", "--store", str(store), "--port", str(port), *args],
        f"http://127.0.0.1:{port}/health", logs / f"serve-{port}.log", "newsqa serve",
        cwd=ROOT, env={**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})},
    )


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("api") / "store"
    assert len(index.ingest([SEEDS], store=folder, progress=False).added) == 2
    return folder


@pytest.fixture(scope="module")
def api(store: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The server's base URL. It may fetch the tests' pages on 127.0.0.1."""
    with serve(store, tmp_path_factory.mktemp("logs"), "--allow-private-urls") as health:
        yield health.removesuffix("/health")


def call(url: str, method: str = "GET", body: Any = None, headers: dict[str, str] | None = None,
         data: bytes | None = None) -> tuple[int, Any]:
    """(status, parsed JSON body) of one request; errors are answers too."""
    if body is not None:
        data, headers = json.dumps(body).encode(), {"Content-Type": "application/json", **(headers or {})}
    request = urllib.request.Request(url, data, headers or {}, method=method)
    try:
        with urllib.request.urlopen(request, timeout=120) as response:
            return response.status, json.load(response)
    except urllib.error.HTTPError as refused:
        return refused.code, json.load(refused)


def test_the_openai_client_gets_the_cited_answer_plain_and_streamed(api: str) -> None:
    from openai import OpenAI

    client = OpenAI(base_url=f"{api}/v1", api_key="unused")
    assert [m.id for m in client.models.list()] == ["newsqa"]
    won = "Who won the Venezuelan election?"  # answered in two sentences
    reply = client.chat.completions.create(model="newsqa", messages=[{"role": "user", "content": won}])
    text = reply.choices[0].message.content
    citations = reply.model_extra["citations"]
    assert "Maduro has been declared the winner" in citations[0]["quote"] and f"{citations[0]['quote']} [1]" in text
    assert reply.model_extra["abstained"] is False and reply.model_extra["short"] == "Nicolás Maduro"

    stream = client.chat.completions.create(model="newsqa", messages=[{"role": "user", "content": won}], stream=True)
    chunks = list(stream)
    assert "".join(c.choices[0].delta.content or "" for c in chunks) == text
    assert len(chunks) >= 4  # the role, a piece per cited sentence, the end
    last = chunks[-1]
    assert last.choices[0].finish_reason == "stop" and last.model_extra["citations"] == citations


def test_a_question_the_articles_do_not_answer_comes_back_abstained(api: str) -> None:
    from openai import OpenAI

    client = OpenAI(base_url=f"{api}/v1", api_key="unused")
    reply = client.chat.completions.create(model="newsqa", messages=[{"role": "user", "content": OUT_OF_CORPUS}])
    assert reply.model_extra["abstained"] is True and reply.model_extra["citations"] == []
    assert reply.choices[0].message.content == qa.NO_ANSWER
    narrowed = client.chat.completions.create(  # to articles that do not hold it
        model="newsqa", messages=[{"role": "user", "content": VOTES}],
        extra_body={"filters": {"sources": ["world-cup-final-2018.txt"]}})
    assert narrowed.model_extra["abstained"] is True


def test_earlier_user_messages_are_the_questions_history(api: str, store: Path) -> None:
    follow_up = "How many votes did he get?"
    messages = [{"role": "system", "content": "Be brief."},
                {"role": "user", "content": "Who won the Venezuelan election?"},
                {"role": "assistant", "content": "Nicolás Maduro [1]"},
                {"role": "user", "content": [{"type": "text", "text": follow_up}]}]
    status, reply = call(f"{api}/v1/chat/completions", "POST", {"model": "newsqa", "messages": messages})
    assert status == 200
    settings = Settings.from_env(store=store)
    with_history = qa.ask(follow_up, history=["Who won the Venezuelan election?"], settings=settings)
    assert reply["choices"][0]["message"]["content"] == with_history.text
    assert with_history.text != qa.ask(follow_up, settings=settings).text


def test_the_native_routes(api: str) -> None:
    status, answer = call(f"{api}/v1/answers", "POST", {"question": VOTES})
    assert status == 200 and "5.8 million" in answer["citations"][0]["quote"]
    cited = answer["citations"][0]
    status, article = call(f"{api}/v1/articles/{cited['article_id']}")
    assert status == 200 and article["text"][cited["start"]:cited["end"]] == cited["quote"]
    assert article["title"] == cited["title"] and "origin" not in article

    status, narrowed = call(f"{api}/v1/answers", "POST",
                            {"question": VOTES, "filters": {"sources": ["world-cup-final-2018.txt"]}})
    assert status == 200 and all(c["source"] == "world-cup-final-2018.txt" for c in narrowed["citations"])

    status, passages = call(f"{api}/v1/search", "POST", {"query": "Mbappé goal", "k": 3})
    assert status == 200 and len(passages) == 3 and passages[0]["source"] == "world-cup-final-2018.txt"

    status, page = call(f"{api}/v1/articles?limit=1&offset=1")
    assert status == 200 and page["total"] == 2 and len(page["articles"]) == 1
    status, first = call(f"{api}/v1/articles?limit=1")
    assert first["articles"] != page["articles"]
    status, only = call(f"{api}/v1/articles?source=Venezuela-Election-2018.txt")
    assert [a["title"][:6] for a in only["articles"]] == ["Maduro"] and only["total"] == 1

    status, stats = call(f"{api}/v1/stats")
    assert status == 200 and (stats["articles"], stats["chunks"]) == (2, 8) and "path" not in stats
    assert call(f"{api}/health") == (200, {"status": "ok"})
    with urllib.request.urlopen(f"{api}/docs", timeout=30) as docs:  # offline: no CDN
        page = docs.read().decode()
    assert "/static-offline-docs/swagger-ui-bundle.js" in page and "http" not in page


LIGHTHOUSE = (b"<html><head><title>Lighthouse relit</title></head><body><article><h1>Lighthouse "
              b"relit</h1><p>The old lighthouse at Marrow Point was relit on Sunday after forty years "
              b"of darkness. The restoration cost 2.3 million pounds.</p></article></body></html>")


def test_articles_come_and_go_as_json_as_files_and_by_url(api: str, tmp_path: Path) -> None:
    status, report = call(f"{api}/v1/articles", "POST", {"source": "Harbour Herald", "articles": [
        {"id": "ferry", "text": "Ferry terminal approved\n\nThe harbour authority approved the new ferry "
                                "terminal on Friday, at a cost of 40 million pounds.", "published": "2024-05-03"},
        {"text": "A note without a date we can read.", "published": "last Friday"},
    ]})
    assert status == 200 and report["added"] == ["ferry"]
    assert report["failed"] == [{"location": "articles[1]",
                                 "reason": "\"published\" is not an ISO 8601 date: 'last Friday'"}]
    status, answer = call(f"{api}/v1/answers", "POST", {"question": "How much does the ferry terminal cost?"})
    assert answer["citations"][0]["article_id"] == "ferry" and answer["citations"][0]["source"] == "Harbour Herald"

    boundary = "newsqa-test-boundary"
    parts = [("crane.txt", b"Crane installed\n\nA new crane was installed at the harbour in Calais on Monday."),
             ("scan.pdf", b"%PDF-1.4")]
    form = b"".join(
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{name}"\r\n'
        f"Content-Type: application/octet-stream\r\n\r\n".encode() + content + b"\r\n" for name, content in parts
    ) + f"--{boundary}--\r\n".encode()
    status, uploaded = call(f"{api}/v1/articles", "POST", data=form,
                            headers={"Content-Type": f"multipart/form-data; boundary={boundary}"})
    assert status == 200 and len(uploaded["added"]) == 1
    assert uploaded["failed"] == [{"location": "scan.pdf",
                                   "reason": "unsupported file type '.pdf': use .txt, .md, .html or .jsonl"}]

    pages = {"/lighthouse": (200, "text/html; charset=utf-8", LIGHTHOUSE)}
    with web_pages(pages) as site:
        status, fetched = call(f"{api}/v1/articles", "POST", {"url": f"{site}/lighthouse"})
    assert status == 200 and len(fetched["added"]) == 1 and not fetched["failed"]

    added = ["ferry", *uploaded["added"], *fetched["added"]]
    status, page = call(f"{api}/v1/articles")
    assert page["total"] == 5 and set(added) <= {a["id"] for a in page["articles"]}
    for article_id in added:
        assert call(f"{api}/v1/articles/{article_id}", "DELETE") == (200, {"deleted": [article_id], "missing": []})
    status, gone = call(f"{api}/v1/articles/ferry", "DELETE")
    assert status == 404 and gone["error"]["message"] == "no article 'ferry' in the store"
    assert call(f"{api}/v1/stats")[1]["articles"] == 2


def test_bad_requests_get_a_4xx_whose_json_says_what_to_fix(api: str) -> None:
    cases = [
        ("/v1/answers", {"question": ""}, 422, "question: String should have at least 1 character"),
        ("/v1/answers", {"question": VOTES, "filters": {"since": "2018-06-01", "until": "2018-01-01"}}, 400,
         "the date range is empty"),
        ("/v1/answers", {"question": VOTES, "colour": "red"}, 422, "colour: Extra inputs are not permitted"),
        ("/v1/chat/completions", {"model": "gpt-4o", "messages": [{"role": "user", "content": VOTES}]}, 404,
         "no model 'gpt-4o' here: use newsqa"),
        ("/v1/chat/completions", {"model": "newsqa", "messages": [{"role": "assistant", "content": "hi"}]}, 400,
         "the last message must be the user's question"),
        ("/v1/articles", {"articles": [{"text": "x"}], "url": "https://example.com/"}, 422,
         'give either "articles"'),
        ("/v1/articles", {"url": "/etc/passwd"}, 422, "url: String should match pattern"),
    ]
    for path, body, status, said in cases:
        got, reply = call(api + path, "POST", body)
        assert (got, reply["error"]["message"][: len(said)]) == (status, said), path
    got, reply = call(f"{api}/v1/answers", "POST", data=b"{not json", headers={"Content-Type": "application/json"})
    assert got == 422 and reply["error"]["message"].startswith("the body is not valid JSON")
    # A body over the limit is refused on its announced length, before it is sent.
    connection = http.client.HTTPConnection(api.removeprefix("http://"), timeout=30)
    connection.putrequest("POST", "/v1/answers")
    connection.putheader("Content-Type", "application/json")
    connection.putheader("Content-Length", str(20 * 2**20))
    connection.endheaders()
    refused = connection.getresponse()
    assert refused.status == 413 and "larger than 10 MB" in json.load(refused)["error"]["message"]
    connection.close()
    got, reply = call(f"{api}/v1/articles", "POST", data=b"text", headers={"Content-Type": "text/plain"})
    assert got == 415 and "multipart form" in reply["error"]["message"]
    assert call(f"{api}/v1/nowhere")[0] == 404
    got, reply = call(f"{api}/v1/articles?since=yesterday")
    assert got == 422 and reply["error"]["message"].startswith("query.since: Input should be a valid date")


def test_off_loopback_the_api_needs_its_key_and_fetches_no_private_address(
    store: Path, tmp_path: Path
) -> None:
    with serve(store, tmp_path, "--host", "0.0.0.0", env={"NEWSQA_API_KEY": KEY}) as health:
        api = health.removesuffix("/health")
        assert call(health)[0] == 200  # for load balancers: no key
        for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": KEY}):
            status, reply = call(f"{api}/v1/stats", headers=headers)
            assert status == 401 and "Authorization: Bearer" in reply["error"]["message"]
        assert call(f"{api}/v1/stats", headers={"Authorization": f"Bearer {KEY}"})[0] == 200

        from openai import OpenAI

        reply = OpenAI(base_url=f"{api}/v1", api_key=KEY).chat.completions.create(
            model="newsqa", messages=[{"role": "user", "content": VOTES}])
        assert "5.8 million" in reply.model_extra["citations"][0]["quote"]

        with web_pages({"/lighthouse": (200, "text/html", LIGHTHOUSE)}) as site:
            status, report = call(f"{api}/v1/articles", "POST", {"url": f"{site}/lighthouse"},
                                  headers={"Authorization": f"Bearer {KEY}"})
        assert status == 200 and not report["added"]
        assert report["failed"][0]["reason"].startswith("refused: 127.0.0.1 is a loopback address")


def test_the_server_refuses_to_start_off_loopback_without_a_key_or_on_a_taken_port(
    capsys, monkeypatch, store: Path, api: str
) -> None:
    monkeypatch.delenv("NEWSQA_API_KEY", raising=False)
    assert main(["serve", "--store", str(store), "--host", "0.0.0.0"]) == 1
    said = capsys.readouterr().err
    assert said.count("\n") == 1 and "NEWSQA_API_KEY" in said and "Traceback" not in said
    assert main(["serve", "--store", str(store), "--port", api.rsplit(":", 1)[1]]) == 1
    said = capsys.readouterr().err
    assert said.count("\n") == 1 and "choose another --port" in said


def test_a_read_only_server_neither_ingests_nor_deletes(store: Path) -> None:
    from fastapi.testclient import TestClient

    from qa.engine import engine_for
    from ui.api import ServeOptions, create_app

    client = TestClient(create_app(engine_for(Settings.from_env(store=store)), ServeOptions(read_only=True)))
    for method, path in (("POST", "/v1/articles"), ("DELETE", "/v1/articles/any")):
        reply = client.request(method, path, json={"articles": [{"text": "Not to be stored."}]})
        assert reply.status_code == 403 and "read-only" in reply.json()["error"]["message"]
    assert client.post("/v1/answers", json={"question": VOTES}).status_code == 200


def test_the_cli_asks_a_running_server(api: str) -> None:
    run = subprocess.run(
        [sys.executable, "-m", "ui.cli", "ask", VOTES, "--server", api, "--json"],
        capture_output=True, text=True, cwd=ROOT, timeout=60,
    )
    assert run.returncode == 0, run.stderr
    assert "5.8 million" in json.loads(run.stdout)["citations"][0]["quote"]
    down = subprocess.run(
        [sys.executable, "-m", "ui.cli", "ask", VOTES, "--server", f"http://127.0.0.1:{free_port()}"],
        capture_output=True, text=True, cwd=ROOT, timeout=60,
    )
    assert down.returncode == 1 and down.stderr.count("\n") == 1
    assert "cannot reach the newsqa server" in down.stderr and "Traceback" not in down.stderr


def test_with_an_llm_configured_newsqa_llm_gives_the_written_answer(store: Path, smollm2: Path) -> None:
    from dataclasses import replace

    from fastapi.testclient import TestClient

    from qa.engine import Engine
    from ui.api import ServeOptions, create_app

    settings = replace(Settings.from_env(store=store), llm="gguf", llm_model=str(smollm2))
    client = TestClient(create_app(Engine(settings), ServeOptions()))
    assert [m["id"] for m in client.get("/v1/models").json()["data"]] == ["newsqa", "newsqa-llm"]
    written = client.post("/v1/answers", json={"question": VOTES}).json()
    # Written by the LLM and checked, or, when no sentence it wrote is backed, the
    # extractive answer with a notice that says so: either way, from the LLM's turn.
    assert written["written_by"] or "extractive answer instead" in (written["notice"] or "")
    reply = client.post("/v1/chat/completions", json={
        "model": "newsqa-llm", "messages": [{"role": "user", "content": VOTES}]}).json()
    assert reply["model"] == "newsqa-llm" and reply["citations"]
    plain = client.post("/v1/chat/completions", json={
        "model": "newsqa", "messages": [{"role": "user", "content": VOTES}]}).json()
    assert plain["choices"][0]["message"]["content"] == qa.ask(VOTES, settings=replace(settings, llm=None)).text
