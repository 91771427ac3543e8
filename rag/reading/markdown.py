"""Markdown's blocks, from markdown-it-py's token stream (its tokens carry source line maps).

Also reads the text extracted from HTML and DOCX, which is written in the same block syntax.
"""

from __future__ import annotations

import re
from functools import cache
from typing import TYPE_CHECKING

from rag.reading.blocks import CODE, ENDS_CLAUSE, HEADING, ITEM, ROW, TERM, TEXT, TOC, Block

if TYPE_CHECKING:
    from markdown_it import MarkdownIt
    from markdown_it.token import Token

# What precedes a block's text on its first line: quote marks, a list marker, heading marks.
_QUOTE = re.compile(r"[ \t]*(?:>[ \t]?)*")
_LIST_MARKER = re.compile(r"[ \t]*(?:>[ \t]?)*(?:[-+*]|\d{1,9}[.)])(?:[ \t]+|$)")
_ATX_OPEN = re.compile(r"[ \t]*#{1,6}(?:[ \t]+|$)")
_ATX_CLOSE = re.compile(r"(?:[ \t]+#+)?[ \t]*$")
_TABLE_PIPES = re.compile(r"^[ \t]*\|?[ \t]*|[ \t]*\|?[ \t]*$")
# A list item that is nothing but a link to a heading of the same page: a table of contents.
_ANCHOR_LINK = re.compile(r"\[[^\]]*\]\(#[^)]*\)")


@cache
def _parser() -> MarkdownIt:
    from markdown_it import MarkdownIt  # imported when a Markdown text is first read

    return MarkdownIt("commonmark").enable("table")


class _Lines:
    """Line offsets of a text, to turn markdown-it's line maps into character spans."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.starts = [0] + [m.end() for m in re.finditer("\n", text)]

    def start(self, line: int) -> int:
        return self.starts[line] if line < len(self.starts) else len(self.text)

    def end(self, line: int) -> int:
        """Where line `line`'s text ends (its newline and trailing blanks left out)."""
        stop = self.start(line + 1)
        return self.start(line) + len(self.text[self.start(line) : stop].rstrip())

    def line(self, line: int) -> str:
        return self.text[self.start(line) : self.end(line)]

    def span(self, first: int, last: int, skip: re.Pattern[str] | None = None) -> tuple[int, int]:
        """Lines first..last (inclusive), without what `skip` matches at the first's start."""
        start = self.start(first)
        if skip is not None:
            start += skip.match(self.line(first)).end()  # type: ignore[union-attr]
        return start, max(start, self.end(last))


def markdown_blocks(text: str) -> list[Block]:
    """The blocks of a Markdown text, in order."""
    lines = _Lines(text)
    tokens = _parser().parse(text)
    blocks: list[Block] = []
    item_lines: list[int] = []  # the first line of each open list item
    for i, token in enumerate(tokens):
        if token.type == "list_item_open" and token.map:
            item_lines.append(token.map[0])
        elif token.type == "list_item_close":
            item_lines.pop()
        elif token.map is None:
            continue
        elif token.type == "heading_open":
            blocks.append(_heading(token, lines))
        elif token.type == "paragraph_open":
            blocks.append(_paragraph(token, tokens[i + 1], item_lines, lines))
        elif token.type in ("fence", "code_block"):
            code = _code(token, lines)
            if code is not None:
                blocks.append(code)
        elif token.type == "html_block":
            first, stop = token.map
            kind = CODE if "<pre" in token.content.lower() else TEXT
            blocks.append(Block(*lines.span(first, stop - 1, _QUOTE), kind))
        elif token.type == "tr_open":
            start, end = lines.span(token.map[0], token.map[0])
            row = lines.text[start:end]
            inner = _TABLE_PIPES.sub("", row)
            offset = row.find(inner) if inner else 0
            blocks.append(Block(start + offset, start + offset + len(inner), ROW))
    return _items_as_terms([b for b in blocks if b.end > b.start], text)


def _items_as_terms(blocks: list[Block], text: str) -> list[Block]:
    """A list item that is one short line with its own paragraphs under it is their label
    ("`--disable-setuid`" and the paragraph that explains it)."""
    out = []
    for n, block in enumerate(blocks):
        after = blocks[n + 1] if n + 1 < len(blocks) else None
        line = text[block.start : block.end]
        if (
            block.kind == ITEM
            and after is not None
            and after.kind == TEXT
            and "\n" not in line
            and len(line) <= 80
            and not ENDS_CLAUSE.search(line)
            and not line.rstrip("`*_").endswith(":")
            and "\n\n" in text[block.end : after.start]
            and _indent_of(text, after.start) > 0
        ):
            block = Block(block.start, block.end, TERM, (7,))
        out.append(block)
    return out


def _indent_of(text: str, at: int) -> int:
    line_start = text.rfind("\n", 0, at) + 1
    return at - line_start


def _heading(token: Token, lines: _Lines) -> Block:
    first = token.map[0]  # type: ignore[index]
    start, end = lines.span(first, first, _QUOTE)
    line = lines.text[start:end]
    if token.markup.startswith("#"):
        opened = _ATX_OPEN.match(line)
        start += opened.end() if opened else 0
        end = start + len(_ATX_CLOSE.sub("", lines.text[start:end]))
    return Block(start, end, HEADING, (int(token.tag[1]),))


def _paragraph(token: Token, inline: Token, item_lines: list[int], lines: _Lines) -> Block:
    first, stop = token.map  # type: ignore[misc]
    opens_item = bool(item_lines) and item_lines[-1] == first
    start, end = lines.span(first, stop - 1, _LIST_MARKER if opens_item else _QUOTE)
    if opens_item and _ANCHOR_LINK.fullmatch(inline.content.strip()):
        return Block(start, end, TOC)
    return Block(start, end, ITEM if opens_item else TEXT)


def _code(token: Token, lines: _Lines) -> Block | None:
    first, stop = token.map  # type: ignore[misc]
    if token.type == "fence":
        first += 1
        closing = lines.line(stop - 1).strip()
        if stop - 1 >= first and closing and set(closing) <= set(token.markup[:1]):
            stop -= 1
    while stop > first and not lines.line(stop - 1).strip():
        stop -= 1
    if stop <= first:
        return None
    start = lines.start(first)
    start += len(lines.line(first)) - len(lines.line(first).lstrip())
    return Block(start, lines.end(stop - 1), CODE)
