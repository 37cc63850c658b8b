"""The HTTP API's requests and replies (what `/openapi.json` describes).

Replies that are the library's results are its dataclasses themselves (`Answer`,
`Citation`, `ArticleEntry`, `IngestReport`, `DeleteReport`), so that a field added there
reaches the API; the others leave out what is the server's business (`StoredArticle`'s
origin, `StoreStats`' path). The chat completion types follow OpenAI's, plus
`citations`, `abstained` and `short`.
"""

from __future__ import annotations

from datetime import date
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from index.ingest import DeleteReport, IngestReport
from index.store import ArticleEntry
from qa.answer import Answer, Citation
from qa.engine import MAX_QUESTION_CHARS

__all__ = ["Answer", "ArticleEntry", "Citation", "DeleteReport", "IngestReport"]  # replies, as they are

MAX_HISTORY = 20  # earlier questions a request may carry
MAX_ARTICLES = 1000  # articles in one POST /v1/articles
MAX_URL_CHARS = 2000

Text = Field(min_length=1, max_length=MAX_QUESTION_CHARS)


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class FiltersIn(Strict):
    """Only articles from these sources (any of them; none: all) published in this range."""

    sources: list[str] = Field(default_factory=list, max_length=100)
    since: date | None = None
    until: date | None = None


class AnswerRequest(Strict):
    question: str = Text
    history: list[str] = Field(default_factory=list, max_length=MAX_HISTORY,
                               description="the conversation's earlier questions, oldest first")
    filters: FiltersIn | None = None
    written: bool = Field(True, description="written by the configured LLM, if the server has one")


class SearchRequest(Strict):
    query: str = Text
    k: int = Field(10, ge=1, le=100)
    filters: FiltersIn | None = None


class PassageOut(BaseModel):
    article_id: str
    chunk_id: str
    title: str
    source: str
    url: str | None
    published: str | None
    start: int
    end: int
    text: str
    score: float
    dense: float
    lexical: float


class ArticlePage(BaseModel):
    total: int = Field(description="articles that pass the filters")
    offset: int
    limit: int
    articles: list[ArticleEntry]


class ArticleOut(BaseModel):
    id: str
    title: str
    source: str
    url: str | None
    published: str | None
    author: str | None
    chunks: int
    text: str = Field(description="what citations' offsets point into")


class StatsOut(BaseModel):
    model: str
    dim: int
    articles: int
    chunks: int
    sources: dict[str, int]
    duplicate_clusters: int
    duplicate_articles: int


class ArticleIn(Strict):
    text: str = Field(min_length=1, max_length=5_000_000)
    id: str | None = Field(None, max_length=500)
    title: str | None = Field(None, max_length=2000)
    url: str | None = Field(None, max_length=MAX_URL_CHARS)
    source: str | None = Field(None, max_length=500)
    published: str | None = Field(None, max_length=64, description="ISO 8601 date or date-time")
    author: str | None = Field(None, max_length=500)


class IngestRequest(Strict):
    """Articles given whole, or the URL of a page or an RSS/Atom feed to fetch: one of the two."""

    articles: list[ArticleIn] | None = Field(None, min_length=1, max_length=MAX_ARTICLES)
    url: str | None = Field(None, pattern=r"^[hH][tT][tT][pP][sS]?://\S+$", max_length=MAX_URL_CHARS)
    source: str | None = Field(None, max_length=500, description="the outlet of every article read")

    @model_validator(mode="after")
    def _one_of(self) -> IngestRequest:
        if (self.articles is None) == (self.url is None):
            raise ValueError('give either "articles" (a list of {"text": ...}) or "url", not both or neither')
        return self


class ErrorDetail(BaseModel):
    message: str = Field(description="what went wrong, and how to fix it")
    type: str
    param: str | None = None
    code: str | None = None


class ErrorOut(BaseModel):
    error: ErrorDetail


class Health(BaseModel):
    status: Literal["ok"]


# --- OpenAI-compatible chat -------------------------------------------------------------


class ContentPart(BaseModel):
    model_config = ConfigDict(extra="allow")
    type: str = Field(max_length=64)
    text: str | None = Field(None, max_length=MAX_QUESTION_CHARS)


class ChatMessage(BaseModel):
    model_config = ConfigDict(extra="allow")  # name, tool_calls, ...: accepted, unused
    role: Literal["system", "developer", "user", "assistant", "tool"]
    content: str | list[ContentPart] | None = None

    def text(self) -> str:
        if isinstance(self.content, list):
            return " ".join(p.text or "" for p in self.content if p.type == "text").strip()
        return (self.content or "").strip()


class ChatRequest(BaseModel):
    """OpenAI's request; temperature, max_tokens and the like are accepted and unused
    (the answer is quoted, not sampled). `filters` is ours."""

    model_config = ConfigDict(extra="allow")
    model: str = Field(max_length=200)
    messages: list[ChatMessage] = Field(min_length=1, max_length=2 * MAX_HISTORY + 2)
    stream: bool = False
    filters: FiltersIn | None = None


class ModelOut(BaseModel):
    id: str
    object: Literal["model"] = "model"
    created: int
    owned_by: str


class ModelList(BaseModel):
    object: Literal["list"] = "list"
    data: list[ModelOut]


class ReplyMessage(BaseModel):
    role: Literal["assistant"] = "assistant"
    content: str


class Choice(BaseModel):
    index: int
    message: ReplyMessage
    finish_reason: Literal["stop"] = "stop"


class ChatCompletion(BaseModel):
    id: str
    object: Literal["chat.completion"] = "chat.completion"
    created: int
    model: str
    choices: list[Choice]
    citations: list[Citation] = Field(description="the sources of the content's [n] markers")
    abstained: bool = Field(description="the articles do not hold the answer")
    short: str | None = Field(None, description="the exact words that answer, from the first citation")


def error(message: str, kind: str, param: str | None = None) -> dict[str, Any]:
    return ErrorOut(error=ErrorDetail(message=message, type=kind, param=param)).model_dump()
