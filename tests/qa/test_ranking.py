"""The features and linear models behind ranking and answering (pure logic, no model)."""

import math

import numpy as np
import pytest

from qa import weights
from qa.extractive import ExtractiveAnswerer, Ranking
from qa.ranking import (
    EVIDENCE_FEATURES,
    PASSAGE_FEATURES,
    SENTENCE_FEATURES,
    LinearModel,
    answer_type,
    expected_kinds,
    names,
    overlap,
    pair_overlap,
    term_pairs,
    term_set,
)


def test_a_linear_model_weighs_named_features() -> None:
    model = LinearModel({"a": 2.0, "b": -1.0}, bias=0.5)
    scores = model.score({"a": np.array([1.0, 0.0]), "b": np.array([1.0, 3.0]), "unused": np.zeros(2)})
    assert scores.tolist() == [1.5, -2.5]


def test_the_shipped_weights_cover_exactly_the_features() -> None:
    assert set(weights.PASSAGE) == set(PASSAGE_FEATURES)
    assert set(weights.SENTENCE) == set(SENTENCE_FEATURES)
    assert set(weights.EVIDENCE) == set(EVIDENCE_FEATURES)
    assert 0 < weights.SECOND_SENTENCE <= 1 and 0 < weights.EVIDENCE_THRESHOLD < 1
    assert weights.MAX_SENTENCES >= 1


def test_overlap_weighs_the_question_words_a_text_holds() -> None:
    question = {"bridg": 3.0, "cost": 1.0}
    assert overlap(question, term_set("The bridge was expensive.")) == 0.75
    assert overlap(question, frozenset()) == 0.0 and overlap({}, term_set("x")) == 0.0


def test_word_pairs_tell_a_phrase_from_its_words_apart() -> None:
    question = "Who won the Golden Ball?"
    weights = {"golden": 2.0, "ball": 1.0, "won": 1.0}
    asked = term_pairs(question)
    assert asked == {("won", "golden"), ("golden", "ball")}
    assert pair_overlap(weights, asked, term_pairs("Messi won the Golden Ball.")) == 1.0
    # The same words, but not the phrase:
    assert pair_overlap(weights, asked, term_pairs("The ball won him a golden boot.")) == 0.0
    assert pair_overlap(weights, frozenset(), term_pairs("anything at all")) == 0.0


def test_names_are_the_capitalised_words_past_the_first() -> None:
    assert names("What did Ana Ferreira design in Porto?") == {"ana", "ferreira", "porto"}
    assert names("When did the bridge open?") == frozenset()


@pytest.mark.parametrize("question, sentence, expected", [
    ("How many panels does the farm have?", "Its 90,000 panels supply homes.", 1.0),
    ("How many panels does the farm have?", "The panels supply homes.", 0.0),
    ("When did the bridge open?", "It opened in the 1960s.", 1.0),
    ("In what year did the bridge open in 2021?", "The bridge opened in 2021.", 0.0),  # only the question's own year
    ("Who designed the bridge?", "The bridge was designed by Ana Ferreira.", 1.0),
    ("What is the bridge made of?", "Steel and concrete.", 0.0),  # nothing in particular asked
])
def test_answer_type_wants_the_kind_asked_for_beyond_the_questions_words(
    question: str, sentence: str, expected: float
) -> None:
    assert answer_type(expected_kinds(question), sentence, question) == expected


def test_answerer_options_are_checked_with_a_message_that_says_what_is_allowed() -> None:
    with pytest.raises(ValueError, match="use one of reader, learned"):
        ExtractiveAnswerer.check("best", "learned", None)
    with pytest.raises(ValueError, match="at least 1"):
        ExtractiveAnswerer.check("learned", "learned", 0)


