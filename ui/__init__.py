"""The Gradio chat front door."""

from ui.app import build_app

__all__ = ["build_app"]
