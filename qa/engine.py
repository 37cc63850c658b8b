"""From a question to a cited answer: retrieve passages, read them, then quote the sentences.

An `Engine` holds the loaded store, model and lexical index for one `Settings`; the
module-level `ask` and `search` reuse one engine per settings for the whole process.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from functools import lru_cache
from typing import Any, Iterator, Sequence

import numpy as np

from index.embedding import Embedder
from index.errors import NewsQAError, StoreError
from index.filters import Filters
from index.precision import use_bf16
from index.settings import Settings
from index.store import Store
from qa.answer import Answer
from qa.extractive import ExtractiveAnswerer
from qa.llm import LLMError, describe, make_llm
from qa.reader import Reader
from qa.retrieval import LexicalIndex, Passage, Retriever, naming_years
from qa.written import WrittenAnswerer

MAX_QUESTION_CHARS = 2000

# A question leaning on the previous turn: a pronoun, or too few words to stand alone.
_ANAPHORA = re.compile(
    r"\b(he|she|it|they|him|her|his|hers|its|them|their|theirs|this|that|these|those|"
    r"there|then|the same)\b", re.I,
)


@dataclass(frozen=True)
class Reply:
    answer: Answer
    passages: list[Passage]


@dataclass(frozen=True)
class Retrieved:
    """What a question's answer is drawn from: the passages (those the reader read first,
    its best first), the vectors of the question and of the query searched with (a
    follow-up's carries the question it follows), the lexical index of the revision asked."""

    passages: list[Passage]
    question_vector: np.ndarray
    query_vector: np.ndarray
    lexical: LexicalIndex


class QuestionError(NewsQAError):
    """The question cannot be asked as it is (empty, or too long)."""


class Engine:
    """Answers questions from one store.

    `retrieval`, `reader`, `picker`, `abstainer` and `max_sentences` choose the parts;
    anything but the defaults is a baseline or an ablation for the evaluator (or, for
    `reader`, weights of one's own: `Reader(weights, config)`).
    """

    def __init__(
        self, settings: Settings, embedder: Embedder | None = None, *,
        retrieval: str = "learned", reader: Reader | bool = True, picker: str = "reader",
        abstainer: str = "combined", max_sentences: int | None = None,
    ) -> None:
        ExtractiveAnswerer.check(picker, abstainer, max_sentences)
        if not reader and ExtractiveAnswerer.needs_reader(picker, abstainer):
            raise ValueError(f"the picker {picker!r} and the abstainer {abstainer!r} need reader=True")
        self.settings = settings
        self.embedder = embedder or Embedder.for_settings(settings)
        self.store = Store.open(settings, self.embedder.name, self.embedder.dim)
        self.retriever = Retriever(self.store, self.embedder, retrieval)
        bf16 = use_bf16(settings.precision)
        self.reader = reader if isinstance(reader, Reader) else Reader(bf16=bf16) if reader else None
        self.calibration = _calibration_for(retrieval, self.reader.config.get("calibration", {}) if self.reader else {})
        # How far below the best passage's score one is still read: most questions have one
        # or two clear passages, and reading is most of the time taken.
        self.read_within: float | None = self.calibration.get("read_within")
        self._answerer_options = {
            "picker": picker, "abstainer": abstainer, "max_sentences": max_sentences,
            "calibration": self.calibration or None,
        }
        self._writer: WrittenAnswerer | None = None

    def warm(self) -> None:
        """Load now what the first question would otherwise wait for: the lexical index
        caught up, the embedder, the reader, the passages' vector files read into memory once
        (the kernel's page cache: shared with every process that reads them), the articles'
        records (the chat shows each cited article whole) and the user's LLM, when one is
        configured."""
        self.retriever.lexical()
        self.store.warm()
        self.store.dense(self.embedder.encode_one("warm up"), 1)  # on an empty store, no search
        if self.reader:
            self.reader.read("warm up", ["warm up"], [""])
        self.writer()

    def writer(self) -> WrittenAnswerer | None:
        """The user's LLM, loaded on first use; None when none is configured."""
        if self.settings.llm and self._writer is None:
            self._writer = WrittenAnswerer(
                make_llm(self.settings), self.embedder, describe(self.settings),
                unsupported=self.settings.llm_unsupported, serial=self.settings.llm == "gguf",
            )
        return self._writer

    def search(
        self, question: str, k: int | None = None, filters: Filters | None = None
    ) -> list[Passage]:
        question = _check(question)
        self._check_not_empty()
        # The retrieval's order: the reader is trained on questions, and a search is often
        # a few keywords ("Mbappé goal final"), which it reads less well.
        return self.retriever.search(question, k or self.settings.top_k, filters=filters)

    def ask(
        self, question: str, history: Sequence[str] = (), filters: Filters | None = None
    ) -> Answer:
        """Answer `question` from the articles that pass `filters`; `history` holds the
        earlier questions of the conversation."""
        return self.reply(question, history, filters).answer

    def reply(
        self, question: str, history: Sequence[str] = (), filters: Filters | None = None,
        written: bool = True,
    ) -> Reply:
        """The answer together with the ranked passages it was drawn from; `written` as
        for `stream`."""
        *_, reply = self.stream(question, history, filters, written)
        assert isinstance(reply, Reply)
        return reply

    def stream(
        self, question: str, history: Sequence[str] = (), filters: Filters | None = None,
        written: bool = True,
    ) -> Iterator[str | Reply]:
        """With an LLM configured (and `written`): its text as it is written (not yet
        checked, so never to be shown as cited), then the `Reply`. Otherwise the `Reply`
        alone, from the extractive answerer."""
        question = _check(question)
        self._check_not_empty()
        context = history[-1] if history and is_follow_up(question) else ""
        retrieved = self.retrieve(question, context, filters)
        extractive = ExtractiveAnswerer(retrieved.lexical, **self._answerer_options)
        ranking = extractive.rank(question, retrieved.passages, retrieved.question_vector, context)
        passages = ranking.passages
        notice, unbacked = None, []
        if written and (writer := self.writer()):
            try:
                # A follow-up's sentences must be about the conversation's question: `query_vector`.
                for part in writer.stream(question, passages, retrieved.query_vector, context):
                    if not isinstance(part, Answer):
                        yield part
                    elif part.abstained or part.citations:
                        yield Reply(part, passages)
                        return
                    else:
                        unbacked = part.sentences
                notice = "No sentence the LLM wrote is backed by the articles."
            except LLMError as error:  # unreachable, timed out: the user still gets an answer
                notice = str(error).rstrip(".") + "."
        answer = extractive.answer(question, ranking)
        if notice:  # what the LLM wrote stays inspectable in `sentences`, all unsupported
            answer = replace(answer, notice=f"{notice} This is the extractive answer instead.", sentences=unbacked)
        yield Reply(answer, passages)

    def retrieve(
        self, question: str, context: str = "", filters: Filters | None = None, read_all: bool = False
    ) -> Retrieved:
        """The passages for `question` (a follow-up of `context`), read by the reader:
        those the calibrated margin keeps of the four best, or all four with `read_all`
        (what `benchmarks/calibrate_reader.py` fits that margin on)."""
        query = f"{context} {question}".strip()
        question_vector = self.embedder.encode_one(question)
        query_vector = question_vector if not context else self.embedder.encode_one(query)
        lexical = self.retriever.lexical()  # one revision check per question
        passages = self.retriever.search(query, self.settings.top_k, query_vector, lexical, filters)
        passages = naming_years(question, passages)
        if self.reader:  # a follow-up is read with the question it follows, after it
            within = None if read_all else self.read_within
            passages = self.reader.rerank(f"{question} {context}".strip(), passages, within=within)
        return Retrieved(passages, question_vector, query_vector, lexical)

    def _check_not_empty(self) -> None:
        if self.store.is_empty():
            raise StoreError(
                f"the store at {self.store.where} has no articles yet: "
                f"newsqa ingest PATH {self.store.option}"
            )


def _calibration_for(retrieval: str, calibration: dict[str, Any]) -> dict[str, Any]:
    """The reader's calibration as an engine of this retrieval uses it. Two of its entries
    are on the learned ranking's scale (how far behind the best passage's retrieval score
    one is still read, and that distance's weight in a sentence's score); the evaluator's
    baselines rank on other scales (BM25's run to 20 and more) and go without them."""
    if retrieval == "learned":
        return calibration
    kept = {k: v for k, v in calibration.items() if k != "read_within"}
    if "sentence" in kept:
        kept["sentence"] = {k: v for k, v in kept["sentence"].items() if k != "retrieval"}
    return kept


def is_follow_up(question: str) -> bool:
    return bool(_ANAPHORA.search(question)) or len(question.split()) <= 3


def _check(question: str) -> str:
    question = question.strip() if isinstance(question, str) else ""
    if not question:
        raise QuestionError("the question is empty")
    if len(question) > MAX_QUESTION_CHARS:
        raise QuestionError(
            f"the question is too long ({len(question)} characters; "
            f"the limit is {MAX_QUESTION_CHARS})"
        )
    return question


@lru_cache(maxsize=8)
def engine_for(settings: Settings) -> Engine:
    """One engine per settings for the life of the process: nothing loads twice."""
    return Engine(settings)