@pytest.mark.parametrize("abstainer, evidence, answerable", [
    ("combined", {"reader": 1.0, "evidence": 1.0}, True),  # 1 + 2 - 3 = 0: just enough
    ("combined", {"reader": 0.9, "evidence": 1.0}, False),
    ("combined", {"reader": 5.0, "evidence": -math.inf}, False),  # no sentence scored
    ("reader", {"reader": 1.4, "evidence": 9.0}, False),
    ("reader", {"reader": 1.5, "evidence": -9.0}, True),
])
def test_the_abstainers_weigh_the_evidence_as_calibrated(
    monkeypatch: pytest.MonkeyPatch, abstainer: str, evidence: dict[str, float], answerable: bool
) -> None:
    # Our own arithmetic only: the evidence is given (a stand-in), not computed.
    calibration = {"combined": {"reader": 1.0, "evidence": 2.0, "bias": -3.0}, "abstain_below": 1.5}
    answerer = ExtractiveAnswerer(None, abstainer=abstainer, calibration=calibration)  # type: ignore[arg-type]
    monkeypatch.setattr(answerer, "evidence", lambda question, ranking: evidence)
    assert answerer.answerable("Who?", Ranking([], [], [])) is answerable


def test_scoring_one_row_agrees_with_scoring_arrays() -> None:
    model = LinearModel({"a": 2.0, "b": -1.0}, bias=0.5)
    assert model.score_one({"a": 1.0, "b": 1.0}) == model.score({"a": np.array([1.0]), "b": np.array([1.0])})[0]


def test_a_sentence_two_outlets_carry_is_a_candidate_once() -> None:
    import numpy as np

    from index.store import StoredChunk, StoredSentence
    from qa.extractive import candidate_sentences
    from qa.retrieval import Passage

    def passage(article_id: str, text: str) -> Passage:
        chunk = StoredChunk(f"{article_id}#0", article_id, 0, 0, len(text), text, "T", "S", None, None)
        ends = [i + 1 for i, c in enumerate(text) if c == "."]
        starts = [0] + [e + 1 for e in ends[:-1]]
        vector = np.zeros(3, dtype=np.float32)
        return Passage(chunk, 1.0, 0.5, 0.0, tuple(StoredSentence(s, e, vector) for s, e in zip(starts, ends)))

    wire = passage("wire", "The strike lasted 12 days, and ended on Tuesday. Ferries sailed again.")
    repost = passage("post", "The strike lasted 12 days and ended on Tuesday. Lorries moved on.")
    found = candidate_sentences([wire, repost])
    assert [(s.passage.article_id, s.text) for s in found] == [
        ("wire", "The strike lasted 12 days, and ended on Tuesday."),
        ("wire", "Ferries sailed again."),
        ("post", "Lorries moved on."),
    ]


def test_a_question_naming_a_year_keeps_the_passages_that_can_speak_for_it() -> None:
    from index.store import StoredChunk
    from qa.retrieval import Passage, naming_years

    def passage(article_id: str, text: str, title: str = "T", published: str | None = None) -> Passage:
        chunk = StoredChunk(f"{article_id}#0", article_id, 0, 0, len(text), text, title, "S", None, published)
        return Passage(chunk, 1.0, 0.5, 0.0)

    passages = [
        passage("fed-2005", "The Federal Reserve raised US interest rates to 2.75%.", published="2005-03-22"),
        passage("fed-2023", "The Fed held rates in March.", published="2023-03-22"),
        passage("cup", "France beat Croatia 4-2 in Moscow.", title="2018 World Cup final"),
        passage("history", "In 2023 the central bank paused, having raised rates in 2022."),
    ]
    kept = naming_years("What did the Federal Reserve do with US interest rates in March 2023?", passages)
    assert [p.article_id for p in kept] == ["fed-2023", "history"]
    assert [p.article_id for p in naming_years("Who won the 2018 World Cup?", passages)] == ["cup"]
    assert naming_years("Who won the World Cup?", passages) == passages
    assert naming_years("What happened in 2022 and 2023?", passages)[0].article_id == "history"
