"""The reading view of a text: the same length, with markup blanked and wrapped words joined.

Every character keeps its offset, so a span found in the view (a sentence, a term) is the
same span in the source, and a citation's quote stays the source's own characters. The view
is what is embedded, indexed for BM25, matched against questions and shown (whitespace
collapsed); the source is what is quoted.
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable
from functools import lru_cache

from rag.reading.blocks import CODE, EXTRACTED, MARKDOWN, PLAIN, RST

Masker = Callable[[re.Match[str]], str]


# Masked characters: blanks in the view, left out of what is shown ("`x`'s" shows "x's").
_GONE = "\0"


def _blank(match: re.Match[str]) -> str:
    return _GONE * len(match.group(0))


def _keep(*groups: int) -> Masker:
    """Blank the match except the given groups, which stay where they stand."""

    def mask(match: re.Match[str]) -> str:
        out = [_GONE] * len(match.group(0))
        base = match.start()
        for g in groups:
            if match.group(g) is not None:
                at = match.start(g) - base
                out[at : at + len(match.group(g))] = match.group(g)
        return "".join(out)

    return mask


def _entity(match: re.Match[str]) -> str:
    decoded = html.unescape(match.group(0))
    if len(decoded) != 1:
        return match.group(0)
    return decoded + _GONE * (len(match.group(0)) - 1)


def _joined_word(match: re.Match[str]) -> str:
    """ "com-\\n   pression": the whole word where it begins, blanks after it."""
    word = match.group(1) + match.group(3)
    return word + _GONE * (len(match.group(0)) - len(word))


_EMPHASIS: list[tuple[re.Pattern[str], Masker]] = [
    (re.compile(r"(\*\*|__)(?=\S)(.+?)(?<=\S)\1"), _keep(2)),
    (
        re.compile(r"(?<![\w*\\])\*(?=[^\s*])((?:[^*\n]|\n(?![ \t]*\n))+?)(?<=\S)\*(?![\w*])"),
        _keep(1),
    ),
    (re.compile(r"(?<![\w\\])_(?=[^\s_])((?:[^_\n]|\n(?![ \t]*\n))+?)(?<=\S)_(?!\w)"), _keep(1)),
]
_TAG: tuple[re.Pattern[str], Masker] = (
    re.compile(r"</?[A-Za-z][A-Za-z0-9-]*(?:\s[^<>\n]*)?/?>"),
    _blank,
)
_ENTITY: tuple[re.Pattern[str], Masker] = (
    re.compile(r"&(?:#\d{1,7}|#[xX][0-9a-fA-F]{1,6}|[A-Za-z]{2,8});"),
    _entity,
)
# A backslash that makes the next punctuation literal ("\\|" in a table cell).
_ESCAPE: tuple[re.Pattern[str], Masker] = (re.compile(r"\\(?=[!-/:-@\[-`{-~])"), _blank)
_MARKDOWN: list[tuple[re.Pattern[str], Masker]] = [
    (re.compile(r"(`+)(?!`)(.+?)(?<!`)\1(?!`)", re.S), _keep(2)),
    (re.compile(r"!?\[([^\]\n]*)\]\([^)\s]*(?:\s+\"[^\"\n]*\")?\)"), _keep(1)),
    (re.compile(r"<((?:https?|ftp|mailto):[^>\s]+|[^>\s@]+@[^>\s]+\.[^>\s]+)>"), _keep(1)),
    _TAG,
    _ENTITY,
    # GitHub's alert marker opening a quote ("> [!TIP]"): the kind of note, not its text.
    (re.compile(r"^[ \t]*(?:>[ \t]?)+\[!(?:NOTE|TIP|IMPORTANT|WARNING|CAUTION)\]", re.M), _blank),
    (re.compile(r"^[ \t]*(?:>[ \t]?)+", re.M), _blank),
    (re.compile(r"^[ \t]*#{1,6}(?=[ \t])", re.M), _blank),
    _ESCAPE,
    *_EMPHASIS,
]
_RST: list[tuple[re.Pattern[str], Masker]] = [
    (re.compile(r"``(?=\S)(.+?)(?<=\S)``", re.S), _keep(1)),
    (re.compile(r"(?::[\w.+-]+)+:`([^`<]*?)(?:\s*<[^>`]*>)?`"), _keep(1)),
    (re.compile(r"`([^`<]+?)\s*<[^>`]*>`__?"), _keep(1)),
    (re.compile(r"`([^`]+?)`__?"), _keep(1)),
    (re.compile(r"(?<=\S)::(?=[ \t]*$)", re.M), lambda m: ":" + _GONE),
    (re.compile(r"^[ \t]*::[ \t]*$", re.M), _blank),
    *_EMPHASIS,
]
# A word hyphenated at a line end by a typesetter (man pages, PDFs): "de-\n     fault".
_HYPHENATED = re.compile(r"([A-Za-z]{2,})-\n([ \t]*)([a-z]+)")
# The frame of text boxed in `|` (a notice at the top of a FAQ).
_BOX_EDGE = re.compile(r"^[ \t]*\|(?=[ \t].*[ \t]\|[ \t]*$)|(?<=[ \t])\|[ \t]*$", re.M)
_PLAIN: list[tuple[re.Pattern[str], Masker]] = [(_HYPHENATED, _joined_word), (_BOX_EDGE, _blank)]
# Code is shown as written; only the HTML a Markdown file wraps it in (<pre>, entities) goes.
# Text extracted from HTML, Office files, e-books and e-mail is written without inline
# markup (rag.reading.html, rag.reading.written), but a table cell escapes its `|`.
_MASKS: dict[str, list[tuple[re.Pattern[str], Masker]]] = {
    MARKDOWN: _MARKDOWN,
    EXTRACTED: [_ESCAPE],
    RST: _RST,
    PLAIN: _PLAIN,
    MARKDOWN + " code": [_TAG, _ENTITY],
}


def unit_masked(text: str, start: int, end: int, kind: str, fmt: str) -> str:
    """A unit of `text` with its markup marked as gone: code keeps its own characters."""
    if kind == CODE:  # from its line's start, so that its lines keep their relative indents
        line_start = text.rfind("\n", 0, start) + 1
        if not text[line_start:start].strip():
            start = line_start
        return mask(text[start:end], f"{fmt} code")
    return masked(text, fmt)[start:end]


def mask(text: str, fmt: str) -> str:
    """`text` with its format's markup marked as gone (same length, same offsets)."""
    out = text
    for pattern, masker in _MASKS.get(fmt, []):
        out = pattern.sub(masker, out)
    assert len(out) == len(text)
    return out


@lru_cache(maxsize=4096)
def masked(text: str, fmt: str) -> str:
    """`mask`, cached: chunks are read again at every question that retrieves them."""
    return mask(text, fmt)


def reading_view(text: str, fmt: str) -> str:
    """`text` with its format's markup blanked: what is embedded, indexed and matched."""
    return masked(text, fmt).replace(_GONE, " ")


_SPACE = re.compile(r"\s+")


def shown(masked_text: str, kind: str) -> str:
    """How a unit of `masked` text is shown: markup left out, code as its lines, anything
    else on one line."""
    view = masked_text.replace(_GONE, "")
    if kind == CODE:
        lines = [line.rstrip() for line in view.strip("\n").split("\n")]
        indent = min((len(x) - len(x.lstrip()) for x in lines if x.strip()), default=0)
        return "\n".join(x[indent:] for x in lines).strip("\n")
    return _SPACE.sub(" ", view).strip()
