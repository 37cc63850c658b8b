"""HTML for the sources panel. Article text is escaped: it is shown as text, never run."""

from __future__ import annotations

from html import escape
from urllib.parse import urlparse

from qa.answer import Answer, Citation


def sources_html(answer: Answer | None) -> str:
    if answer is None:
        return '<p class="nq-empty">Sources of the answer appear here.</p>'
    if answer.abstained or not answer.citations:
        return '<p class="nq-empty">No source holds an answer to this question.</p>'
    return "\n".join(_card(c) for c in answer.citations)


def _card(c: Citation) -> str:
    before, after = c.quote_in_passage
    passage = (
        f"{escape(c.passage[:before])}<mark>{escape(c.passage[before:after])}</mark>"
        f"{escape(c.passage[after:])}"
    )
    facts = [escape(c.source)] + ([escape(c.published)] if c.published else [])
    link = ""
    if c.url and urlparse(c.url).scheme in {"http", "https"}:
        link = (
            f'<a href="{escape(c.url, quote=True)}" target="_blank" '
            f'rel="noopener noreferrer nofollow">{escape(c.url)}</a>'
        )
    return (
        f'<section class="nq-source" id="source-{c.number}" aria-label="Source {c.number}">'
        f'<h4><span class="nq-number">[{c.number}]</span> {escape(c.title)}</h4>'
        f'<p class="nq-meta">{" · ".join(facts)} · <code>{escape(c.article_id)}</code></p>'
        f'<blockquote class="nq-passage">{passage}</blockquote>{link}</section>'
    )


CSS = """
.nq-source { border: 1px solid var(--border-color-primary); border-radius: 8px;
  padding: 0.6em 0.9em; margin-bottom: 0.8em; }
.nq-source h4 { margin: 0 0 0.2em 0; }
.nq-meta { margin: 0 0 0.4em 0; opacity: 0.8; font-size: 0.9em; }
.nq-passage { margin: 0; white-space: pre-wrap; overflow-wrap: anywhere; }
.nq-passage mark { background: #ffe58a; color: inherit; padding: 0 0.1em; }
.nq-empty { opacity: 0.7; }
"""
