"""The HTTP API (`newsqa serve`): OpenAI-compatible chat completions whose replies carry
their citations, and routes for answers, search and the articles.

Like the chat, it only turns requests into calls of `qa` and `index` and their results
into JSON. Every error is a JSON body that says what to fix (`{"error": {"message": ...}}`,
OpenAI's shape), never a traceback. Requests run on worker threads: answers are served
while an ingest runs; changes of the store go one at a time.
"""

from __future__ import annotations

import hmac
import json
import logging
import re
import tempfile
import threading
import time
import uuid
from dataclasses import asdict, dataclass, replace
from datetime import date
from pathlib import Path
from typing import Any, Callable, Iterator, TypeVar

from fastapi import APIRouter, Depends, FastAPI, HTTPException, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse, StreamingResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from fastapi_offline import FastAPIOffline
from pydantic import ValidationError
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException as StarletteHTTPException

import index
from index.errors import ArticleNotFound, ConfigError, ModelError, NewsQAError, StoreError
from index.filters import Filters
from index.readers import Failure, article_from_record
from qa.engine import Engine, QuestionError
from ui.schemas import (
    MAX_HISTORY, Answer, AnswerRequest, ArticleOut, ArticlePage, ChatCompletion, ChatRequest,
    DeleteReport, ErrorOut, FiltersIn, Health, IngestReport, IngestRequest, ModelList, PassageOut,
    SearchRequest, StatsOut, error,
)

LOOPBACK = {"127.0.0.1", "localhost", "::1"}
MODEL = "newsqa"  # extractive: quoted sentences
LLM_MODEL = "newsqa-llm"  # written by the configured LLM, citations checked
MAX_FILES = 20  # in one upload
log = logging.getLogger("newsqa.api")
T = TypeVar("T")

_KINDS = {400: "invalid_request_error", 401: "authentication_error", 403: "permission_error",
          404: "not_found_error", 405: "invalid_request_error", 409: "conflict_error",
          413: "request_too_large", 415: "invalid_request_error", 422: "invalid_request_error",
          500: "server_error", 503: "server_error"}
ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorOut, "description": kind} for code, kind in _KINDS.items()
    if code in (400, 401, 403, 404, 409, 413, 415, 422)
}


@dataclass(frozen=True)
class ServeOptions:
    """How the API is served (the store's settings are in `Settings`)."""

    host: str = "127.0.0.1"
    port: int = 8000
    api_key: str | None = None  # required off loopback; then every /v1 route asks for it
    read_only: bool = False  # no ingest, no delete
    allow_private_urls: bool = False  # fetch URLs on loopback, private, link-local addresses
    max_request_mb: int = 10
    chat: bool = False  # the Gradio page at /, sharing the engine
    chat_auth: tuple[str, str] | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "api_key", (self.api_key or "").strip() or None)
        if self.host not in LOOPBACK and self.api_key is None:
            raise ConfigError(
                f"--host {self.host} would open the API to the network without a key: set "
                "NEWSQA_API_KEY (clients send Authorization: Bearer KEY), or keep --host 127.0.0.1"
            )
        if self.chat and self.host not in LOOPBACK and self.chat_auth is None:
            raise ConfigError(
                f"--chat with --host {self.host} needs a login for the page: set "
                "NEWSQA_CHAT_AUTH=user:password (or --auth-file FILE)"
            )
        if self.max_request_mb < 1:
            raise ConfigError(f"--max-request-mb {self.max_request_mb}: use at least 1")


