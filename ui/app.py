"""The Gradio chat. It only renders what `qa` returns."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import index  # noqa: F401  (offline switches, Gradio analytics off, before gradio loads)
from index.errors import NewsQAError
from index.filters import Filters
from index.settings import Settings
from qa.engine import Engine
from ui.render import CSS, sources_html

import gradio as gr  # noqa: E402

SEEDS = Path(__file__).resolve().parent.parent / "seeds"
log = logging.getLogger(__name__)

Message = dict[str, str]


def build_app(engine: Engine) -> gr.Blocks:
    stats = engine.store.stats()

    def respond(
        question: str, chat: list[Message], asked: list[str],
        sources: list[str] | None = None, since: str = "", until: str = "",
    ) -> tuple[Any, ...]:
        question = (question or "").strip()
        if not question:
            return chat, gr.skip(), asked, ""
        try:
            filters = Filters.parse(sources or (), since or None, until or None)
            answer = engine.ask(question, asked, filters)
            reply, sources = answer.text, sources_html(answer)
        except NewsQAError as error:
            reply, sources = f"Sorry: {error}.", sources_html(None)
        except Exception:
            log.exception("answering %r failed", question)
            reply, sources = "Sorry, something went wrong while answering.", sources_html(None)
        chat = chat + [{"role": "user", "content": question}, {"role": "assistant", "content": reply}]
        return chat, sources, asked + [question], ""

    def reset() -> tuple[Any, ...]:
        return [], sources_html(None), [], ""

    with gr.Blocks(title="News QA", analytics_enabled=False) as app:
        gr.Markdown(
            f"# News QA\nAnswers from {stats.articles} articles ({stats.chunks} passages); "
            "every sentence cites the passage it comes from."
        )
        asked = gr.State([])
        with gr.Row():
            with gr.Column(scale=3):
                chat = gr.Chatbot(
                    label="Conversation", height=460, render_markdown=False,
                    sanitize_html=True, feedback_options=None, elem_id="nq-chat",
                )
                question = gr.Textbox(
                    label="Question", placeholder="Ask about the articles, then press Enter",
                    elem_id="nq-question", max_length=2000, autofocus=True,
                )
                with gr.Row():
                    ask = gr.Button("Ask", variant="primary")
                    new = gr.Button("New conversation")
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
                sources = gr.HTML(sources_html(None), elem_id="nq-sources", js_on_load=None)
        outputs = [chat, sources, asked, question]
        inputs = [question, chat, asked, only_sources, since, until]
        question.submit(respond, inputs, outputs)
        ask.click(respond, inputs, outputs)
        new.click(reset, None, outputs)
    return app


def seed_if_empty(settings: Settings, seeds: Path = SEEDS) -> None:
    """On first start, fill an empty store with the sample articles shipped in seeds/."""
    try:
        empty = index.open_store(settings=settings).is_empty()
    except index.StoreError:
        empty = True  # no store yet
    if empty and seeds.is_dir():
        print(f"The store at {settings.where} is empty: ingesting the sample articles in {seeds}")
        print(index.ingest([seeds], settings=settings).summary())


def launch(settings: Settings, host: str = "127.0.0.1", port: int = 7860) -> None:
    seed_if_empty(settings)
    engine = Engine(settings)
    engine.retriever.lexical()  # build the BM25 index and load the model before the
    engine.embedder.encode_one("warm up")  # first question, not during it
    if host not in {"127.0.0.1", "localhost", "::1"}:
        print(f"Warning: binding {host} exposes the chat to your network, without a login.")
    build_app(engine).launch(
        server_name=host, server_port=port, share=False, show_error=False,
        footer_links=[], css=CSS, quiet=False,
    )
