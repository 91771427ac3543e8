"""HTML for the chat and its panels, from `Answer`s (every user or document string escaped),
and the Markdown export of a conversation."""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from rag import Answer, IngestReport
from rag.store.corpus import DocumentInfo
from rag.types import Citation

_MARKER = re.compile(r"\[(\d+)\]")
# One answer sentence with the marker(s) that follow it: the unit of streaming.
_PIECE = re.compile(r".+?(?:\s*\[\d+\])+|.+$", re.S)


def esc(text: str) -> str:
    """Escape user or document text for an HTML context (quotes included)."""
    return html.escape(text, quote=True)


def render_error(error: Exception) -> str:
    """A message for the user (a RagError's says what to do), escaped: it may quote paths
    or the question."""
    return f'<p class="error">{esc(str(error))}</p>'


def _link_markers(escaped: str) -> str:
    """Turn [n] into a link that brings source n into view (see `SCROLL_TO_SOURCE_JS`)."""
    return _MARKER.sub(r'<a class="cite" href="#src-\1">[\1]</a>', escaped)


_FENCED = re.compile(r"\n?```\n(.*?)\n```\n?", re.S)
_INLINE_CODE = re.compile(r"`([^`\n]+)`")


def _body(text: str) -> str:
    """Answer text as HTML: escaped, [n] linked, code (fenced or `inline`) shown as code."""
    parts, at = [], 0
    for block in _FENCED.finditer(text):
        parts.append(_prose(text[at : block.start()]))
        parts.append(f"<pre><code>{esc(block.group(1))}</code></pre>")
        at = block.end()
    parts.append(_prose(text[at:]))
    return "".join(parts)


def _prose(text: str) -> str:
    html_text = _INLINE_CODE.sub(r"<code>\1</code>", esc(text))
    return _link_markers(html_text).replace("\n", "<br>")


def _phrase_marked(html_text: str, answer: Answer) -> str:
    """The answer phrase, where the (escaped) text shows it, marked."""
    span = answer.answer_span
    phrase = esc(" ".join(span.text.split())) if span else ""
    at = html_text.find(phrase) if phrase else -1
    if at < 0:
        return html_text
    end = at + len(phrase)
    return f'{html_text[:at]}<strong class="phrase">{phrase}</strong>{html_text[end:]}'


def render_message(answer: Answer, text: str | None = None) -> str:
    """The chat bubble: (part of) the answer text, with the searched query when it differs.

    A partial text is marked `streaming`, so a reader (or a test) can tell when it is done.
    """
    parts = []
    if answer.query_rewritten:
        parts.append(f'<p class="searched"><em>Searched for: {esc(answer.query)}</em></p>')
    if answer.notice:
        parts.append(f'<p class="notice">{esc(answer.notice)}</p>')
    body = _phrase_marked(_body(answer.text if text is None else text), answer)
    kind = "refusal" if answer.refused else "answer"
    if text is not None and text != answer.text:
        kind += " streaming"
    parts.append(f'<p class="{kind}">{body}</p>')
    return "".join(parts)


def render_partial(text: str) -> str:
    """An LLM answer while it is written: the sentences verified so far."""
    return f'<p class="answer streaming llm">{_body(text)}</p>'


def stream_message(answer: Answer) -> Iterator[str]:
    """The bubble growing one cited sentence at a time."""
    shown = ""
    for piece in _PIECE.findall(answer.text):
        shown += piece
        yield render_message(answer, shown)


def _highlight(passage: str, quote: str, phrase: tuple[int, int] | None = None) -> str:
    """The passage, escaped, with the quote marked (and in it the answer phrase, given as
    offsets into the quote)."""
    at = passage.find(quote)
    if at < 0 or not quote:
        return esc(passage)
    end = at + len(quote)
    marked = esc(quote)
    if phrase is not None:
        a, b = phrase
        marked = (
            f'{esc(quote[:a])}<strong class="phrase">{esc(quote[a:b])}</strong>{esc(quote[b:])}'
        )
    return f"{esc(passage[:at])}<mark>{marked}</mark>{esc(passage[end:])}"


def _phrase_in(c: Citation, answer: Answer) -> tuple[int, int] | None:
    """The answer phrase's offsets in citation c's quote, when the quote holds it."""
    span = answer.answer_span
    if span is None or span.source != c.source or not c.start <= span.start < span.end <= c.end:
        return None
    return span.start - c.start, span.end - c.start


