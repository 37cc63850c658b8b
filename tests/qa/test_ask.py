"""Questions against the shipped seeds, with the real model and store."""

import json

import pytest

import index
import qa
from index.embedding import _model
from index.settings import Settings
from qa.engine import Engine, QuestionError, engine_for, is_follow_up
from tests.conftest import VOTES

pytestmark = pytest.mark.slow


def _verbatim(answer: qa.Answer, settings: Settings) -> None:
    for c in answer.citations:
        article = index.get_article(c.article_id, settings=settings)
        assert article.text[c.start : c.end] == c.quote
        if c.short is not None:
            assert article.text[c.short_start : c.short_end] == c.short
        assert article.text[c.passage_start : c.passage_start + len(c.passage)] == c.passage
        assert c.quote in answer.text and f"[{c.number}]" in answer.text


def test_the_votes_question_is_answered_with_a_cited_quote(seeded_settings: Settings) -> None:
    answer = qa.ask(VOTES, settings=seeded_settings)
    assert not answer.abstained
    first = answer.citations[0]
    assert "5.8 million" in first.quote and first.number == 1
    assert first.title.startswith("Maduro wins second term")
    assert first.source == "venezuela-election-2018.txt"
    assert answer.text.startswith(first.quote + " [1]")
    _verbatim(answer, seeded_settings)


@pytest.mark.parametrize("question", [
    "What is the boiling point of mercury?",
    "What is the capital of Australia?",
    "Who is the prime minister of Japan?",
])
def test_questions_the_articles_cannot_answer_abstain(seeded_settings: Settings, question: str) -> None:
    answer = qa.ask(question, settings=seeded_settings)
    assert answer.abstained and answer.citations == []
    assert answer.text == qa.NO_ANSWER


@pytest.mark.parametrize("question, expected", [
    ("When does Maduro's new term begin?", "January 2019"),
])
def test_other_seed_questions_cite_the_sentence_holding_the_answer(
    seeded_settings: Settings, question: str, expected: str
) -> None:
    answer = qa.ask(question, settings=seeded_settings)
    assert expected in answer.citations[0].quote
    _verbatim(answer, seeded_settings)


def test_the_reader_cites_the_sentence_that_answers_and_its_exact_words(seeded_settings: Settings) -> None:
    # The linear picker quoted the boycott and the 2013 turnout here (issue 17).
    won = qa.ask("Who won the Venezuelan election?", settings=seeded_settings)
    assert "Nicolás Maduro has been declared the winner" in won.citations[0].quote
    assert won.short == "Nicolás Maduro"
    _verbatim(won, seeded_settings)


@pytest.mark.xfail(strict=True, reason=(
    "issue 17, open: the reader trained so far, weighed with the linear features and the "
    "retrieval's ranking, quotes Mbappé's goal (France's) first for Croatia's scorers; "
    "for the boycott it abstains, scoring the passage that says 'calling the election a "
    "sham' low; for the Golden Ball, it quotes Harry Kane's Golden Boot first"))
@pytest.mark.parametrize("question, wanted", [
    ("Who scored for Croatia in the final?", ("Perišić equalised", "Mandžukić pulled one back")),
    ("Why did the opposition boycott?", ("sham",)),
    ("Who won the Golden Ball?", ("Modrić",)),
])
def test_the_reader_answers_the_seed_questions_the_linear_picker_got_wrong(
    seeded_settings: Settings, question: str, wanted: tuple[str, ...]
) -> None:
    answer = qa.ask(question, settings=seeded_settings)
    assert not answer.abstained and any(words in answer.citations[0].quote for words in wanted)


def test_the_headline_is_not_quoted_as_the_answer(seeded_settings: Settings) -> None:
    # The reader's best span was "low", in the title line "...marred by record low turnout".
    answer = qa.ask("What was the turnout?", settings=seeded_settings)
    assert answer.citations[0].quote.startswith("Turnout was 46%") and answer.short == "46%"
    assert all(c.quote != c.title for c in answer.citations)


