"""The chat tab's events: answering (streamed), keeping the conversation in the browser,
its Markdown export, thumbs, and the `/ask` API endpoint."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import tempfile
from pathlib import Path
from typing import Any

import gradio as gr

from rag import Answer, RagEngine, RagError
from rag.engine import MAX_HISTORY_TURNS
from rag.filters import parse_filters
from ui.render import (
    conversation_markdown,
    esc,
    render_error,
    render_message,
    render_partial,
    render_sources,
    stream_message,
)
from ui.source_view import document_view


class ChatEvents:
    """What the chat tab's components call, over one engine."""

    def __init__(self, engine: RagEngine) -> None:
        self.engine = engine
        self.settings = engine.settings
        # Markdown exports, removed when the server exits (Gradio serves its own copies).
        self.exports = tempfile.TemporaryDirectory(prefix="rag-exports-")

    def respond(
        self,
        message: str,
        chat: list[dict[str, Any]],
        queries: list[str],
        turns: list[dict[str, Any]],
        top_k: int,
        mode: str,
        only: list[str] | None,
    ):
        if not message.strip():
            gr.Warning("The question is empty. Ask something about the documents.")
            return
        filters = parse_filters([f"file_path={source}" for source in only or []])
        chat = [*chat, {"role": "user", "content": esc(message.strip())}]
        pending = {"role": "assistant", "content": '<p class="pending">Searching…</p>'}
        yield [*chat, pending], queries, gr.skip(), "", gr.skip()
        # An LLM answer streams its verified sentences as they are written; the finished
        # Answer then replaces them (with its notice, if it fell back to extractive).
        shown = ""
        result: Answer | None = None
        try:
            recent = queries[-MAX_HISTORY_TURNS:]  # a long chat reads its latest turns
            for item in self.engine.ask_stream(
                message, history=recent, k=int(top_k), mode=mode, filters=filters
            ):
                if isinstance(item, Answer):
                    result = item
                    break
                shown += item
                streaming = {"role": "assistant", "content": render_partial(shown)}
                yield [*chat, streaming], queries, gr.skip(), gr.skip(), gr.skip()
        except RagError as err:
            failed = {"role": "assistant", "content": render_error(err)}
            yield [*chat, failed], queries, "", gr.skip(), gr.skip()
            return
        assert result is not None, "ask_stream ends with an Answer"
        for partial in [] if shown else stream_message(result):
            streaming = {"role": "assistant", "content": partial}
            yield [*chat, streaming], queries, gr.skip(), gr.skip(), gr.skip()
        final = {"role": "assistant", "content": render_message(result)}
        answer = result.to_dict()  # what the export needs (the browser keeps it: no passages)
        kept_keys = ("text", "citations", "refused", "refusal_reason", "query")
        turn = {"question": message.strip(), "answer": {k: answer[k] for k in kept_keys}}
        yield (
            [*chat, final],
            [*queries, result.query],
            render_sources(result),
            gr.skip(),
            [*turns, turn],
        )

    def remember(
        self,
        chat: list[dict[str, Any]],
        queries: list[str],
        shown: str,
        turns: list[dict[str, Any]],
    ) -> tuple[dict[str, Any], Any]:
        """The conversation kept in the browser, and its Markdown export."""
        kept = {"chat": chat, "queries": queries, "sources": shown, "turns": turns}
        return kept, self.export_button(turns)

    def restore(self, kept: dict[str, Any] | None) -> tuple[Any, ...]:
        """The conversation the browser kept (a reload, or a server restart)."""
        kept = kept or {}
        turns = kept.get("turns", [])
        return (
            kept.get("chat", []),
            kept.get("queries", []),
            kept.get("sources", ""),
            turns,
            self.export_button(turns),
        )

    def export_button(self, turns: list[dict[str, Any]]) -> Any:
        if not turns:
            return gr.update(value=None, visible=False)
        text = conversation_markdown(turns)
        digest = hashlib.sha256(text.encode()).hexdigest()[:12]
        path = Path(self.exports.name) / f"conversation-{digest}.md"
        path.write_text(text, encoding="utf-8")
        return gr.update(value=str(path), visible=True)

    def citation_choices(self, turns: list[dict[str, Any]]) -> tuple[Any, str]:
        """The last answer's citations, to show one where it stands in its document."""
        citations = turns[-1]["answer"]["citations"] if turns else []
        choices = [
            (
                f"[{c['n']}] {Path(c['source']).name}"
                + (f", {c['locator']}" if c.get("locator") else ""),
                c["n"],
            )
            for c in citations
        ]
        return gr.update(choices=choices, value=None, visible=bool(choices)), ""

    def show_in_document(self, n: int | None, turns: list[dict[str, Any]]) -> str:
        """The chosen citation's quote in its document (ui.source_view): the source comes
        from this session's own answer, and must be an indexed document."""
        citations = turns[-1]["answer"]["citations"] if turns and n is not None else []
        chosen = next((c for c in citations if c["n"] == n), None)
        if chosen is None:
            return ""
        try:
            return document_view(self.engine, chosen["source"], chosen["start"], chosen["end"])
        except RagError as err:
            return render_error(err)

    def pick_example(self, example: gr.SelectData) -> str:
        return example.value["text"]

    def ask(
        self, question: str, history: list[str] | None = None, filters: list[str] | None = None
    ) -> dict[str, Any]:
        """Answer a question (`history`: earlier answers' `query`; `filters`: `KEY=VALUE`
        metadata filters, as `rag ask --filter`); returns `Answer.to_dict()`."""
        try:
            only = parse_filters(filters or [])
            return self.engine.ask(question, history=history, filters=only).to_dict()
        except RagError as err:
            # The message may quote paths or the question: escape it, the modal renders HTML.
            raise gr.Error(esc(str(err)), print_exception=False) from err

    def record_feedback(self, chat: list[dict[str, Any]], like: gr.LikeData) -> None:
        at = like.index if isinstance(like.index, int) else len(chat) - 1
        entry = {
            "time": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            "liked": like.liked,
            "question": _message_html(chat[at - 1]) if at > 0 else "",
            "answer": _message_html(chat[at]),
        }
        self.settings.data_dir.mkdir(parents=True, exist_ok=True)
        with self.settings.feedback_file.open("a", encoding="utf-8") as f:
            f.write(json.dumps(entry, ensure_ascii=False) + "\n")
        gr.Info("Thanks for the feedback.")


def _message_html(message: dict[str, Any]) -> str:
    """A chat message's content as one string (Gradio may hand it back as a list of parts)."""
    content = message["content"]
    if isinstance(content, list):
        return "".join(part.get("text", "") for part in content if isinstance(part, dict))
    return str(content)