def create_app(engine: Engine, options: ServeOptions = ServeOptions(), writes: threading.Lock | None = None) -> FastAPI:
    """The API over `engine`'s store. `writes` serialises changes of the store with other
    writers of this process (the chat, when it is mounted beside it)."""
    writes = writes or threading.Lock()
    app = FastAPIOffline(  # FastAPI whose /docs page loads its scripts from here, not a CDN
        title="newsqa", version="0.1.0", responses=ERRORS,
        description="Cited answers from news articles. `/v1/chat/completions` speaks OpenAI's "
                    "protocol; its replies add `citations`, `abstained` and `short`.",
    )
    _handle_errors(app)
    app.add_middleware(BodyLimit, limit=options.max_request_mb * 2**20)

    if not options.chat:  # else the page is at /
        @app.get("/", include_in_schema=False)
        def root() -> RedirectResponse:
            return RedirectResponse("/docs")

    @app.get("/health", response_model=Health, tags=["service"])
    def health() -> dict[str, str]:
        return {"status": "ok"}

    v1 = APIRouter(prefix="/v1", dependencies=[Depends(_authorized(options.api_key)), Depends(_known_query)])
    _chat_routes(v1, engine)
    _native_routes(v1, engine, options, writes)
    app.include_router(v1)
    return app


def _chat_routes(v1: APIRouter, engine: Engine) -> None:
    def models() -> list[str]:
        return [MODEL, LLM_MODEL] if engine.settings.llm else [MODEL]

    @v1.get("/models", response_model=ModelList, tags=["openai"])
    def list_models() -> dict[str, Any]:
        now = int(time.time())  # the models are built in: no date of their own to give
        return {"object": "list", "data": [
            {"id": name, "object": "model", "created": now, "owned_by": "newsqa"} for name in models()
        ]}

    @v1.post("/chat/completions", response_model=ChatCompletion, tags=["openai"], responses={
        200: {"content": {"text/event-stream": {}},
              "description": "a chat completion, or with `stream` its chunks as server-sent events"}})
    def chat_completions(request: ChatRequest) -> Any:
        if request.model not in models():
            raise HTTPException(404, f"no model {request.model!r} here: use {' or '.join(models())} (GET /v1/models)")
        if request.messages[-1].role != "user":
            raise HTTPException(400, "the last message must be the user's question (role \"user\")")
        questions = [m.text() for m in request.messages if m.role == "user"]
        answer = engine.reply(
            questions[-1], [q for q in questions[:-1] if q][-MAX_HISTORY:], _filters(request.filters),
            written=request.model == LLM_MODEL,
        ).answer
        reply = {"id": f"chatcmpl-{uuid.uuid4().hex}", "created": int(time.time()), "model": request.model}
        extra = {"citations": answer.to_dict()["citations"], "abstained": answer.abstained, "short": answer.short}
        if not request.stream:
            return {**reply, "object": "chat.completion", **extra, "choices": [
                {"index": 0, "message": {"role": "assistant", "content": answer.text}, "finish_reason": "stop"}]}
        return StreamingResponse(_chunks(reply, answer.text, extra), media_type="text/event-stream")


