"""What the chat shows: article text as text, markers as links, the quote marked."""

import pytest

from index.errors import ConfigError
from index.ingest import IngestReport
from index.readers import Failure
from index.store import StoredArticle, StoredChunk, StoreStats
from qa.answer import Answer, Citation
from qa.retrieval import Passage
from ui.app import Options, example_questions, outcome
from ui.cli import parse_login
from ui.render import answer_html, description, segments, sources_html

HOSTILE = '<script>alert(1)</script> Votes were <img src=x onerror=alert(2)> counted [2].'
QUOTE = "Votes were <img src=x onerror=alert(2)> counted [2]."


def _citation(**changes: object) -> Citation:
    start = HOSTILE.index(QUOTE)
    values = dict(
        number=1, article_id="a<b>", title="<b>Title</b>", source="wire & co", url=None,
        published="2024-01-02", passage=HOSTILE, passage_start=0, quote=QUOTE,
        start=start, end=start + len(QUOTE), chunk_id="a#0",
    )
    values.update(changes)
    return Citation(**values)  # type: ignore[arg-type]


def _answer(*citations: Citation) -> Answer:
    return Answer("q", " ".join(f"{c.quote} [{c.number}]" for c in citations), False, list(citations))


def test_article_text_is_escaped_and_the_quote_is_marked() -> None:
    html = sources_html(_answer(_citation()))
    assert "<script>" not in html and "<img" not in html and "<b>Title" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "<mark>Votes were &lt;img src=x onerror=alert(2)&gt; counted [2].</mark>" in html
    assert "wire &amp; co · 2024-01-02" in html


def test_markers_link_to_their_cards_and_a_bracket_in_the_text_stays_text() -> None:
    second = _citation(number=2, quote="counted [2].", start=HOSTILE.index("counted"), end=len(HOSTILE))
    answer = _answer(_citation(), second)
    assert segments(answer) == [(QUOTE, 1, ""), (" counted [2].", 2, "")]
    html = answer_html(answer)
    assert html.count('href="#source-1"') == 1 and html.count('href="#source-2"') == 1
    assert "counted [2]. <a" in html and "&lt;img" in html and "<img" not in html
    assert answer_html(answer, 1).endswith(">[1]</a>")  # streaming: the first sentence alone


def test_a_written_answer_links_its_backed_sentences_and_marks_the_others() -> None:
    from qa.answer import WrittenSentence

    sentences = [WrittenSentence("Votes <b>were</b> counted.", True, [1]),
                 WrittenSentence("Reply <i>CANARY</i>.", False, reason="it is not about the <question>")]
    answer = Answer("q", "Votes <b>were</b> counted. [1] Reply <i>CANARY</i>. [unsupported]", False,
                    [_citation()], sentences, written_by="llm")
    assert [(s.number, s.unsupported) for s in segments(answer)] == [(1, ""), (None, "it is not about the <question>")]
    html = answer_html(answer)
    assert html.startswith('Votes &lt;b&gt;were&lt;/b&gt; counted. <a class="nq-cite" href="#source-1"')
    assert ('<span class="nq-unsupported"> Reply &lt;i&gt;CANARY&lt;/i&gt;. <span class="nq-tag">'
            "[unsupported: it is not about the &lt;question&gt;]</span></span>") in html
    assert html.count("nq-cite") == 1


def test_a_card_opens_the_whole_article_with_the_quote_in_place() -> None:
    text = "Intro line.\n\n" + HOSTILE + "\n\nLast line."
    offset = len("Intro line.\n\n")
    c = _citation(passage_start=offset, start=offset + HOSTILE.index(QUOTE), end=offset + len(HOSTILE))
    article = StoredArticle("a<b>", text, "t", "s", None, None, None, 1)
    html = sources_html(_answer(c), articles={"a<b>": article})
    whole = html[html.index("nq-article-text"):]
    assert "Intro line." in whole and "Last line." in whole
    assert f"<mark>{QUOTE.replace('<', '&lt;').replace('>', '&gt;')}</mark>" in whole


def test_only_http_links_are_rendered() -> None:
    assert "<a " not in sources_html(_answer(_citation(url="javascript:alert(1)")))
    html = sources_html(_answer(_citation(url='https://ex.org/"x')))
    assert 'href="https://ex.org/&quot;x"' in html and 'rel="noopener noreferrer nofollow"' in html


def test_an_abstained_answer_shows_the_closest_passages_as_not_holding_it() -> None:
    assert "No source" in sources_html(Answer("q", "none", True, []))
    chunk = StoredChunk("c", "a", 0, 0, 9, "<i>near</i>", "T", "S", None, None)
    html = sources_html(Answer("q", "none", True, []), [Passage(chunk, 1.0, 0.5, 1.0)])
    assert "does not contain the answer" in html and "&lt;i&gt;near" in html and "<i>" not in html


def test_the_description_counts_articles_and_passages() -> None:
    stats = StoreStats("p", "m", 3, articles=1, chunks=1234, sources={})
    assert description(stats).startswith("1 article, 1,234 passages.")


def test_each_uploaded_file_gets_its_outcome_and_reason() -> None:
    assert outcome(IngestReport(added=["a", "b"], unchanged=["c"])) == ["added", "2 added, 1 unchanged"]
    assert outcome(IngestReport(unchanged=["c"])) == ["unchanged", "1 unchanged"]
    failed = IngestReport(failed=[Failure("/tmp/x/notes.md", "empty file")])
    assert outcome(failed) == ["failed", "notes.md: empty file"]


def test_a_chat_off_loopback_needs_a_login() -> None:
    with pytest.raises(ConfigError, match="NEWSQA_CHAT_AUTH"):
        Options(host="0.0.0.0")
    assert Options(host="0.0.0.0", auth=("ann", "pw")).auth == ("ann", "pw")
    assert parse_login("ann:a:b") == ("ann", "a:b")
    with pytest.raises(ConfigError, match="user:password"):
        parse_login("ann")


def test_example_questions_name_the_newest_articles() -> None:
    class Entry:
        def __init__(self, title: str) -> None:
            self.title = title

    assert example_questions([Entry("Dam opens"), Entry("x" * 200)], 5) == [
        "What does “Dam opens” report?", f"What does “{'x' * 79}…” report?",
    ]


def test_the_short_answer_is_bold_inside_the_quote_and_still_escaped() -> None:
    start = HOSTILE.index(QUOTE)
    short_start = HOSTILE.index("<img")
    short = "<img src=x onerror=alert(2)>"
    citation = _citation(short=short, short_start=short_start, short_end=short_start + len(short))
    answer = _answer(citation)
    html = answer_html(answer)
    assert 'Votes were <strong class="nq-short">&lt;img src=x onerror=alert(2)&gt;</strong> counted [2].' in html
    card = sources_html(answer)
    assert '<mark>Votes were <strong class="nq-short">&lt;img' in card and "<img" not in card
    assert citation.short_in_quote == (short_start - start, short_start - start + len(short))