def test_the_short_answer_points_at_its_words_in_the_article(seeded_settings: Settings) -> None:
    import index

    answer = qa.ask(VOTES, settings=seeded_settings)
    first = answer.citations[0]
    assert answer.short == first.short == "5.8 million"
    text = index.get_article(first.article_id, settings=seeded_settings).text
    assert text[first.short_start : first.short_end] == first.short
    assert first.start <= first.short_start < first.short_end <= first.end  # inside the quote
    a, b = first.short_in_quote
    assert first.quote[a:b] == first.short


def test_a_follow_up_uses_the_previous_question(seeded_settings: Settings) -> None:
    first = "Who won the Venezuelan presidential election?"
    answer = qa.ask("How many votes did he get?", settings=seeded_settings, history=[first])
    assert any("5.8 million" in c.quote for c in answer.citations)
    rival = qa.ask("How many votes did he get?", settings=seeded_settings,
                   history=["Who was Maduro's closest rival?"])  # "he" is now Falcón
    assert "1.8 million" in rival.citations[0].quote and rival.short == "1.8 million"
    assert is_follow_up("How many votes did he get?") and not is_follow_up(VOTES)


def test_answer_round_trips_through_json(seeded_settings: Settings) -> None:
    answer = qa.ask(VOTES, settings=seeded_settings)
    assert qa.Answer.from_dict(json.loads(json.dumps(answer.to_dict()))) == answer
    data = answer.to_dict()
    assert set(data["citations"][0]) >= {
        "number", "article_id", "title", "source", "url", "published", "passage", "quote",
        "start", "end",
    }


def test_search_returns_ranked_passages(seeded_settings: Settings) -> None:
    passages = qa.search("Mbappé goal final", settings=seeded_settings, k=3)
    assert len(passages) == 3
    assert [p.score for p in passages] == sorted((p.score for p in passages), reverse=True)
    assert "Mbappé" in passages[0].text and passages[0].article_id


def test_repeated_asks_reuse_the_loaded_model_and_store(seeded_settings: Settings) -> None:
    qa.ask(VOTES, settings=seeded_settings)
    engine, loads = engine_for(seeded_settings), _model.cache_info().misses
    engines = engine_for.cache_info().currsize
    for _ in range(50):
        qa.ask(VOTES, settings=seeded_settings)
    assert engine_for(seeded_settings) is engine
    assert _model.cache_info().misses == loads
    assert engine_for.cache_info().currsize == engines


def test_warming_up_loads_the_reader_before_the_first_question(
    seeded_settings: Settings, embedded_settings: Settings
) -> None:
    from qa.reader import _loaded

    _loaded.cache_clear()  # as in a new process
    engine = Engine(seeded_settings)
    engine.warm()
    assert _loaded.cache_info().misses == 1
    assert not engine.ask(VOTES).abstained
    assert _loaded.cache_info().misses == 1
    index.open_store(settings=embedded_settings, create=True)
    empty = Engine(embedded_settings)
    empty.warm()  # an empty store: nothing to search yet, and no error
    with pytest.raises(index.StoreError, match="has no articles yet: newsqa ingest PATH --store"):
        empty.ask(VOTES)


def test_empty_and_over_long_questions_get_clear_errors(seeded_settings: Settings) -> None:
    with pytest.raises(QuestionError, match="empty"):
        qa.ask("   ", settings=seeded_settings)
    with pytest.raises(QuestionError, match="too long"):
        qa.ask("why " * 1000, settings=seeded_settings)


def test_only_the_learned_ranking_weighs_the_retrieval_score_in_a_sentences_score(
    seeded_settings: Settings,
) -> None:
    # The calibrated weight is for the learned ranking's scores; the evaluator's baselines
    # rank on other scales (BM25's run to 20 and more), so they score sentences without it.
    shipped = Engine(seeded_settings).calibration["sentence"]
    assert shipped["retrieval"] > 0
    for baseline in ("bm25", "dense", "rrf"):
        engine = Engine(seeded_settings, retrieval=baseline)
        weights = engine.calibration["sentence"]
        assert engine.read_within is None and "retrieval" not in weights
        assert weights == {k: v for k, v in shipped.items() if k != "retrieval"}
        assert not engine.ask(VOTES).abstained