def _chunks(reply: dict[str, Any], text: str, extra: dict[str, Any]) -> Iterator[str]:
    """OpenAI's stream: the role, the text a cited sentence at a time, then an empty delta
    that finishes and carries the citations."""
    def event(delta: dict[str, str], finish: str | None = None, **more: Any) -> str:
        chunk = {**reply, "object": "chat.completion.chunk", **more,
                 "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}
        return f"data: {json.dumps(chunk, ensure_ascii=False)}\n\n"

    yield event({"role": "assistant", "content": ""})
    for piece in _pieces(text):
        yield event({"content": piece})
    yield event({}, "stop", **extra)
    yield "data: [DONE]\n\n"


def _pieces(text: str) -> list[str]:
    """The text cut after each "[n]" marker, so that the pieces join back to it exactly."""
    parts = re.split(r"(?<=\]) ", text)
    return [p + " " for p in parts[:-1]] + [parts[-1]]


def _native_routes(v1: APIRouter, engine: Engine, options: ServeOptions, writes: threading.Lock) -> None:
    store = engine.store
    writable = [Depends(_writable(options.read_only))]

    def locked(change: Callable[[], T]) -> T:
        with writes:
            return change()

    @v1.post("/answers", response_model=Answer, tags=["answers"])
    def answer(request: AnswerRequest) -> dict[str, Any]:
        return engine.reply(request.question, request.history, _filters(request.filters), request.written).answer.to_dict()

    @v1.post("/search", response_model=list[PassageOut], tags=["answers"])
    def search(request: SearchRequest) -> list[dict[str, Any]]:
        return [p.to_dict() for p in engine.search(request.query, request.k, _filters(request.filters))]

    @v1.get("/articles", response_model=ArticlePage, tags=["articles"])
    def list_articles(
        offset: int = Query(0, ge=0, le=10**9), limit: int = Query(50, ge=1, le=1000),
        source: list[str] = Query([], max_length=100, description="only these sources (repeat for several)"),
        since: date | None = Query(None, description="published on or after (YYYY-MM-DD)"),
        until: date | None = Query(None, description="published on or before (YYYY-MM-DD)"),
    ) -> dict[str, Any]:
        total, entries = store.page(offset, limit, Filters.parse(source, since, until))
        return {"total": total, "offset": offset, "limit": limit, "articles": [asdict(e) for e in entries]}

    @v1.get("/articles/{article_id}", response_model=ArticleOut, tags=["articles"])
    def get_article(article_id: str) -> dict[str, Any]:
        try:
            found = asdict(store.article(article_id))
        except ArticleNotFound:  # its message names the store's folder
            raise ArticleNotFound(f"no article {article_id!r} in the store") from None
        del found["origin"]  # a file's path on the server: not the clients' business
        return found

    @v1.delete("/articles/{article_id}", response_model=DeleteReport, tags=["articles"], dependencies=writable)
    def delete_article(article_id: str) -> dict[str, Any]:
        report = locked(lambda: index.delete([article_id], settings=engine.settings))
        if not report.deleted:
            raise ArticleNotFound(f"no article {article_id!r} in the store")
        return report.to_dict()

    @v1.post("/articles", response_model=IngestReport, tags=["articles"], dependencies=writable, openapi_extra={
        "requestBody": {"required": True, "content": {
            "application/json": {"schema": IngestRequest.model_json_schema(ref_template="#/components/schemas/{model}")},
            "multipart/form-data": {"schema": {"type": "object", "required": ["file"], "additionalProperties": False, "properties": {
                "file": {"type": "array", "items": {"type": "string", "format": "binary"}, "minItems": 1, "maxItems": MAX_FILES,
                         "description": ".txt, .md, .html or .jsonl files"},
                "source": {"type": "string", "maxLength": 500}}}},
        }}})
    async def add_articles(request: Request) -> dict[str, Any]:
        """Articles as JSON (`{"articles": [{"text": ...}]}`), the URL of a page or feed
        (`{"url": ...}`), or files uploaded as a form's `file` fields. A broken article is
        reported in `failed` with its reason, and the rest goes in."""
        kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if kind == "application/json":
            try:
                body = IngestRequest.model_validate_json(await request.body())
            except ValidationError as invalid:
                raise RequestValidationError(invalid.errors(include_url=False, include_context=False)) from None
            report = await run_in_threadpool(locked, lambda: _ingest_json(engine, body, options))
        elif kind == "multipart/form-data":
            report = await _ingest_upload(engine, request, locked)
        else:
            raise HTTPException(415, "send JSON ({\"articles\": [...]} or {\"url\": \"https://...\"}) "
                                     "or a multipart form with \"file\" fields")
        return report.to_dict()

    @v1.get("/stats", response_model=StatsOut, tags=["articles"])
    def stats() -> dict[str, Any]:
        found = asdict(store.stats())
        del found["path"]  # where the store lives on the server
        return found


def _ingest_json(engine: Engine, body: IngestRequest, options: ServeOptions) -> IngestReport:
    if body.url:
        return index.ingest([body.url], settings=engine.settings, embedder=engine.embedder, progress=False,
                            source=body.source, public_urls_only=not options.allow_private_urls)
    articles, failed = [], []
    for number, item in enumerate(body.articles or []):
        try:
            article = article_from_record(item.model_dump(exclude_none=True), default_source="api")
        except ValueError as why:
            failed.append(Failure(f"articles[{number}]", str(why)))
            continue
        articles.append(replace(article, source=body.source) if body.source else article)
    report = index.ingest_articles(articles, settings=engine.settings, embedder=engine.embedder, progress=False)
    report.failed[:0] = failed
    return report


async def _ingest_upload(engine: Engine, request: Request, locked: Callable[[Callable[[], T]], T]) -> IngestReport:
    form = await request.form(max_files=MAX_FILES, max_fields=10)
    if unknown := sorted(set(form) - {"file", "source"}):
        raise HTTPException(422, f"unknown form field {unknown[0]!r}: send \"file\" fields and, if you like, a \"source\"")
    uploads = [f for f in form.getlist("file") if isinstance(f, UploadFile)]
    if not uploads:
        raise HTTPException(422, "send the articles as the form's \"file\" fields (.txt, .md, .html, .jsonl)")
    source = form.get("source")
    if source is not None and (not isinstance(source, str) or len(source) > 500):
        raise HTTPException(422, "source: a name of at most 500 characters")
    with tempfile.TemporaryDirectory(prefix="newsqa-upload-") as folder:
        names: dict[str, str] = {}  # the saved file's path: the name the client gave it
        for number, upload in enumerate(uploads):
            name = _safe_name(upload.filename)
            saved = Path(folder, str(number), name)
            saved.parent.mkdir()
            saved.write_bytes(await upload.read())
            names[str(saved)] = name
        report = await run_in_threadpool(locked, lambda: index.ingest(
            list(names), settings=engine.settings, embedder=engine.embedder, progress=False,
            source=source if isinstance(source, str) and source.strip() else None,
        ))
    for at, failure in enumerate(report.failed):
        path, colon, line = failure.location.partition(":")
        if path in names:  # the client's file name, not our temporary path
            report.failed[at] = Failure(names[path] + colon + line, failure.reason)
    return report


def _safe_name(filename: str | None) -> str:
    name = re.sub(r"[^\w.\- ]", "_", Path(filename or "").name).strip(" .")[:120]
    return name or "upload.txt"


def _filters(given: FiltersIn | None) -> Filters | None:
    return Filters.parse(given.sources, given.since, given.until) if given else None


def _authorized(api_key: str | None) -> Callable[..., None]:
    if api_key is None:  # and the schema then asks for no key either
        return lambda: None
    bearer = HTTPBearer(auto_error=False, description="the server's NEWSQA_API_KEY")

    def check(credentials: HTTPAuthorizationCredentials | None = Depends(bearer)) -> None:
        given = credentials.credentials if credentials else ""
        if not hmac.compare_digest(given.encode(), api_key.encode()):  # in constant time
            raise HTTPException(401, "this server needs its API key: send Authorization: Bearer KEY",
                                headers={"WWW-Authenticate": "Bearer"})
    return check


def _known_query(request: Request) -> None:
    """A query parameter the route does not take is refused, not ignored: `?sources=bbc`
    for `?source=bbc` would otherwise list every source's articles without a word."""
    route = request.scope.get("route")
    taken = {p.alias for p in route.dependant.query_params} if route is not None else set()
    if unknown := sorted(set(request.query_params) - taken):
        raise HTTPException(422, f"unknown query parameter {unknown[0]!r}: this route takes "
                                 + (", ".join(sorted(taken)) if taken else "none"))


def _writable(read_only: bool) -> Callable[[], None]:
    def check() -> None:
        if read_only:
            raise HTTPException(403, "this server is read-only (newsqa serve --read-only): "
                                     "it neither ingests nor deletes")
    return check


def _status(problem: NewsQAError) -> int:
    if isinstance(problem, (QuestionError, ConfigError)):
        return 400
    if isinstance(problem, ArticleNotFound):
        return 404
    if isinstance(problem, StoreError):  # no articles yet, or another process is writing
        return 409
    return 503 if isinstance(problem, ModelError) else 400


def _handle_errors(app: FastAPI) -> None:
    def reply(status: int, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
        return JSONResponse(error(message, _KINDS.get(status, "invalid_request_error")), status, headers)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, problem: RequestValidationError) -> JSONResponse:
        said = []
        for item in problem.errors()[:5]:
            if item.get("type") == "json_invalid":
                said.append("the body is not valid JSON")
                continue
            where = ".".join(str(part) for part in item.get("loc", ()) if part != "body")
            message = str(item.get("msg", "invalid")).removeprefix("Value error, ")
            said.append(f"{where}: {message}" if where else message)
        return reply(422, "; ".join(said) + " (the schema is at /openapi.json)")

    @app.exception_handler(StarletteHTTPException)
    async def refused(request: Request, problem: StarletteHTTPException) -> JSONResponse:
        return reply(problem.status_code, str(problem.detail), getattr(problem, "headers", None))

    @app.exception_handler(NewsQAError)
    async def cannot(request: Request, problem: NewsQAError) -> JSONResponse:
        return reply(_status(problem), str(problem))

    @app.exception_handler(Exception)
    async def broken(request: Request, problem: Exception) -> JSONResponse:
        log.exception("%s %s failed", request.method, request.url.path)
        return reply(500, "an unexpected error; the server's log has the details")


class BodyLimit:
    """Refuse request bodies over `limit` bytes with a 413, whether announced by
    Content-Length or not (a chunked upload is counted as it arrives)."""

    def __init__(self, app: Any, limit: int) -> None:
        self.app, self.limit = app, limit

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        announced = dict(scope.get("headers") or []).get(b"content-length", b"")
        if announced.isdigit() and int(announced) > self.limit:
            await self._refuse(send)
            return
        received, started = 0, False

        async def counted() -> dict[str, Any]:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.limit:
                    raise _TooLarge
            return message

        async def watched(message: dict[str, Any]) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counted, watched)
        except _TooLarge:
            if not started:
                await self._refuse(send)

    async def _refuse(self, send: Any) -> None:
        body = json.dumps(error(f"the request is larger than {self.limit // 2**20} MB (--max-request-mb)",
                                "request_too_large")).encode()
        await send({"type": "http.response.start", "status": 413,
                    "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": body})


