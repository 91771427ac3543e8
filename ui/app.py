"""The Gradio chat front door: `build_app(engine)`; launching lives in the CLI."""

from __future__ import annotations

import html
from pathlib import Path
from typing import Any

import gradio as gr

from rag import Answer, RagEngine, RagError

_SOURCES_CSS = """
.sources { font-size: 0.95em; }
.sources .refused { font-weight: 600; }
.sources .label { font-weight: 600; margin-top: 0.5em; }
.sources li { margin-bottom: 0.6em; }
.sources .file { font-family: monospace; }
.sources blockquote { margin: 0.2em 0 0 0; padding-left: 0.6em; border-left: 3px solid #bbb; }
"""


def _esc(text: str) -> str:
    """Escape user or document text for an HTML context (quotes included)."""
    return html.escape(text, quote=True)


def render_message(answer: Answer) -> str:
    """The chat bubble: the answer text, escaped, with the searched query when it differs."""
    parts = []
    if answer.query != answer.question:
        parts.append(f'<p class="searched"><em>Searched for: {_esc(answer.query)}</em></p>')
    parts.append(f"<p>{_esc(answer.text).replace(chr(10), '<br>')}</p>")
    return "".join(parts)


def render_sources(answer: Answer) -> str:
    """The sources panel: each citation's [n], file, title and quote; or related passages."""
    if answer.refused:
        items = [
            f'<li><span class="file">{_esc(Path(p.source).name)}</span> · {_esc(p.title)}'
            f"<blockquote>{_esc(p.text)}</blockquote></li>"
            for p in answer.retrieved
        ]
        return (
            '<div class="sources"><p class="refused">Refused: the documents don\'t answer this'
            f"{': ' + _esc(answer.refusal_reason) if answer.refusal_reason else '.'}</p>"
            f'<p class="label">Related, not an answer</p><ol>{"".join(items)}</ol></div>'
        )
    items = [
        f'<li><strong>[{c.n}]</strong> <span class="file">{_esc(Path(c.source).name)}</span>'
        f" · {_esc(c.title)}<blockquote>{_esc(c.quote)}</blockquote></li>"
        for c in answer.citations
    ]
    return f'<div class="sources"><p class="label">Sources</p><ul>{"".join(items)}</ul></div>'


def build_app(engine: RagEngine) -> gr.Blocks:
    """A chat over the indexed documents, with a sources panel and an `/ask` API endpoint."""

    def answer(question: str, history: list[str] | None = None) -> Answer:
        try:
            return engine.ask(question, history=history)
        except RagError as err:
            # The message may quote paths or the question: escape it, the modal renders HTML.
            raise gr.Error(_esc(str(err)), print_exception=False) from err

    def respond(
        message: str, chat: list[dict[str, Any]], queries: list[str]
    ) -> tuple[list[dict[str, Any]], list[str], str, str]:
        result = answer(message, queries)
        chat = [
            *chat,
            {"role": "user", "content": _esc(message.strip())},
            {"role": "assistant", "content": render_message(result)},
        ]
        return chat, [*queries, result.query], render_sources(result), ""

    def ask(question: str, history: list[str] | None = None) -> dict[str, Any]:
        """Answer a question (`history`: earlier answers' `query`); returns `Answer.to_dict()`."""
        return answer(question, history).to_dict()

    with gr.Blocks(title="Ask your documents") as app:
        gr.Markdown("# Ask your documents\nAnswers quote the documents and cite them as [n].")
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
            feedback_options=None,
        )
        queries = gr.State([])
        with gr.Row():
            textbox = gr.Textbox(
                placeholder="Ask a question, e.g. What did Peskov say?",
                show_label=False,
                scale=4,
                elem_id="question",
            )
            submit = gr.Button("Ask", variant="primary", scale=1, elem_id="ask")
        sources = gr.HTML(
            "", css_template=_SOURCES_CSS, js_on_load=None, elem_id="sources", padding=True
        )
        gr.on(
            [textbox.submit, submit.click],
            respond,
            inputs=[textbox, chatbot, queries],
            outputs=[chatbot, queries, sources, textbox],
            api_visibility="private",
        )
        # The chat's clear button must also forget the follow-up history and the sources.
        chatbot.clear(lambda: ([], ""), outputs=[queries, sources], api_visibility="private")
        gr.api(ask, api_name="ask")
    return app
