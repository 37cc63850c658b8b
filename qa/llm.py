"""The user's own LLM, through llama-index's integrations. None is the default: without
one, answers come from the extractive answerer.

- `openai-compatible`: any server with the OpenAI chat API (vLLM, llama.cpp's server, a
  hosted API); `llm_url` is its base URL (…/v1), the key is read from NEWSQA_LLM_API_KEY.
- `ollama`: a local Ollama (`llm_url` defaults to http://127.0.0.1:11434).
- `gguf`: a GGUF file run in this process by llama.cpp (`pip install -e '.[gguf]'`).
"""

from __future__ import annotations

import atexit
import os
import weakref
from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence

from index.errors import ConfigError, NewsQAError
from index.settings import Settings

if TYPE_CHECKING:
    from llama_index.core.base.llms.types import ChatMessage
    from llama_index.core.llms import LLM

MAX_TOKENS = 256  # a short answer: one to three sentences with their markers


class LLMError(NewsQAError):
    """The LLM did not answer: unreachable, timed out, or failed."""


def make_llm(settings: Settings) -> LLM:
    """The LLM the settings name (never a default one: `settings.llm` must be set)."""
    if settings.llm == "openai-compatible":
        from llama_index.llms.openai_like import OpenAILike

        return OpenAILike(
            model=settings.llm_model, api_base=settings.llm_url,
            api_key=os.environ.get("NEWSQA_LLM_API_KEY") or "none", is_chat_model=True,
            timeout=settings.llm_timeout, max_retries=0, temperature=0.0, max_tokens=MAX_TOKENS,
        )
    if settings.llm == "ollama":
        from llama_index.llms.ollama import Ollama

        return Ollama(
            model=settings.llm_model, base_url=settings.llm_url or "http://127.0.0.1:11434",
            request_timeout=settings.llm_timeout, temperature=0.0,
            additional_kwargs={"num_predict": MAX_TOKENS},
        )
    if settings.llm == "gguf":
        return _gguf(Path(settings.llm_model or ""))
    raise ConfigError(f"llm={settings.llm!r}: no LLM is configured")


def _close_at_exit(model: Any) -> None:
    """llama.cpp's model frees itself in `__del__`, which at interpreter exit can run after
    the modules it calls are gone ("Exception ignored in: Llama.__del__"): free it first."""
    ref = weakref.ref(model)

    def close() -> None:
        if (alive := ref()) is not None:
            alive.close()

    atexit.register(close)


def _gguf(path: Path) -> LLM:
    try:
        from llama_cpp.llama_chat_format import Jinja2ChatFormatter
        from llama_index.llms.llama_cpp import LlamaCPP
    except ImportError:
        raise ConfigError("--llm gguf runs llama.cpp in process: pip install -e '.[gguf]'") from None
    if not path.is_file():
        raise ConfigError(f"--llm-model {path}: no such GGUF file")
    chat: dict[str, Any] = {}

    def to_prompt(messages: Sequence[ChatMessage]) -> str:
        # The model's own chat template, from its GGUF metadata.
        return str(chat["format"](messages=[{"role": m.role.value, "content": m.content} for m in messages]).prompt)

    try:
        llm = LlamaCPP(
            model_path=str(path), temperature=0.0, max_new_tokens=MAX_TOKENS, context_window=4096,
            model_kwargs={"n_ctx": 4096, "verbose": False}, messages_to_prompt=to_prompt, verbose=False,
        )
    except Exception as error:
        raise ConfigError(f"cannot load {path} with llama.cpp: {error}") from error
    model = llm._model
    _close_at_exit(model)
    template = model.metadata.get("tokenizer.chat_template")
    if not template:
        raise ConfigError(f"{path} has no chat template in its metadata; use an instruct model")
    eos = model.detokenize([model.token_eos()], special=True).decode("utf-8", errors="ignore")
    bos = model.detokenize([model.token_bos()], special=True).decode("utf-8", errors="ignore")
    chat["format"] = Jinja2ChatFormatter(template, eos_token=eos, bos_token=bos)
    if eos:  # an empty stop string would end every reply before it starts
        llm.generate_kwargs["stop"] = [eos]
    return llm


def describe(settings: Settings) -> str:
    """What is configured, for messages and the chat's selector."""
    if not settings.llm:
        return "extractive (no LLM)"
    where = f" at {settings.llm_url}" if settings.llm_url else ""
    model = Path(settings.llm_model or "").name if settings.llm == "gguf" else settings.llm_model
    return f"{settings.llm}: {model}{where}"
