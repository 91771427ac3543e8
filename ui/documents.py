"""The documents tab's events: the list, uploads and deletes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import gradio as gr

from rag import RagEngine, RagError
from ui.render import esc, render_documents, render_error, render_ingest
from ui.uploads import ingest_uploads


class DocumentEvents:
    """What the documents tab's components call (and the chat's document choice), over one
    engine."""

    def __init__(self, engine: RagEngine) -> None:
        self.engine = engine

    def list_documents(self, only: list[str] | None = None) -> tuple[str, Any, Any]:
        """The documents table, and the documents as choices to delete and to search in (the
        documents chosen to search in stay chosen while they are indexed)."""
        try:
            documents = self.engine.documents()
        except RagError as err:
            empty = gr.update(choices=[])
            return render_error(err), empty, empty
        choices = [(Path(d.source).name, d.source) for d in documents]
        indexed = {d.source for d in documents}
        still = [source for source in only or [] if source in indexed]
        return (
            render_documents(documents),
            gr.update(choices=choices, value=None),
            gr.update(choices=choices, value=still),
        )

    def table(self) -> str:
        """The documents table alone (refreshed while folders are watched: the choices stay
        as the user left them)."""
        try:
            return render_documents(self.engine.documents())
        except RagError as err:
            return render_error(err)

    def upload(
        self,
        files: list[str] | None,
        only: list[str] | None,
        progress=gr.Progress(),  # noqa: B008 (how Gradio injects a progress bar)
    ) -> tuple[str, str, Any, Any]:
        if not files:
            return "<p>Choose files to add first.</p>", *self.list_documents(only)
        progress(0.2, desc="Embedding")
        try:
            report, names = ingest_uploads(self.engine, [Path(temp) for temp in files])
        except RagError as err:
            return render_error(err), *self.list_documents(only)
        return render_ingest(report, names), *self.list_documents(only)

    def delete(self, source: str | None, only: list[str] | None) -> tuple[str, str, Any, Any]:
        if not source:
            return "<p>Choose a document to delete.</p>", *self.list_documents(only)
        try:
            removed = self.engine.delete(source)
        except RagError as err:
            return render_error(err), *self.list_documents(only)
        message = f"<p>Deleted {esc(Path(removed.source).name)} ({removed.chunks} chunks).</p>"
        return message, *self.list_documents(only)
