"""Offline by default, and the library never pulls in the web UI."""

import os
import subprocess
import sys

import index  # noqa: F401  (applies the offline switches)

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def test_offline_switches_are_set_by_importing_the_library() -> None:
    assert os.environ["HF_HUB_OFFLINE"] == "1"
    assert os.environ["ANONYMIZED_TELEMETRY"] == "False"
    assert os.environ["GRADIO_ANALYTICS_ENABLED"] == "False"
    cache = os.environ["TIKTOKEN_CACHE_DIR"]
    assert cache.endswith("_static/tiktoken_cache") and os.path.isdir(cache)


def test_tiktoken_loads_from_the_local_cache() -> None:
    from index.chunking import count_tokens

    assert count_tokens("Offline tokens.") > 0


def test_importing_index_and_qa_never_imports_gradio_or_torch() -> None:
    code = (
        "import sys, index, qa, ui.cli; "
        "bad = [m for m in ('gradio', 'torch', 'sentence_transformers') if m in sys.modules]; "
        "print(bad); sys.exit(1 if bad else 0)"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_library_never_imports_an_interface() -> None:
    """`index` and `qa` are the library; `ui` (the chat, the CLI) only calls them."""
    import ast
    from pathlib import Path

    for path in [*(Path(ROOT) / "index").rglob("*.py"), *(Path(ROOT) / "qa").rglob("*.py")]:
        for node in ast.walk(ast.parse(path.read_text())):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                [node.module or ""] if isinstance(node, ast.ImportFrom) else []
            assert not [n for n in names if n == "ui" or n.startswith("ui.")], f"{path} imports {names}"
