"""What the browser tests share: a chat served by `python -m ui`, and a headless
Chromium page that records every host it contacts and every dialog it opens."""

from __future__ import annotations

import os
import sys
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

import pytest

from tests.conftest import ROOT, free_port, serving

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = ROOT / "test-artifacts"

if not CHROMIUM.exists():
    pytest.skip(
        "browser tests need Debian's chromium at /usr/bin/chromium: "
        "sudo apt-get install -y chromium", allow_module_level=True,
    )
sync_api = pytest.importorskip(
    "playwright.sync_api", reason="browser tests need playwright: pip install -e '.[test]'"
)
expect = sync_api.expect
ANSWERED = 60_000  # ms: a question on a cold page may wait for the model's first call


@contextmanager
def chat_server(
    store: Path, logs: Path, *args: str, env: dict[str, str] | None = None, cwd: Path = ROOT,
) -> Iterator[str]:
    """The chat on a free loopback port over `store` (seeded by the chat itself if empty)."""
    port = free_port()
    with serving(
        [sys.executable, "-m", "ui", "--store", str(store), "--port", str(port), *args],
        f"http://127.0.0.1:{port}/", logs / "server.log", "the chat",
        cwd=cwd, env={**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})},
    ) as url:
        yield url


@dataclass
class Visit:
    """A page, and what it did that it should not have."""

    page: Any
    url: str
    hosts: set[str] = field(default_factory=set)
    dialogs: list[str] = field(default_factory=list)

    def other_hosts(self) -> set[str]:
        return self.hosts - {self.url.split("/")[2]}

    def ask(self, question: str) -> None:
        """Ask, and wait until the answer is in (the box empties, the chat stops waiting)."""
        box = self.page.locator("#nq-question textarea")
        box.fill(question)
        box.press("Enter")
        expect(box).to_have_value("", timeout=ANSWERED)
        expect(self.page.locator("#nq-chat .nq-wait")).to_have_count(0, timeout=ANSWERED)

    def upload(self, files: list[Path]) -> None:
        """Choose files in the articles panel, wait until they are uploaded, add them."""
        self.page.get_by_role("tab", name="Articles").click()
        self.page.locator("#nq-upload input[type=file]").set_input_files([str(f) for f in files])
        expect(self.page.locator("#nq-upload")).to_contain_text(files[-1].stem, timeout=ANSWERED)  # "name .txt"
        self.page.locator("#nq-add").click()

    def screenshot(self, name: str) -> None:
        ARTIFACTS.mkdir(exist_ok=True)
        self.page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


@contextmanager
def chromium() -> Iterator[Any]:
    """Headless Chromium, with nothing of its own that calls out (updates, sync)."""
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=str(CHROMIUM), headless=True,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--no-first-run"],
        )
        try:
            yield browser
        finally:
            browser.close()


@contextmanager
def visit(browser: Any, url: str) -> Iterator[Visit]:
    """A page of its own (a new browser context: its own cookies, so its own session)."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    try:
        page = context.new_page()
        seen = Visit(page, url)
        page.on("request", lambda request: seen.hosts.add(request.url.split("/")[2]))

        def dismiss(dialog: Any) -> None:
            seen.dialogs.append(f"{dialog.type}: {dialog.message}")
            dialog.dismiss()

        page.on("dialog", dismiss)
        page.goto(url)
        expect(page.locator("#nq-description")).to_contain_text("articles", timeout=30_000)
        yield seen
    finally:
        context.close()
