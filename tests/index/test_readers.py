import json
import os
from pathlib import Path

from index.article import text_id
from index.readers import Failure, discover, read_file

ARTICLE = "A headline\n\nFirst paragraph of the story. It has two sentences.\n"


def _read(path: Path) -> list:
    return list(read_file(path))


def test_plain_text_title_is_first_line_and_source_is_file_name(tmp_path: Path) -> None:
    path = tmp_path / "story.txt"
    path.write_text("\n\n" + ARTICLE)
    [article] = _read(path)
    assert article.title == "A headline"
    assert article.source == "story.txt"
    assert article.id == text_id(article.text)
    assert article.origin == str(path.resolve())


def test_html_keeps_the_story_and_drops_scripts_and_boilerplate(tmp_path: Path) -> None:
    body = " ".join(["The council counted the ballots late into the night."] * 6)
    path = tmp_path / "page.html"
    path.write_text(
        "<html><head><title>Count ends</title><script>alert('x')</script>"
        "<meta name='author' content='Jo Smith'><meta property='og:site_name' content='Example News'>"
        "<meta property='article:published_time' content='2024-05-02T08:00:00Z'>"
        "<link rel='canonical' href='https://news.example.org/count-ends'></head><body>"
        "<nav><a href='/'>Home</a> <a href='/world'>World</a></nav>"
        f"<article><h1>Count ends</h1><p>{body}</p><p>{body}</p></article>"
        "<footer>Copyright 2024 Example News. All rights reserved.</footer></body></html>"
    )
    [article] = _read(path)
    assert "counted the ballots" in article.text
    assert "alert" not in article.text and "Copyright" not in article.text
    assert article.title == "Count ends"
    assert (article.author, article.source, article.published, article.url) == (
        "Jo Smith", "Example News", "2024-05-02", "https://news.example.org/count-ends")


def test_jsonl_fields_and_per_line_failures(tmp_path: Path) -> None:
    path = tmp_path / "feed.jsonl"
    good = {"id": "a1", "text": "Body text.", "title": "T", "url": "https://example.org/a1",
            "source": "Wire", "published": "2024-03-05", "author": "A. Writer"}
    path.write_text("\n".join([
        json.dumps(good),
        "{not json",
        json.dumps({"title": "no text"}),
        json.dumps({"text": "Dated badly.", "published": "last Tuesday"}),
        "",
        json.dumps({"text": "Only text here."}),
    ]))
    items = _read(path)
    articles = [i for i in items if not isinstance(i, Failure)]
    failures = [i for i in items if isinstance(i, Failure)]
    assert [a.id for a in articles] == ["a1", text_id("Only text here.")]
    first = articles[0]
    assert (first.title, first.source, first.url, first.published, first.author) == (
        "T", "Wire", "https://example.org/a1", "2024-03-05", "A. Writer")
    assert articles[1].title == "Only text here." and articles[1].source == "feed.jsonl"
    assert [f.location for f in failures] == [f"{path}:2", f"{path}:3", f"{path}:4"]
    assert "invalid JSON" in failures[0].reason
    assert "text" in failures[1].reason
    assert "ISO 8601" in failures[2].reason


def test_bad_files_become_failures_with_reasons(tmp_path: Path) -> None:
    (tmp_path / "empty.txt").write_text("")
    (tmp_path / "blank.md").write_text("  \n\t\n")
    (tmp_path / "binary.txt").write_bytes(b"\x00\x01\x02 binary")
    (tmp_path / "garbled.txt").write_bytes(bytes([0x81, 0x8D, 0x8F, 0x90, 0x9D]) * 4)
    os.symlink(tmp_path / "gone.txt", tmp_path / "dangling.txt")
    (tmp_path / "photo.png").write_bytes(b"png")
    (tmp_path / "ok.txt").write_text(ARTICLE)
    files, failures = discover([tmp_path, tmp_path / "missing.txt"])
    for path in files:
        failures += [i for i in read_file(path) if isinstance(i, Failure)]
    reasons = {Path(f.location).name: f.reason for f in failures}
    assert reasons == {
        "photo.png": reasons["photo.png"],
        "missing.txt": "no such file or folder",
        "empty.txt": "empty file",
        "blank.md": "empty file",
        "binary.txt": "binary file (contains NUL bytes), not text",
        "garbled.txt": "cannot decode: not UTF-8 text, nor Windows-1252/Latin-1",
        "dangling.txt": reasons["dangling.txt"],
    }
    assert "unsupported file type '.png'" in reasons["photo.png"]
    assert reasons["dangling.txt"].startswith("cannot read")
    assert tmp_path / "ok.txt" in files


def test_folders_are_read_recursively_skipping_hidden_entries(tmp_path: Path) -> None:
    (tmp_path / "a" / "b").mkdir(parents=True)
    (tmp_path / "a" / "b" / "deep.md").write_text(ARTICLE)
    (tmp_path / ".git").mkdir()
    (tmp_path / ".git" / "x.txt").write_text(ARTICLE)
    files, failures = discover([tmp_path])
    assert files == [tmp_path / "a" / "b" / "deep.md"] and failures == []
