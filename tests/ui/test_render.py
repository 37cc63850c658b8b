"""The sources panel shows article text as text, and highlights the quote."""

from qa.answer import Answer, Citation
from ui.render import sources_html

HOSTILE = '<script>alert(1)</script> Votes were <img src=x onerror=alert(2)> counted.'


def _citation(**changes: object) -> Citation:
    quote = "Votes were <img src=x onerror=alert(2)> counted."
    start = HOSTILE.index(quote)
    values = dict(
        number=1, article_id="a<b>", title="<b>Title</b>", source="wire & co", url=None,
        published="2024-01-02", passage=HOSTILE, passage_start=0, quote=quote,
        start=start, end=start + len(quote), chunk_id="a#0",
    )
    values.update(changes)
    return Citation(**values)  # type: ignore[arg-type]


def test_article_text_is_escaped_and_the_quote_is_marked() -> None:
    html = sources_html(Answer("q", "t [1]", False, [_citation()]))
    assert "<script>" not in html and "<img" not in html and "<b>Title" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "<mark>Votes were &lt;img src=x onerror=alert(2)&gt; counted.</mark>" in html
    assert "wire &amp; co · 2024-01-02" in html


def test_only_http_links_are_rendered() -> None:
    assert "<a " not in sources_html(Answer("q", "t", False, [_citation(url="javascript:alert(1)")]))
    html = sources_html(Answer("q", "t", False, [_citation(url='https://ex.org/"x')]))
    assert 'href="https://ex.org/&quot;x"' in html and 'rel="noopener noreferrer nofollow"' in html


def test_abstained_answers_say_no_source_holds_the_answer() -> None:
    assert "No source" in sources_html(Answer("q", "none", True, []))
