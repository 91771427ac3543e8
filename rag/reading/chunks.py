"""A stored chunk as the pipeline reads it: its units, its view (what is embedded and
indexed) and its sentences' texts (what sentence vectors and sentence BM25 are made of)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import lru_cache
from typing import Any

from llama_index.core.schema import BaseNode, MetadataMode

from rag.reading.blocks import TOC, format_of
from rag.reading.units import SECTION_SEPARATOR, SECTIONS_KEY, UNITS_KEY, Unit, read_units
from rag.reading.view import reading_view

Metadata = Mapping[str, Any]


def chunk_format(metadata: Metadata) -> str:
    """The reader of the chunk's file (by its name)."""
    return format_of(metadata.get("file_name", ""))


def chunk_units(text: str, metadata: Metadata) -> tuple[Unit, ...]:
    """A chunk's units as stored at ingest; read from its text when none are stored (a
    passage made elsewhere, or an index written before chunks stored them)."""
    rows = metadata.get(UNITS_KEY)
    if rows is None:
        return _read_chunk(text, chunk_format(metadata))
    sections = metadata.get(SECTIONS_KEY, [])
    return tuple(
        Unit(a, b, kind, sections[i] if i < len(sections) else "") for a, b, kind, i in rows
    )


@lru_cache(maxsize=4096)
def _read_chunk(text: str, fmt: str) -> tuple[Unit, ...]:
    return tuple(read_units(text, fmt))


def chunk_view(text: str, metadata: Metadata) -> str:
    """The chunk's reading view, its table-of-contents lines blanked too (a contents list
    repeats every heading: it would match every question and answer none)."""
    view = reading_view(text, chunk_format(metadata))
    for unit in chunk_units(text, metadata):
        if unit.kind == TOC:
            view = view[: unit.start] + " " * (unit.end - unit.start) + view[unit.end :]
    return view


def sentence_spans_of(text: str, metadata: Metadata) -> list[tuple[int, int]]:
    """The spans of the units that get a sentence vector and sentence BM25 (not contents)."""
    return vector_spans(text, chunk_units(text, metadata))


def vector_spans(text: str, units: Sequence[Unit]) -> list[tuple[int, int]]:
    """Of a chunk's units, the spans that have a sentence vector, in the vectors' order."""
    return [(u.start, u.end) for u in units if u.kind != TOC and text[u.start : u.end].strip()]


def sentence_texts(
    title: str, text: str, metadata: Metadata, spans: Sequence[tuple[int, int]]
) -> list[str]:
    """What is embedded and BM25-indexed for each sentence: the title and the section give
    it its subject ("procps FAQ: Why does ps get signal 17?: No ps release has …")."""
    view = chunk_view(text, metadata)
    sections = {(u.start, u.end): u.section for u in chunk_units(text, metadata)}
    texts = []
    for start, end in spans:
        section = sections.get((start, end), "").rsplit(SECTION_SEPARATOR, 1)[-1]
        subject = f"{title}: {section}" if section else title
        texts.append(f"{subject}: {' '.join(view[start:end].split())}")
    return texts


def embed_text(node: BaseNode) -> str:
    """The chunk as embedded and BM25-indexed: its metadata header, then its view."""
    embedded = node.get_content(metadata_mode=MetadataMode.EMBED)
    content = node.get_content()
    if not content or not embedded.endswith(content):
        return embedded
    return embedded[: len(embedded) - len(content)] + chunk_view(content, node.metadata)
