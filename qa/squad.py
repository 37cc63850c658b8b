"""SQuAD v1.1 files as articles and questions, and SQuAD's answer normalisation.

Each Wikipedia title becomes one article (its paragraphs joined by blank lines, id = the
title); each question keeps its gold answers and the id of the article they came from.
"""

from __future__ import annotations

import json
import os
import re
import string
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from index.article import Article
from index.errors import NewsQAError

SOURCE = "SQuAD v1.1"


class SquadError(NewsQAError):
    """The file is not in the SQuAD v1.1 format."""


@dataclass(frozen=True)
class SquadQuestion:
    id: str
    question: str
    answers: tuple[str, ...]
    article_id: str


@dataclass(frozen=True)
class SquadSet:
    path: str
    articles: list[Article]
    questions: list[SquadQuestion]


def load_squad(path: str | os.PathLike[str]) -> SquadSet:
    file = Path(path)
    try:
        data = json.loads(file.read_text(encoding="utf-8"))["data"]
        articles, questions = [], []
        for entry in data:
            title = str(entry["title"])
            contexts = [p["context"].strip() for p in entry["paragraphs"]]
            articles.append(Article(
                id=title, text="\n\n".join(contexts), title=title.replace("_", " "),
                source=SOURCE,
            ))
            for paragraph in entry["paragraphs"]:
                for qa in paragraph["qas"]:
                    answers = tuple(dict.fromkeys(a["text"] for a in qa["answers"]))
                    if answers:  # v2-style unanswerable questions have none
                        questions.append(SquadQuestion(str(qa["id"]), qa["question"], answers, title))
    except OSError as error:
        raise SquadError(f"cannot read {file}: {error.strerror or error}") from None
    except (ValueError, KeyError, TypeError, AttributeError) as error:
        raise SquadError(
            f"{file} is not a SQuAD v1.1 file ({type(error).__name__}: {error}); expected "
            '{"data": [{"title", "paragraphs": [{"context", "qas": [{"id", "question", '
            '"answers": [{"text"}]}]}]}]}'
        ) from None
    if not questions:
        raise SquadError(f"{file} holds no questions with answers")
    return SquadSet(str(file), articles, questions)


_ARTICLES = re.compile(r"\b(a|an|the)\b")
_PUNCTUATION = str.maketrans("", "", string.punctuation)


def normalize(text: str) -> str:
    """The official SQuAD v1.1 normalisation: lower case, no punctuation, no articles."""
    text = text.lower().translate(_PUNCTUATION)
    return " ".join(_ARTICLES.sub(" ", text).split())


def holds_answer(text: str, answers: tuple[str, ...]) -> bool:
    """Whether any gold answer, normalised, occurs in the normalised text."""
    haystack = f" {normalize(text)} "
    return any(f" {normalize(a)} " in haystack for a in answers if normalize(a))


def f1_score(prediction: str, answer: str) -> float:
    """SQuAD's official token F1 between a predicted and a gold answer, both normalised."""
    predicted, gold = normalize(prediction).split(), normalize(answer).split()
    common = sum((Counter(predicted) & Counter(gold)).values())
    if not common:
        return 0.0
    precision, recall = common / len(predicted), common / len(gold)
    return 2 * precision * recall / (precision + recall)


def exact_match(prediction: str, answer: str) -> bool:
    return normalize(prediction) == normalize(answer)