def render_sources(answer: Answer) -> str:
    """Each citation's [n], file, title and passage with its quote highlighted; or related."""
    if answer.refused:
        reason = f": {esc(answer.refusal_reason)}" if answer.refusal_reason else "."
        items = [
            f'<li><span class="file">{esc(Path(p.source).name)}</span> · {esc(p.title)}'
            f"<blockquote>{esc(p.text)}</blockquote></li>"
            for p in answer.retrieved
        ]
        return (
            f'<div class="sources"><p class="refused">Refused: the documents don\'t answer '
            f'this{reason}</p><p class="label">Related, not an answer</p>'
            f'<ol class="related">{"".join(items)}</ol></div>'
        )
    removed = ""
    if answer.dropped:
        # The reasons only: a removed sentence is exactly what must not reach the user.
        reasons = "".join(f"<li>{esc(d.reason)}</li>" for d in answer.dropped)
        removed = (
            f'<details class="dropped"><summary>{len(answer.dropped)} sentence(s) of the '
            f"language model removed by the citation check</summary><ul>{reasons}</ul></details>"
        )
    items = [_source_item(c, _phrase_in(c, answer)) for c in answer.citations]
    return (
        f'<div class="sources"><p class="label">Sources</p><ul>{"".join(items)}</ul>{removed}</div>'
    )


def _source_item(c: Citation, phrase: tuple[int, int] | None = None) -> str:
    """One citation: [n], file, title, where (page, chars, section) and the passage."""
    where = f"{f'{c.place}, ' if c.place else ''}chars {c.start}–{c.end}"
    section = f'<p class="section">{esc(c.section)}</p>' if c.section else ""
    return (
        f'<li id="src-{c.n}" class="source"><strong>[{c.n}]</strong> '
        f'<span class="file">{esc(Path(c.source).name)}</span> · {esc(c.title)} '
        f'<span class="span">{where}</span>{section}'
        f"<blockquote>{_highlight(c.passage, c.quote, phrase)}</blockquote></li>"
    )


def render_documents(documents: list[DocumentInfo]) -> str:
    """The indexed documents as a table."""
    if not documents:
        return "<p>No documents indexed yet.</p>"
    rows = "".join(
        f"<tr><td>{esc(Path(d.source).name)}</td><td>{esc(d.title)}</td>"
        f"<td>{d.chunks}</td><td>{esc(d.ingested)}</td></tr>"
        for d in documents
    )
    return (
        '<table class="documents"><thead><tr><th>file</th><th>title</th><th>chunks</th>'
        f"<th>ingested (UTC)</th></tr></thead><tbody>{rows}</tbody></table>"
    )


def render_ingest(report: IngestReport, names: dict[str, str]) -> str:
    """Per uploaded file: added, unchanged, replaced or rejected with the reason."""
    rows = [
        f'<tr class="{esc(outcome)}"><td>{esc(names.get(path, Path(path).name))}</td>'
        f"<td>{esc(outcome)}</td><td></td></tr>"
        for path, outcome in report.outcomes.items()
    ]
    rows += [
        f'<tr class="rejected"><td>{esc(names.get(r.path, Path(r.path).name))}</td>'
        f"<td>rejected</td><td>{esc(r.reason)}</td></tr>"
        for r in report.rejected
    ]
    return (
        '<table class="ingest"><thead><tr><th>file</th><th>result</th><th>reason</th></tr>'
        f"</thead><tbody>{''.join(rows)}</tbody></table><p>{esc(report.summary())}</p>"
    )


def conversation_markdown(turns: list[dict[str, Any]]) -> str:
    """A conversation as Markdown: each question, its answer, and every [n] resolved to its
    file, character span (and page, section) and quote. `turns`: each `{"question",
    "answer"}` with `Answer.to_dict()`."""
    lines = ["# Conversation", ""]
    for turn in turns:
        answer = turn["answer"]
        lines += [f"**You:** {turn['question']}", "", f"**Answer:** {answer['text']}", ""]
        for c in answer["citations"]:
            where = [f"`{c['source']}`", f"characters {c['start']}–{c['end']}"]
            if c.get("locator"):
                where.append(c["locator"])
            elif c.get("page"):  # an answer exported before locators
                where.append(f"page {c['page']}")
            if c.get("section"):
                where.append(f"section “{c['section']}”")
            if c.get("offsets") == "extracted":
                where.append("in its extracted text (`rag docs show`)")
            quote = " ".join(c["quote"].split())
            lines.append(f"[{c['n']}] {', '.join(where)}: “{quote}”")
        lines += ["", "---", ""]
    return "\n".join(lines)
