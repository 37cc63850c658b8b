"""A client of `newsqa serve`, for the CLI's `--server`: it loads no model, so an answer
takes the server's time and little more. Standard library only, to start fast."""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.request
from typing import Any

from index.errors import NewsQAError
from index.filters import Filters
from qa.answer import Answer


class ServerError(NewsQAError):
    """The server could not be reached, or refused the request (its message says why)."""


class Client:
    def __init__(self, url: str, api_key: str | None = None, timeout: float = 120.0) -> None:
        url = url.strip().rstrip("/")
        if not url.lower().startswith(("http://", "https://")):
            raise ServerError(f"--server {url!r} is not a server's URL: use e.g. http://127.0.0.1:8000")
        self.url = url[: -len("/v1")] if url.endswith("/v1") else url
        self.api_key = api_key if api_key is not None else os.environ.get("NEWSQA_API_KEY")
        self.timeout = timeout

    def answer(self, question: str, history: list[str] | None = None, filters: Filters | None = None) -> Answer:
        body = {"question": question, "history": history or [], "filters": _filters(filters)}
        return Answer.from_dict(self._post("/v1/answers", body))

    def search(self, query: str, k: int = 10, filters: Filters | None = None) -> list[dict[str, Any]]:
        return list(self._post("/v1/search", {"query": query, "k": k, "filters": _filters(filters)}))

    def _post(self, path: str, body: dict[str, Any]) -> Any:
        headers = {"Content-Type": "application/json"}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        request = urllib.request.Request(self.url + path, json.dumps(body).encode(), headers, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                return json.load(response)
        except urllib.error.HTTPError as refused:
            raise ServerError(f"the server at {self.url} answered {refused.code}: {_message(refused)}") from None
        except (urllib.error.URLError, OSError) as unreachable:
            reason = getattr(unreachable, "reason", unreachable)
            raise ServerError(f"cannot reach the newsqa server at {self.url} ({reason}): "
                              "is `newsqa serve` running there?") from None


def _message(refused: urllib.error.HTTPError) -> str:
    try:
        return str(json.load(refused)["error"]["message"])
    except (ValueError, KeyError, TypeError, OSError):
        return str(refused.reason)


def _filters(filters: Filters | None) -> dict[str, Any] | None:
    if not filters:
        return None
    return {"sources": list(filters.sources), "since": filters.since and filters.since.isoformat(),
            "until": filters.until and filters.until.isoformat()}
