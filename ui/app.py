"""The Gradio front door: `build_app(engine)`; launching lives in the CLI (`rag serve`)."""

from __future__ import annotations

import os
import secrets
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import gradio as gr
from starlette.routing import Mount

from rag import RagEngine, RagError, Settings
from rag.config import MAX_TOP_K
from rag.file_text import SUPPORTED_SUFFIXES
from rag.retrieve import RETRIEVAL_MODES
from ui.api import build_api, health_route
from ui.chat import ChatEvents
from ui.documents import DocumentEvents
from ui.guard import is_loopback, request_guards
from ui.mcp_tools import build_mcp, mcp_lifespan, mcp_routes

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
# The document view (ui.source_view): a scrolling box, the quote marked and scrolled to.
_DOCUMENT_CSS = """
.document-view .where { color: #666; font-size: 0.9em; }
.document-view img.page { max-width: 100%; border: 1px solid #ddd; margin-bottom: 0.5em; }
.document-view pre.document { white-space: pre-wrap; max-height: 28em; overflow-y: auto;
  font-family: inherit; font-size: 0.95em; border: 1px solid #ddd; padding: 0.6em; }
.document-view mark { background: #fde68a; }
"""
# Each new view is scrolled to its quote (the box, and the page to the box).
_SCROLL_TO_QUOTE_JS = """
new MutationObserver(() => {
  const quote = element.querySelector("#quote");
  if (quote) quote.scrollIntoView({block: "center"});
}).observe(element, {childList: true, subtree: true});
"""

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
_WATCH_REFRESH_S = 5


def build_app(engine: RagEngine, watched: Sequence[Path] = ()) -> gr.Blocks:
    """A chat over the indexed documents, a documents tab, and an `/ask` API endpoint.

    `watched`: folders a watcher keeps in sync (rag.watch): named in the documents tab,
    whose table is refreshed every few seconds.
    """
    settings = engine.settings
    chat_events, document_events = ChatEvents(engine), DocumentEvents(engine)
    respond, remember, restore = chat_events.respond, chat_events.remember, chat_events.restore
    list_documents = document_events.list_documents

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
            show_in = gr.Radio(
                label="Show a citation where it stands in its document",
                choices=[],
                visible=False,
                elem_id="show-in-document",
            )
            document = gr.HTML(
                "",
                elem_id="document-view",
                css_template=_DOCUMENT_CSS,
                js_on_load=_SCROLL_TO_QUOTE_JS,
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
            if watched:
                folders = ", ".join(f"`{folder}`" for folder in watched)
                gr.Markdown(f"Kept in sync with {folders}.", elem_id="watched")
            documents = gr.HTML("", elem_id="documents", css_template=_TABLE_CSS, js_on_load=None)
            with gr.Row():
                to_delete = gr.Dropdown(label="Document", choices=[], elem_id="delete-choice")
                remove = gr.Button("Delete from the index", variant="stop", elem_id="delete")

        chat_inputs = [textbox, chatbot, queries, turns, top_k, mode, only]
        chat_outputs = [chatbot, queries, sources, textbox, turns]
        kept_inputs = [chatbot, queries, sources, turns]
        choices = chat_events.citation_choices
        gr.on([textbox.submit, submit.click], respond, chat_inputs, chat_outputs,
              api_visibility="private").then(
            remember, kept_inputs, [kept, export], api_visibility="private"
        ).then(choices, turns, [show_in, document], api_visibility="private")  # fmt: skip
        chatbot.example_select(
            chat_events.pick_example, None, textbox, api_visibility="private"
        ).then(respond, chat_inputs, chat_outputs, api_visibility="private").then(
            remember, kept_inputs, [kept, export], api_visibility="private"
        ).then(choices, turns, [show_in, document], api_visibility="private")
        show_in.input(
            chat_events.show_in_document, [show_in, turns], document, api_visibility="private"
        )
        chatbot.like(chat_events.record_feedback, chatbot, None, api_visibility="private")
        # The chat's clear button must also forget the follow-up history, the sources and
        # the kept conversation.
        chatbot.clear(
            lambda: ([], "", [], {}, gr.update(value=None, visible=False)),
            outputs=[queries, sources, turns, kept, export],
            api_visibility="private",
        )
        app.load(restore, kept, [chatbot, queries, sources, turns, export],
                 api_visibility="private").then(
            choices, turns, [show_in, document], api_visibility="private"
        )  # fmt: skip
        doc_outputs = [ingest_result, documents, to_delete, only]
        add.click(document_events.upload, [files, only], doc_outputs, api_visibility="private")
        remove.click(
            document_events.delete, [to_delete, only], doc_outputs, api_visibility="private"
        )
        app.load(list_documents, only, [documents, to_delete, only], api_visibility="private")
        if watched:
            gr.Timer(_WATCH_REFRESH_S).tick(
                document_events.table, None, documents, api_visibility="private"
            )
        gr.api(chat_events.ask, api_name="ask")
    # Answers are read-only over the index and take tens of ms: let a few run at once rather
    # than queue every session behind one (Gradio's default is one at a time per event).
    app.queue(default_concurrency_limit=4)
    return app


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