class _TooLarge(Exception):
    pass


def _check_free(host: str, port: int) -> None:
    import socket

    try:
        with socket.create_server((host, port)):
            pass
    except OSError as error:
        raise ConfigError(f"cannot serve on {host}:{port} ({error.strerror or error}): "
                          "choose another --port (a Chroma server's default is 8000 too)") from None


def serve(settings: index.Settings, options: ServeOptions) -> None:
    """Load the engine, then serve until interrupted."""
    import uvicorn

    from ui.seeds import seed_if_empty

    _check_free(options.host, options.port)  # before the model loads, not after
    seed_if_empty(settings)
    engine = Engine(settings)
    engine.warm()  # before the first request, not during it
    writes = threading.Lock()
    app = create_app(engine, options, writes)
    if options.chat:
        from ui.app import mount_chat

        mount_chat(app, engine, options.chat_auth, options.max_request_mb, not options.allow_private_urls, writes)
    where = f"http://{options.host}:{options.port}"
    print(f"newsqa API at {where}/v1 (docs: {where}/docs)" + (f", chat at {where}/" if options.chat else ""), flush=True)
    uvicorn.run(app, host=options.host, port=options.port, log_level="warning")


__all__ = ["LLM_MODEL", "MODEL", "ServeOptions", "create_app", "serve"]
