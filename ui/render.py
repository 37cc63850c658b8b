"""HTML for the chat, its source cards and the articles panel.

Article text is hostile input: every piece of it is HTML-escaped here, so it is shown as
text and never run. The chat renders HTML but not Markdown (`render_markdown=False`), so
escaping alone keeps a quoted `![x](http://...)` from becoming an image that calls out.
"""

from __future__ import annotations

from html import escape
from typing import Mapping, NamedTuple, Sequence
from urllib.parse import urlparse

from index.store import ArticleEntry, StoreStats, StoredArticle
from qa.answer import Answer, Citation
from qa.retrieval import Passage
from qa.written import draft

SEARCHING = '<span class="nq-wait">Searching the articles…</span>'


class Segment(NamedTuple):
    """A piece of the answer: its text, then the marker it ends with, if any."""

    text: str
    number: int | None = None  # the citation it ends with
    unsupported: str = ""  # why no passage backs it: a written sentence shown unsupported


def segments(answer: Answer) -> list[Segment]:
    """The answer's text cut after each marker.

    An extractive answer's markers are found from its citations (each quote followed by
    its marker), never by looking for "[n]" in the text, which an article may contain
    itself; a written answer's come from its checked sentences.
    """
    if answer.written_by and answer.sentences:
        return [
            Segment(("" if i == 0 else " ") + s.text, s.citations[0] if s.supported else None,
                    "" if s.supported else s.reason or "no passage backs it")
            for i, s in enumerate(answer.sentences)
        ]
    found: list[Segment] = []
    at = 0
    for c in answer.citations:
        marker = f" [{c.number}]"
        where = answer.text.find(c.quote + marker, at)
        if where < 0:
            continue
        end = where + len(c.quote)
        found.append(Segment(answer.text[at:end], c.number))
        at = end + len(marker)
    if at < len(answer.text):
        found.append(Segment(answer.text[at:]))
    return found


def answer_html(answer: Answer, shown: int | None = None) -> str:
    """The answer with every marker a link to its source card, and each written sentence
    no passage backs marked as such; `shown` segments only, while it streams in."""
    parts = []
    cited = {} if answer.written_by else {c.number: c for c in answer.citations}
    for text, number, unsupported in segments(answer)[:shown]:
        if unsupported:
            parts.append(
                f'<span class="nq-unsupported">{escape(text)} '
                f'<span class="nq-tag">[unsupported: {escape(unsupported)}]</span></span>'
            )
            continue
        short = cited[number].short_in_quote if number in cited else None
        if short:  # the segment ends with its citation's quote
            at = len(text) - len(cited[number].quote)
            parts.append(_bold(text, at + short[0], at + short[1]))
        else:
            parts.append(escape(text))
        if number is not None:
            parts.append(
                f' <a class="nq-cite" href="#source-{number}" '
                f'aria-label="source {number}">[{number}]</a>'
            )
    return "".join(parts)


def draft_html(text: str) -> str:
    """An LLM's answer while it is written: its markers left out until it is checked."""
    return (f'<span class="nq-draft">{escape(draft(text))}</span> '
            '<span class="nq-wait">(writing; the citations are checked when it is done)</span>')


def notice_html(notice: str) -> str:
    return f'<br><em class="nq-notice">{escape(notice)}</em>'


def sources_html(
    answer: Answer | None, closest: Sequence[Passage] = (),
    articles: Mapping[str, StoredArticle] | None = None,
) -> str:
    """The cards of an answer's citations; for an abstained answer, the `closest`
    passages, each marked as not holding the answer. `articles` (by id) adds the whole
    article to a card, with the quote in place."""
    articles = articles or {}
    if answer is None:
        return '<p class="nq-empty">Sources of the answer appear here.</p>'
    if answer.abstained or not answer.citations:
        note = '<p class="nq-empty" role="status">No source holds an answer to this question.</p>'
        if not closest:
            return note
        return note + (
            '<p class="nq-empty">The closest passages, which do not contain the answer:</p>'
            + "\n".join(_closest_card(n, p) for n, p in enumerate(closest, start=1))
        )
    return "\n".join(_card(c, articles.get(c.article_id)) for c in answer.citations)


def _card(c: Citation, article: StoredArticle | None) -> str:
    before, after = c.quote_in_passage
    return (
        f'<section class="nq-source" id="source-{c.number}" tabindex="-1" '
        f'aria-label="Source {c.number}: {escape(c.title)}">'
        f'<h4><span class="nq-number">[{c.number}]</span> {escape(c.title)}</h4>'
        f"{_facts(c.source, c.published, c.article_id)}"
        f'<blockquote class="nq-passage">{_marked(c.passage, before, after, c.short_in_quote)}</blockquote>'
        f"{_link(c.url)}{_whole(article, c)}</section>"
    )


