"""The web chat (Gradio). Importing `index` or `qa` never imports this package."""

__all__ = ["Options", "build_app", "launch"]


def __getattr__(name: str) -> object:  # gradio loads only when the chat is actually used
    if name in __all__:
        from ui import app

        return getattr(app, name)
    raise AttributeError(name)
