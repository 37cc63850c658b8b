"""The newsqa command: in process for speed, and once through the installed script."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from index.settings import Settings
from ui.cli import main
from tests.conftest import SEEDS, VOTES, store_args

pytestmark = pytest.mark.slow


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_ask_json_gives_the_structured_answer(capsys, seeded_settings: Settings) -> None:
    code, out, _ = _run(capsys, "ask", VOTES, *store_args(seeded_settings), "--json")
    data = json.loads(out)
    assert code == 0 and not data["abstained"]
    assert "5.8 million" in data["citations"][0]["quote"]
    assert data["short"] == data["citations"][0]["short"] == "5.8 million"
    assert isinstance(data["citations"][0]["short_start"], int)


def test_ask_text_lists_sources_and_how_to_open_them(capsys, seeded_settings: Settings) -> None:
    code, out, _ = _run(capsys, "ask", VOTES, *store_args(seeded_settings))
    assert code == 0 and "[1]" in out and "Sources:" in out and "newsqa show " in out
    # Not a terminal here: the short answer is marked **bold** in Markdown's way.
    assert "Answer: **5.8 million**" in out and "won **5.8 million**" in out


def test_show_marks_a_cited_quote_and_stats_counts(capsys, seeded_settings: Settings) -> None:
    store = store_args(seeded_settings)
    _, out, _ = _run(capsys, "ask", VOTES, *store, "--json")
    cite = json.loads(out)["citations"][0]
    code, out, _ = _run(capsys, "show", cite["article_id"], *store,
                        "--quote", f"{cite['start']}:{cite['end']}")
    assert code == 0 and f"»»{cite['quote']}««" in out
    assert "source: venezuela-election-2018.txt" in out
    code, out, _ = _run(capsys, "stats", *store)
    assert code == 0 and "articles: 2" in out and "all-MiniLM-L6-v2" in out and store[1] in out


def test_errors_are_one_line_without_traceback(capsys, seeded_settings: Settings, tmp_path: Path) -> None:
    code, out, err = _run(capsys, "show", "no-such-id", *store_args(seeded_settings))
    assert code == 1 and err.startswith("newsqa: error: no article 'no-such-id'")
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1
    code, _, err = _run(capsys, "ask", "Anything?", "--store", str(tmp_path / "none"))
    assert code == 1 and "no store at" in err and "newsqa ingest" in err
    code, _, err = _run(capsys, "ask", "", *store_args(seeded_settings))
    assert code == 1 and "the question is empty" in err


def test_ingest_reports_added_and_failed(capsys, tmp_path: Path) -> None:
    (tmp_path / "in").mkdir()
    shutil.copy(SEEDS / "world-cup-final-2018.txt", tmp_path / "in")
    (tmp_path / "in" / "empty.txt").write_text("")
    code, out, _ = _run(capsys, "ingest", str(tmp_path / "in"), "--store", str(tmp_path / "s"))
    assert code == 0
    assert "articles added: 1, unchanged: 0, replaced: 0, failed: 1" in out
    assert "empty.txt: empty file" in out


def test_the_installed_newsqa_script_runs(seeded_settings: Settings) -> None:
    script = Path(sys.executable).with_name("newsqa")
    if not script.exists():
        pytest.skip("the newsqa script is not installed: pip install -e .")
    result = subprocess.run(
        [str(script), "ask", VOTES, *store_args(seeded_settings), "--json"],
        capture_output=True, text=True, timeout=180, env={**os.environ, "NO_COLOR": "1"},
    )
    assert result.returncode == 0, result.stderr
    assert "5.8 million" in json.loads(result.stdout)["citations"][0]["quote"]


def test_eval_squad_reports_every_figure(capsys, tmp_path: Path) -> None:
    data = Path(__file__).parents[1] / "qa" / "data"  # the evaluator's tiny SQuAD files
    code, out, _ = _run(capsys, "eval", "squad", str(data / "tiny-squad.json"), "--store",
                        str(tmp_path / "eval"), "--out-of-corpus", str(data / "tiny-squad-other.json"),
                        "--limit", "5", "--seed", "3", "--json")
    report = json.loads(out)
    metrics = report["metrics"]["newsqa"]
    assert code == 0 and metrics["questions"] == 5 and metrics["out_of_corpus_questions"] == 2
    assert set(metrics["recall"]) == {"1", "5", "10"} and metrics["verbatim"] == 1.0
    code, out, _ = _run(capsys, "eval", "squad", str(data / "tiny-squad.json"), "--store",
                        str(tmp_path / "eval"), "--limit", "2")
    assert code == 0 and "| answer in first cited sentence |" in out
    assert "| short answer exact match / F1 |" in out


def test_eval_of_a_file_that_is_not_squad_is_one_line(capsys, tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text("[1, 2]")
    code, _, err = _run(capsys, "eval", "squad", str(bad))
    assert code == 1 and err.count("\n") == 1 and "not a SQuAD v1.1 file" in err


def test_filters_on_ask_and_search_and_delete_by_source(capsys, news_settings: Settings) -> None:
    store = store_args(news_settings)
    question = "How long did the ferry strike last?"
    code, out, _ = _run(capsys, "ask", question, *store, "--source", "bbc", "--until", "2005-12-31", "--json")
    assert code == 0 and {c["article_id"] for c in json.loads(out)["citations"]} == {"bbc-ferry"}
    code, out, _ = _run(capsys, "search", question, *store, "--since", "2006-01-01", "--json")
    assert code == 0 and {p["article_id"] for p in json.loads(out)} == {"wire-ferry"}
    code, _, err = _run(capsys, "ask", question, *store, "--since", "May 2005")
    assert code == 1 and err.strip() == "newsqa: error: the since date 'May 2005' is not a date of the form YYYY-MM-DD"

    code, out, _ = _run(capsys, "delete", "--source", "Reuters", *store)
    assert code == 0 and out.strip() == "articles deleted: 2"
    code, out, _ = _run(capsys, "stats", *store)
    assert "articles: 2" in out and "sources: BBC (2)" in out
    code, out, _ = _run(capsys, "delete", "wire-ferry", *store)
    assert code == 1 and "not in the store: wire-ferry" in out


def test_a_written_answer_lists_what_no_passage_backs_with_why() -> None:
    from qa.answer import Answer, Citation, WrittenSentence
    from ui.cli import format_answer

    c = Citation(1, "a", "Vote count", "wire", None, "2018-05-21", "Votes were counted.", 0,
                 "Votes were counted.", 0, 19, "a#0")
    answer = Answer("q", "Votes were counted [1]. Turnout was 99% [unsupported]", False, [c], [
        WrittenSentence("Votes were counted.", True, [1]),
        WrittenSentence("Turnout was 99%.", False, reason="the closest passage sentence does not hold 99"),
    ], written_by="gguf: tiny.gguf")
    text = format_answer(answer)
    assert "Written by gguf: tiny.gguf" in text and "[1] Vote count — wire, 2018-05-21" in text
    assert text.endswith("Written, but backed by no passage (so not cited):\n"
                         "- Turnout was 99%. (the closest passage sentence does not hold 99)")
