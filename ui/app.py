"""The Gradio front door: `build_app(engine)`; launching lives in the CLI (`rag serve`)."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import secrets
import tempfile
from pathlib import Path
from typing import Any

import gradio as gr
from starlette.routing import Mount

from rag import Answer, RagEngine, RagError, Settings
from rag.config import MAX_TOP_K
from rag.engine import MAX_HISTORY_TURNS
from rag.extract import SUPPORTED_SUFFIXES
from rag.filters import parse_filters
from rag.retrieve import RETRIEVAL_MODES
from ui.api import build_api, health_route
from ui.guard import is_loopback, request_guards
from ui.mcp_tools import build_mcp, mcp_lifespan, mcp_routes
from ui.render import (
    conversation_markdown,
    esc,
    render_documents,
    render_error,
    render_ingest,
    render_message,
    render_partial,
    render_sources,
    stream_message,
)
from ui.uploads import ingest_uploads

EXAMPLES = [
    "What did Peskov say?",
    "Which town fell to Russian forces?",
    "Who confirmed talking to his Russian counterpart?",
]
UPLOAD_TYPES = list(SUPPORTED_SUFFIXES)

# Scoped by Gradio to the sources panel.
_SOURCES_CSS = """
.sources { font-size: 0.95em; }
.sources .refused { font-weight: 600; }
.sources .label { font-weight: 600; margin-top: 0.5em; }
.sources li { margin-bottom: 0.6em; scroll-margin-top: 1em; }
.sources li.active { outline: 2px solid #f97316; border-radius: 4px; }
.sources .file { font-family: monospace; }
.sources .span { color: #888; font-size: 0.85em; }
.sources blockquote { margin: 0.2em 0 0 0; padding-left: 0.6em; border-left: 3px solid #bbb; }
.sources mark { background: #fde68a; }
.sources .dropped { margin-top: 0.6em; color: #666; font-size: 0.9em; }
"""
_TABLE_CSS = "td, th { padding: 0.2em 0.6em; text-align: left; }"

# [n] links in an answer scroll their source into view and outline it. Gradio opens chat
# links in a new tab, so the click is caught (capture phase) before the browser follows it.
_SCROLL_TO_SOURCE_JS = """
document.addEventListener("click", (event) => {
  const link = event.target.closest("a.cite");
  if (!link) return;
  event.preventDefault();
  event.stopPropagation();
  const target = document.getElementById(link.getAttribute("href").slice(1));
  if (!target) return;
  document.querySelectorAll(".sources li.active").forEach((el) => el.classList.remove("active"));
  target.classList.add("active");
  target.scrollIntoView({block: "center"});
}, true);
"""

# Gradio keeps every upload in its cache (GRADIO_TEMP_DIR); the index keeps its own copy in
# data/uploads. Every 10 minutes, cached files over an hour old go, and all of them at shutdown.
CACHE_CLEANUP = (600, 3600)


def build_app(engine: RagEngine) -> gr.Blocks:
    """A chat over the indexed documents, a documents tab, and an `/ask` API endpoint."""
    settings = engine.settings
    # Markdown exports, removed when the server exits (Gradio serves its own copies).
    exports = tempfile.TemporaryDirectory(prefix="rag-exports-")

    def respond(
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
            for item in engine.ask_stream(
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
        chat: list[dict[str, Any]], queries: list[str], shown: str, turns: list[dict[str, Any]]
    ) -> tuple[dict[str, Any], Any]:
        """The conversation kept in the browser, and its Markdown export."""
        kept = {"chat": chat, "queries": queries, "sources": shown, "turns": turns}
        return kept, export_button(turns)

    def restore(kept: dict[str, Any] | None) -> tuple[Any, ...]:
        """The conversation the browser kept (a reload, or a server restart)."""
        kept = kept or {}
        turns = kept.get("turns", [])
        return (
            kept.get("chat", []),
            kept.get("queries", []),
            kept.get("sources", ""),
            turns,
            export_button(turns),
        )

    def export_button(turns: list[dict[str, Any]]) -> Any:
        if not turns:
            return gr.update(value=None, visible=False)
        text = conversation_markdown(turns)
        digest = hashlib.sha256(text.encode()).hexdigest()[:12]
        path = Path(exports.name) / f"conversation-{digest}.md"
        path.write_text(text, encoding="utf-8")
        return gr.update(value=str(path), visible=True)

    def pick_example(example: gr.SelectData) -> str:
        return example.value["text"]

    def ask(
        question: str, history: list[str] | None = None, filters: list[str] | None = None
    ) -> dict[str, Any]:
        """Answer a question (`history`: earlier answers' `query`; `filters`: `KEY=VALUE`
        metadata filters, as `rag ask --filter`); returns `Answer.to_dict()`."""
        try:
            only = parse_filters(filters or [])
            return engine.ask(question, history=history, filters=only).to_dict()
        except RagError as err:
            # The message may quote paths or the question: escape it, the modal renders HTML.
            raise gr.Error(esc(str(err)), print_exception=False) from err

    def record_feedback(chat: list[dict[str, Any]], like: gr.LikeData) -> None:
        at = like.index if isinstance(like.index, int) else len(chat) - 1
        entry = {
            "time": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            "liked": like.liked,
            "question": _message_html(chat[at - 1]) if at > 0 else "",
            "answer": _message_html(chat[at]),
        }
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        with settings.feedback_file.open("a", encoding="utf-8") as f:
            f.write(json.dumps(entry, ensure_ascii=False) + "\n")
        gr.Info("Thanks for the feedback.")

    def list_documents(only: list[str] | None = None) -> tuple[str, Any, Any]:
        """The documents table, and the documents as choices to delete and to search in (the
        documents chosen to search in stay chosen while they are indexed)."""
        try:
            documents = engine.documents() if engine.has_index() else []
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

    def upload(
        files: list[str] | None,
        only: list[str] | None,
        progress=gr.Progress(),  # noqa: B008 (how Gradio injects a progress bar)
    ) -> tuple[str, str, Any, Any]:
        if not files:
            return "<p>Choose files to add first.</p>", *list_documents(only)
        progress(0.2, desc="Embedding")
        try:
            report, names = ingest_uploads(engine, [Path(temp) for temp in files])
        except RagError as err:
            return render_error(err), *list_documents(only)
        return render_ingest(report, names), *list_documents(only)

    def delete(source: str | None, only: list[str] | None) -> tuple[str, str, Any, Any]:
        if not source:
            return "<p>Choose a document to delete.</p>", *list_documents(only)
        try:
            removed = engine.delete(source)
        except RagError as err:
            return render_error(err), *list_documents(only)
        message = f"<p>Deleted {esc(Path(removed.source).name)} ({removed.chunks} chunks).</p>"
        return message, *list_documents(only)

    with gr.Blocks(title="Ask your documents", delete_cache=CACHE_CLEANUP) as app:
        gr.Markdown("# Ask your documents\nAnswers quote the documents and cite them as [n].")
        with gr.Tab("Chat"):
            chatbot = gr.Chatbot(
                label="Chat",
                elem_id="chat",
                # Messages are HTML we escaped ourselves: no Markdown or LaTeX parsing of
                # document text, and the sanitizer stays on as a second line of defence.
                render_markdown=False,
                sanitize_html=True,
                allow_tags=False,
                latex_delimiters=[],
                buttons=["copy"],
                feedback_options=("Like", "Dislike"),
                examples=[{"text": q} for q in EXAMPLES],
            )
            queries = gr.State([])
            turns = gr.State([])  # each: the question, and its answer's text and citations
            # The conversation survives a reload and a server restart: kept in the browser
            # (encrypted with a secret in the data dir), restored when the page loads.
            kept = gr.BrowserState(
                {}, storage_key="rag-conversation", secret=browser_secret(settings)
            )
            with gr.Row():
                textbox = gr.Textbox(
                    placeholder="Ask a question, e.g. What did Peskov say?",
                    show_label=False,
                    scale=4,
                    elem_id="question",
                )
                submit = gr.Button("Ask", variant="primary", scale=1, elem_id="ask")
            with gr.Accordion("Settings", open=False, elem_id="settings"):
                top_k = gr.Slider(
                    1,
                    MAX_TOP_K,
                    value=settings.top_k,
                    step=1,
                    label="Passages to retrieve (top-k)",
                )
                mode = gr.Radio(
                    list(RETRIEVAL_MODES),
                    value="hybrid",
                    label="Retrieval: hybrid (meaning + keywords), dense (meaning), keyword",
                    elem_id="mode",
                )
                only = gr.Dropdown(
                    label="Search only these documents (none chosen: all of them)",
                    choices=[],
                    multiselect=True,
                    elem_id="only-documents",
                )
            sources = gr.HTML(
                "",
                elem_id="sources",
                padding=True,
                css_template=_SOURCES_CSS,
                js_on_load=_SCROLL_TO_SOURCE_JS,
            )
            export = gr.DownloadButton(
                "Export the conversation (Markdown)", visible=False, elem_id="export"
            )
        with gr.Tab("Documents", elem_id="documents-tab"):
            files = gr.File(
                label=f"Add documents ({', '.join(UPLOAD_TYPES)}; at most "
                f"{settings.max_upload_mb} MB each)",
                file_count="multiple",
                file_types=UPLOAD_TYPES,
                elem_id="upload",
            )
            add = gr.Button("Add to the index", variant="primary", elem_id="add")
            ingest_result = gr.HTML(
                "", elem_id="ingest-result", css_template=_TABLE_CSS, js_on_load=None
            )
            documents = gr.HTML("", elem_id="documents", css_template=_TABLE_CSS, js_on_load=None)
            with gr.Row():
                to_delete = gr.Dropdown(label="Document", choices=[], elem_id="delete-choice")
                remove = gr.Button("Delete from the index", variant="stop", elem_id="delete")

        chat_inputs = [textbox, chatbot, queries, turns, top_k, mode, only]
        chat_outputs = [chatbot, queries, sources, textbox, turns]
        kept_inputs = [chatbot, queries, sources, turns]
        gr.on([textbox.submit, submit.click], respond, chat_inputs, chat_outputs,
              api_visibility="private").then(
            remember, kept_inputs, [kept, export], api_visibility="private"
        )  # fmt: skip
        chatbot.example_select(pick_example, None, textbox, api_visibility="private").then(
            respond, chat_inputs, chat_outputs, api_visibility="private"
        ).then(remember, kept_inputs, [kept, export], api_visibility="private")
        chatbot.like(record_feedback, chatbot, None, api_visibility="private")
        # The chat's clear button must also forget the follow-up history, the sources and
        # the kept conversation.
        chatbot.clear(
            lambda: ([], "", [], {}, gr.update(value=None, visible=False)),
            outputs=[queries, sources, turns, kept, export],
            api_visibility="private",
        )
        app.load(restore, kept, [chatbot, queries, sources, turns, export],
                 api_visibility="private")  # fmt: skip
        doc_outputs = [ingest_result, documents, to_delete, only]
        add.click(upload, [files, only], doc_outputs, api_visibility="private")
        remove.click(delete, [to_delete, only], doc_outputs, api_visibility="private")
        app.load(list_documents, only, [documents, to_delete, only], api_visibility="private")
        gr.api(ask, api_name="ask")
    # Answers are read-only over the index and take tens of ms: let a few run at once rather
    # than queue every session behind one (Gradio's default is one at a time per event).
    app.queue(default_concurrency_limit=4)
    return app


def _message_html(message: dict[str, Any]) -> str:
    """A chat message's content as one string (Gradio may hand it back as a list of parts)."""
    content = message["content"]
    if isinstance(content, list):
        return "".join(part.get("text", "") for part in content if isinstance(part, dict))
    return str(content)


def browser_secret(settings: Settings) -> str:
    """The key the browser's copy of a conversation is encrypted with: made once per data
    dir (readable by its owner only), so a restarted server can read what it kept."""
    path = settings.data_dir / "ui-secret"
    try:
        return path.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        pass
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    secret = secrets.token_urlsafe(24)
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another server made it first
        return path.read_text(encoding="utf-8").strip()
    with os.fdopen(descriptor, "w", encoding="utf-8") as out:
        out.write(secret)
    return secret


def launch_options(engine: RagEngine, host: str, insecure_no_auth: bool = False) -> dict[str, Any]:
    """The `launch()` arguments for a UI bound to `host`: login, upload size limit, the Host
    and Origin checks in front of every request, the HTTP API (ui.api) at /v1 and /health,
    the MCP tools (ui.mcp_tools) at /mcp. Beyond loopback the API and the tools answer only
    with RAG_API_KEY (or `insecure_no_auth`)."""
    settings = engine.settings
    require_key = not (is_loopback(host) or insecure_no_auth)
    tools = build_mcp(engine)
    routes = [
        Mount("/v1", app=build_api(engine, require_key)),
        health_route(engine),
        *mcp_routes(tools, engine, require_key),
    ]
    return {
        "auth": auth_pairs(settings.ui_auth),
        "max_file_size": f"{settings.max_upload_mb}mb",
        "app_kwargs": {
            "middleware": request_guards(host, settings.ui_allowed_hosts),
            # Routes given to the app come before Gradio's own, which it adds at launch.
            "routes": routes,
            "lifespan": mcp_lifespan(tools),
        },
    }


def auth_pairs(setting: str | None) -> list[tuple[str, str]] | None:
    """`RAG_UI_AUTH` as Gradio's auth list: `user:password`, or a file of such lines."""
    if not setting:
        return None
    path = Path(setting)
    lines = path.read_text(encoding="utf-8").splitlines() if path.is_file() else [setting]
    pairs = [tuple(line.split(":", 1)) for line in lines if ":" in line]
    if not pairs:
        raise RagError("RAG_UI_AUTH must be `user:password` or a file of such lines.")
    return [(user.strip(), password) for user, password in pairs]