def _closest_card(number: int, passage: Passage) -> str:
    chunk = passage.chunk
    return (
        f'<section class="nq-source nq-closest" id="closest-{number}" tabindex="-1" '
        f'aria-label="Closest passage {number}, not an answer: {escape(chunk.title)}">'
        f'<h4>{escape(chunk.title)} <span class="nq-badge">does not contain the answer</span></h4>'
        f"{_facts(chunk.source, chunk.published, chunk.article_id)}"
        f'<blockquote class="nq-passage">{escape(chunk.text)}</blockquote>{_link(chunk.url)}</section>'
    )


def _facts(source: str, published: str | None, article_id: str) -> str:
    facts = [escape(source)] + ([escape(published)] if published else [])
    return f'<p class="nq-meta">{" · ".join(facts)} · <code>{escape(article_id)}</code></p>'


def _marked(text: str, start: int, end: int, short: tuple[int, int] | None = None) -> str:
    """`text` with [start, end) highlighted, and `short` (offsets inside that piece) in bold."""
    piece = text[start:end]
    quote = _bold(piece, *short) if short else escape(piece)
    return f"{escape(text[:start])}<mark>{quote}</mark>{escape(text[end:])}"


def _bold(text: str, start: int, end: int) -> str:
    return (f'{escape(text[:start])}<strong class="nq-short">{escape(text[start:end])}</strong>'
            f"{escape(text[end:])}")


def _link(url: str | None) -> str:
    if not url or urlparse(url).scheme not in {"http", "https"}:
        return ""  # javascript:, data: and the like are never links
    return (
        f'<a class="nq-url" href="{escape(url, quote=True)}" target="_blank" '
        f'rel="noopener noreferrer nofollow">{escape(url)}</a>'
    )


def _whole(article: StoredArticle | None, c: Citation) -> str:
    if article is None:
        return ""
    marked = _marked(article.text, c.start, c.end, c.short_in_quote)
    return (
        '<details class="nq-article"><summary>Open the whole article</summary>'
        f'<div class="nq-article-text">{marked}</div></details>'
    )


def description(stats: StoreStats) -> str:
    return (
        f"{_count(stats.articles, 'article')}, {_count(stats.chunks, 'passage')}. "
        "Each cited sentence of an answer comes with the article sentence that backs it."
    )


def _count(n: int, noun: str) -> str:
    return f"{n:,} {noun}{'' if n == 1 else 's'}"


def catalog_rows(entries: Sequence[ArticleEntry]) -> list[list[str | int]]:
    """The articles panel's table: plain values (Gradio's table escapes them)."""
    return [[e.title, e.source, e.published or "", e.chunks, e.id] for e in entries]


CATALOG_HEADERS = ["Title", "Source", "Published", "Passages", "Id"]

# Opening an article scrolls its quote into view (our script, not the article's).
SCROLL_TO_QUOTE = """
element.addEventListener("toggle", (event) => {
  const mark = event.target.open && event.target.querySelector(".nq-article-text mark");
  if (mark) mark.scrollIntoView({block: "center"});
}, true);
"""

CSS = """
.nq-source { border: 1px solid var(--border-color-primary); border-radius: 8px;
  padding: 0.6em 0.9em; margin-bottom: 0.8em; }
.nq-source:focus { outline: 3px solid var(--color-accent); }
.nq-source h4 { margin: 0 0 0.2em 0; overflow-wrap: anywhere; }
.nq-meta { margin: 0 0 0.4em 0; opacity: 0.8; font-size: 0.9em; overflow-wrap: anywhere; }
.nq-passage, .nq-article-text { margin: 0; white-space: pre-wrap; overflow-wrap: anywhere; }
.nq-article-text { max-height: 24em; overflow-y: auto; padding: 0.4em; }
.nq-passage mark, .nq-article-text mark { background: #ffe58a; color: #000; padding: 0 0.1em; }
.nq-short { font-weight: 700; }
.nq-badge { font-size: 0.8em; font-weight: normal; border: 1px solid; border-radius: 4px;
  padding: 0 0.3em; }
.nq-closest { opacity: 0.85; border-style: dashed; }
.nq-empty, .nq-wait { opacity: 0.7; }
.nq-unsupported { opacity: 0.75; }
.nq-unsupported .nq-tag { font-size: 0.85em; font-style: italic; }
.nq-url { overflow-wrap: anywhere; }
#nq-chat .message { overflow-wrap: anywhere; }
"""
