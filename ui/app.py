"""The Gradio chat. It only renders what `qa` and `index` return.

Every browser session has its own conversation and filters (Gradio state); the store
and the engine are shared. Articles added in the articles panel go through the same
ingest as the CLI, one request at a time (the others wait in Gradio's queue).
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from html import escape
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Sequence

import index  # noqa: F401  (offline switches, Gradio analytics off, before gradio loads)
from index.errors import ArticleNotFound, ConfigError, NewsQAError
from index.filters import Filters
from index.ingest import IngestReport
from index.readers import SUPPORTED, is_url
from index.settings import Settings
from index.store import ArticleEntry, Store, StoreStats, StoredArticle
from qa.answer import Answer
from qa.engine import MAX_QUESTION_CHARS, Engine, Reply
from qa.llm import describe
from ui.seeds import seed_if_empty
from ui.render import (
    CATALOG_HEADERS, CSS, SCROLL_TO_QUOTE, SEARCHING, answer_html, catalog_rows,
    description, draft_html, notice_html, segments, sources_html,
)

import gradio as gr  # noqa: E402

LOOPBACK = {"127.0.0.1", "localhost", "::1"}
CLOSEST = 3  # passages shown, marked as not holding the answer, when the answer abstains
EXAMPLES = 3
LISTED = 1000  # articles listed in the panel (the newest); the CLI reaches the rest
log = logging.getLogger(__name__)

Message = dict[str, str]


@dataclass(frozen=True)
class Options:
    """How the chat is served (the store's settings are in `Settings`)."""

    host: str = "127.0.0.1"
    port: int = 7860
    auth: tuple[str, str] | None = None  # (user, password): required off loopback
    max_upload_mb: int = 10
    allow_private_urls: bool = False  # fetch pasted URLs on loopback, private, link-local addresses

    def __post_init__(self) -> None:
        if self.host not in LOOPBACK and self.auth is None:
            raise ConfigError(
                f"--host {self.host} would expose the chat to the network without a login: "
                "set NEWSQA_CHAT_AUTH=user:password (or --auth-file FILE), or keep --host 127.0.0.1"
            )
        if self.max_upload_mb < 1:
            raise ConfigError(f"--max-upload-mb {self.max_upload_mb}: use at least 1")


def build_app(engine: Engine, public_urls_only: bool = True, writes: threading.Lock | None = None) -> gr.Blocks:
    """The page. `public_urls_only`: a pasted URL on a loopback, private or link-local
    address is refused (see `index.web`); `writes` serialises the page's changes of the
    store with those of other parts of this process (the HTTP API beside it)."""
    store = engine.store
    writes = writes or threading.Lock()

    def ask(
        question: str, chat: list[Message], asked: list[str],
        sources: list[str] | None = None, since: str = "", until: str = "", mode: str = "extractive",
    ) -> Iterator[tuple[Any, ...]]:
        written = mode == "written"
        for shown, cards, asked_now in respond(engine, question, chat, asked, sources, since, until, written):
            yield shown, cards, asked_now, ""  # "": the question box empties

    def reset() -> tuple[Any, ...]:
        return [], sources_html(None), [], ""

    def add(files: Sequence[str] | None, url: str, progress: gr.Progress = gr.Progress()) -> tuple[Any, ...]:
        with writes:
            rows = add_articles(engine, [str(f) for f in files or []], url, public_urls_only,
                                lambda targets: progress.tqdm(targets, desc="Adding articles", unit="file"))
        return (rows, *_panels(), None, "")

    def remove(article_id: str | None) -> tuple[Any, ...]:
        if not article_id:
            return ("Choose an article to delete.", *_panels())
        try:
            with writes:
                report = index.delete([article_id], settings=engine.settings)
            said = f"Deleted {article_id}." if report.deleted else f"{article_id} was not in the store."
        except NewsQAError as error:
            said = f"Sorry: {error}."
        return (said, *_panels())

    def _panels() -> tuple[Any, ...]:
        """What changes when articles come or go: the description, the table, the choices."""
        stats, entries = _listed(store)
        return (
            description(stats),
            catalog_rows(entries),
            gr.Dropdown(choices=_choices(entries), value=None),
            gr.Dropdown(choices=list(stats.sources)),
        )

    stats, entries = _listed(store)
    with gr.Blocks(title="News QA", analytics_enabled=False) as app:
        gr.Markdown("# News QA")
        about = gr.Markdown(description(stats), elem_id="nq-description")
        llm = engine.settings.llm
        mode = gr.Radio(
            [("Extractive: quoted sentences", "extractive")]
            + ([(f"Written by {describe(engine.settings)}, citations checked", "written")] if llm else []),
            value="written" if llm else "extractive", label="Answers", elem_id="nq-mode",
            visible=bool(llm), info="Each browser tab chooses for itself",
        )
        asked = gr.State([])
        with gr.Tab("Chat", id="chat"):
            with gr.Row():
                with gr.Column(scale=3):
                    chat = gr.Chatbot(
                        label="Conversation", height=460, render_markdown=False,
                        sanitize_html=True, feedback_options=None, elem_id="nq-chat",
                        buttons=["copy", "copy_all"],  # no "share": it would post to Hugging Face
                    )
                    question = gr.Textbox(
                        label="Question", placeholder="Ask about the articles, then press Enter",
                        elem_id="nq-question", max_length=MAX_QUESTION_CHARS, autofocus=True,
                    )
                    with gr.Row():
                        ask_button = gr.Button("Ask", variant="primary", elem_id="nq-ask")
                        new = gr.Button("New conversation", elem_id="nq-new")
                    if entries:
                        gr.Examples(
                            [[q] for q in example_questions(entries)], inputs=[question],
                            label="Example questions", elem_id="nq-examples",
                        )
                    with gr.Accordion("Only some articles", open=False, elem_id="nq-filters"):
                        only_sources = gr.Dropdown(
                            choices=list(stats.sources), multiselect=True, label="Sources",
                            info="Leave empty for all", elem_id="nq-filter-sources",
                        )
                        with gr.Row():
                            since = gr.Textbox(label="Published since", placeholder="YYYY-MM-DD",
                                               elem_id="nq-since", max_length=10)
                            until = gr.Textbox(label="Published until", placeholder="YYYY-MM-DD",
                                               elem_id="nq-until", max_length=10)
                with gr.Column(scale=2):
                    gr.Markdown("### Sources")
                    sources = gr.HTML(
                        sources_html(None), elem_id="nq-sources", js_on_load=SCROLL_TO_QUOTE,
                    )
        with gr.Tab("Articles", id="articles"):
            with gr.Row():
                with gr.Column():
                    uploads = gr.File(
                        label="Upload articles (txt, md, html, jsonl)", file_count="multiple",
                        file_types=sorted(SUPPORTED), type="filepath", elem_id="nq-upload",
                    )
                    url = gr.Textbox(label="Or a web page's URL", placeholder="https://…",
                                     elem_id="nq-url", max_length=2000)
                    add_button = gr.Button("Add articles", variant="primary", elem_id="nq-add")
                with gr.Column():
                    outcomes = gr.Dataframe(
                        headers=["File", "Outcome", "Details"], label="What happened to each file",
                        interactive=False, elem_id="nq-outcomes", wrap=True,
                    )
            catalog = gr.Dataframe(
                value=catalog_rows(entries), headers=CATALOG_HEADERS,
                label=f"Articles in the store (the newest {LISTED:,} are listed)",
                interactive=False, elem_id="nq-catalog", wrap=True,
            )
            with gr.Row():
                doomed = gr.Dropdown(
                    choices=_choices(entries),
                    value=None, label="Delete an article", elem_id="nq-doomed", scale=3,
                )
                delete_button = gr.Button("Delete", variant="stop", elem_id="nq-delete", scale=1)
            deleted = gr.Markdown(elem_id="nq-deleted")

        outputs = [chat, sources, asked, question]
        inputs = [question, chat, asked, only_sources, since, until, mode]
        question.submit(ask, inputs, outputs, concurrency_limit=4, api_name="respond")
        ask_button.click(ask, inputs, outputs, concurrency_limit=4, api_name=False)
        new.click(reset, None, outputs)
        panels = [about, catalog, doomed, only_sources]
        # One change of the store at a time: later requests wait in the queue.
        add_button.click(add, [uploads, url], [outcomes, *panels, uploads, url],
                         concurrency_limit=1, concurrency_id="store", show_progress_on=[outcomes])
        delete_button.click(remove, [doomed], [deleted, *panels],
                            concurrency_limit=1, concurrency_id="store")
    return app


def add_articles(
    engine: Engine, files: Sequence[str], url: str | None, public_urls_only: bool = True,
    each: Callable[[list[str]], Iterable[str]] = lambda targets: targets,
) -> list[list[str]]:
    """Ingest uploaded files and a pasted URL; a row for each: name, outcome, details.
    The URL box takes web addresses only: a path typed there is not read from the
    server's disk."""
    url = (url or "").strip()
    if url and not is_url(url):
        return [[url, "failed", "not a web address: paste an http:// or https:// URL"]]
    targets = [*files, *([url] if url else [])]
    if not targets:
        return [["", "nothing to add", "choose files or paste a URL"]]
    rows = []
    for target in each(targets):
        name = target if is_url(target) else Path(target).name
        try:
            report = index.ingest([target], settings=engine.settings, embedder=engine.embedder,
                                  progress=False, public_urls_only=public_urls_only)
        except NewsQAError as error:
            rows.append([name, "failed", str(error)])
            continue
        except Exception:
            log.exception("adding %s failed", name)
            rows.append([name, "failed", "an unexpected error; see the server's log"])
            continue
        rows.append([name, *outcome(report)])
    return rows


def respond(
    engine: Engine, question: str, chat: list[Message], asked: list[str],
    sources: Sequence[str] | None = None, since: str = "", until: str = "", written: bool = True,
) -> Iterator[tuple[list[Message], Any, list[str]]]:
    """The chat, the sources panel and the questions asked, after each step of answering:
    the question with "Searching…", then the answer one cited sentence at a time.
    `written`: by the configured LLM, if there is one."""
    question = (question or "").strip()
    if not question:
        yield chat, gr.skip(), asked  # empty input is ignored
        return
    shown = _message("user", escape(_shorten(question)))

    def saying(html: str) -> list[Message]:
        return [*chat, shown, _message("assistant", html)]

    yield saying(SEARCHING), gr.skip(), asked
    try:
        filters = Filters.parse(sources or (), since or None, until or None)
        so_far = ""
        for part in engine.stream(question, asked, filters, written):
            if isinstance(part, Reply):
                reply = part
            else:  # the LLM's text as it comes: shown as a draft, with no citation yet
                so_far += part
                yield saying(draft_html(so_far)), gr.skip(), asked
    except NewsQAError as error:
        yield saying(escape(f"Sorry: {error}.")), sources_html(None), asked
        return
    except Exception:
        log.exception("answering %r failed", question[:200])
        yield saying("Sorry, something went wrong while answering."), sources_html(None), asked
        return
    answer, asked = reply.answer, asked + [question]
    if answer.abstained:
        yield saying(escape(answer.text)), sources_html(answer, reply.passages[:CLOSEST]), asked
        return
    cards = sources_html(answer, articles=_articles(engine, answer))
    # One sentence at a time: the answer streams in as a written one would.
    for count in range(1, len(segments(answer)) + 1):
        yield saying(answer_html(answer, count)), cards, asked
    if answer.notice:
        yield saying(answer_html(answer) + notice_html(answer.notice)), cards, asked


def _articles(engine: Engine, answer: Answer) -> dict[str, StoredArticle]:
    """The cited articles, whole, for their cards."""
    found = {}
    for article_id in dict.fromkeys(c.article_id for c in answer.citations):
        try:
            found[article_id] = engine.store.article(article_id)
        except ArticleNotFound:  # deleted since it was retrieved: the card stays
            pass
    return found


def outcome(report: IngestReport) -> list[str]:
    """A file's row in the outcome table: what happened, and the details."""
    counts = [(len(report.added), "added"), (len(report.replaced), "replaced"),
              (len(report.unchanged), "unchanged")]
    done = [f"{n} {word}" for n, word in counts if n]
    failures = [f"{f.location.rsplit('/', 1)[-1]}: {f.reason}" for f in report.failed]
    if report.added or report.replaced:
        status = "added"
    elif report.unchanged:
        status = "unchanged"
    else:
        status = "failed"
    details = ", ".join(done)
    if failures:
        details += ("; " if details else "") + "; ".join(failures)
    return [status, details]


def _listed(store: Store) -> tuple[StoreStats, list[ArticleEntry]]:
    """The store's figures and its newest LISTED articles, from one indexed read."""
    return store.overview(LISTED)


def _choices(entries: Sequence[ArticleEntry]) -> list[tuple[str, str]]:
    return [(f"{_shorten(e.title, 120)} ({e.source})", e.id) for e in entries]


def example_questions(entries: Sequence[Any], count: int = EXAMPLES) -> list[str]:
    """Questions about the newest articles, by their titles."""
    return [f"What does “{_shorten(e.title, 80)}” report?" for e in entries[:count]]


def _shorten(text: str, limit: int = 2000) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _message(role: str, content: str) -> Message:
    return {"role": role, "content": content}


def launch(settings: Settings, options: Options = Options()) -> None:
    seed_if_empty(settings)
    engine = Engine(settings)
    engine.warm()  # before the first question, not during it
    build_app(engine, not options.allow_private_urls).queue(default_concurrency_limit=1).launch(
        server_name=options.host, server_port=options.port, share=False, show_error=False,
        footer_links=[], css=CSS, quiet=False, auth=options.auth,
        max_file_size=f"{options.max_upload_mb}mb", blocked_paths=_blocked(settings),
    )


def mount_chat(
    app: Any, engine: Engine, auth: tuple[str, str] | None, max_upload_mb: int, public_urls_only: bool,
    writes: threading.Lock,
) -> None:
    """The page at / of a FastAPI app (`newsqa serve --chat`), on the same engine."""
    page = build_app(engine, public_urls_only, writes).queue(default_concurrency_limit=1)
    gr.mount_gradio_app(
        app, page, path="/", auth=auth, footer_links=[], css=CSS, show_error=False,
        max_file_size=f"{max_upload_mb}mb", blocked_paths=_blocked(engine.settings),
    )


def _blocked(settings: Settings) -> list[str]:
    return [str(settings.store)] if not settings.server else []
