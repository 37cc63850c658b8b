"""The product's interfaces: the web chat (Gradio, `ui.app`), the HTTP API (`ui.api`),
the MCP server (`ui.mcp`) and the `newsqa` command (`ui.cli`). Each only turns requests
into calls of `qa` and `index`; importing `index` or `qa` never imports this package."""

__all__ = ["Options", "build_app", "launch"]


def __getattr__(name: str) -> object:  # gradio loads only when the chat is actually used
    if name in __all__:
        from ui import app

        return getattr(app, name)
    raise AttributeError(name)
