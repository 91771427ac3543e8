"""Units: what answers quote and cite. A sentence of a paragraph or list item, or a whole code
block, table row, heading or FAQ question, each with the section path of the labels above it.

A document is read once, at ingest; each chunk stores its units (offsets in the chunk's
text) and their section paths in its metadata, so a question reads no file.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from rag.reading.blocks import (
    EXTRACTED,
    ITEM,
    LABELS,
    LEGAL,
    MARKDOWN,
    RST,
    TEXT,
    Block,
)
from rag.reading.lines import plain_blocks, rst_blocks
from rag.reading.markdown import markdown_blocks
from rag.reading.view import mask, shown, unit_masked
from rag.text import paragraph_sentence_spans

# Metadata keys a chunk's reading is stored under (not embedded, not filtered on).
UNITS_KEY, SECTIONS_KEY, SECTION_KEY = "units", "sections", "section"
SECTION_SEPARATOR = " › "
_MAX_LABEL = 100
_GONE = "\0"
# The headings of a licence or copyright section, and the phrases of licence notices.
_LEGAL_HEADING = re.compile(r"\b(?:licen[cs]es?|copying|legal|warranty)\b", re.I)
_LEGAL_TEXT = re.compile(
    r"free software;? you can redistribute|without any warranty|general public licen[cs]e|"
    r"licensed under|permission is hereby granted|all rights reserved|copyright\s+(?:\(c\)|©|\d)|"
    r"free software foundation, inc|this (?:program|library|software) is distributed in the hope|"
    r"you should have received a copy|this software is provided|redistribution and use in source",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class Unit:
    """A span of the text that answers may quote, its kind, and its section path."""

    start: int
    end: int
    kind: str
    section: str = ""


def read_blocks(text: str, fmt: str) -> list[Block]:
    """The blocks of a text in its format."""
    if fmt in (MARKDOWN, EXTRACTED):
        return markdown_blocks(text)
    if fmt == RST:
        return rst_blocks(text)
    return plain_blocks(text)


def read_units(text: str, fmt: str) -> list[Unit]:
    """Every unit of a document, in order, with its section path."""
    marked = mask(text, fmt)
    units: list[Unit] = []
    path: list[tuple[tuple[int, ...], str]] = []  # (rank, label) of the open sections
    legal_depth: int | None = None  # the path depth where a licence section opened
    for block in read_blocks(text, fmt):
        if block.kind in LABELS:
            while path and path[-1][0] >= block.rank:
                path.pop()
            if legal_depth is not None and len(path) <= legal_depth:
                legal_depth = None
        section = SECTION_SEPARATOR.join(label for _, label in path)
        if block.kind in LABELS:
            label = shown(marked[block.start : block.end], block.kind)[:_MAX_LABEL]
            if legal_depth is None and _LEGAL_HEADING.search(label):
                legal_depth = len(path)
            path.append((block.rank, label))
        units += _block_units(marked, block, section, legal=legal_depth is not None)
    return units


def _block_units(marked: str, block: Block, section: str, legal: bool) -> list[Unit]:
    if block.kind not in (TEXT, ITEM):
        return [Unit(block.start, block.end, block.kind, section)]
    units: list[Unit] = []
    for a, b in paragraph_sentence_spans(marked[block.start : block.end].replace(_GONE, " ")):
        floor = units[-1].end if units else block.start
        start, end = _with_markup(marked, block.start + a, block.start + b, floor, block.end)
        kind = LEGAL if legal or _LEGAL_TEXT.search(marked[start:end]) else block.kind
        units.append(Unit(start, end, kind, section))
    return units


def _with_markup(marked: str, start: int, end: int, floor: int, ceiling: int) -> tuple[int, int]:
    """A sentence's span widened over the markup at its edges ("`nss-mdns` is …")."""
    while start > floor and marked[start - 1] == _GONE:
        start -= 1
    while end < ceiling and marked[end] == _GONE:
        end += 1
    return start, end


def chunk_reading(units: Sequence[Unit], start: int, end: int) -> dict[str, Any]:
    """The metadata that stores a chunk's units: offsets in the chunk's text, and its sections."""
    sections: list[str] = []
    rows: list[tuple[int, int, str, int]] = []
    # Units are in order and disjoint: start at the one holding `start` (a long document has
    # tens of thousands of units, and every one of its chunks asks).
    first = max(bisect.bisect_right(units, start, key=lambda u: u.start) - 1, 0)
    for at in range(first, len(units)):
        unit = units[at]
        if unit.start >= end:
            break
        a, b = max(unit.start, start), min(unit.end, end)
        if b <= a:
            continue
        if unit.section not in sections:
            sections.append(unit.section)
        rows.append((a - start, b - start, unit.kind, sections.index(unit.section)))
    opening = sections[rows[0][3]] if rows else ""
    return {UNITS_KEY: rows, SECTIONS_KEY: sections, SECTION_KEY: opening}


def unit_text(text: str, unit: Unit, fmt: str) -> str:
    """A unit as it is shown and matched: markup left out, whitespace collapsed (code kept)."""
    return shown(unit_masked(text, unit.start, unit.end, unit.kind, fmt), unit.kind)
