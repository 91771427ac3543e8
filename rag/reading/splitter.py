"""llama-index's SentenceSplitter, cutting a document between its units, not inside them.

The stock splitter finds sentences with NLTK over the raw text, where a hard-wrapped line,
a heading or a code block is no sentence boundary it knows. Here the document is read
first (rag.reading.units) and the splitter merges whole units into chunks (a unit longer
than a chunk is still cut by the stock rules); every chunk then stores its units.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from llama_index.core.constants import DEFAULT_CHUNK_SIZE
from llama_index.core.node_parser import SentenceSplitter
from llama_index.core.node_parser.text.sentence import SENTENCE_CHUNK_OVERLAP
from llama_index.core.schema import BaseNode, Document, TransformComponent
from pydantic import PrivateAttr

from rag.embedding import cl100k_tokenizer
from rag.reading.blocks import LEGAL, TEXT, format_of
from rag.reading.units import (
    SECTION_KEY,
    SECTION_SEPARATOR,
    SECTIONS_KEY,
    UNITS_KEY,
    Unit,
    chunk_reading,
    read_units,
)
from rag.text import import_nltk

# Stored with every chunk, but neither embedded nor shown to an LLM.
READING_KEYS = [UNITS_KEY, SECTIONS_KEY]


class ReadingSplitter(SentenceSplitter):
    """Chunks of whole units, each chunk annotated with its units and section."""

    _pieces: dict[str, list[str]] = PrivateAttr(default_factory=dict)

    def get_nodes_from_documents(
        self, documents: Sequence[Document], show_progress: bool = False, **kwargs: Any
    ) -> list[BaseNode]:
        units = {doc.doc_id: read_units(doc.text, _format(doc)) for doc in documents}
        self._pieces = {
            doc.text: _pieces(doc.text, units[doc.doc_id])
            for doc in documents
            if not _unstructured(doc.text, units[doc.doc_id])
        }
        try:
            nodes = super().get_nodes_from_documents(documents, show_progress, **kwargs)
        finally:
            self._pieces = {}
        for node in nodes:
            _annotate(node, units.get(node.ref_doc_id or "", []))
        return nodes

    def _get_splits_by_fns(self, text: str) -> tuple[list[str], bool]:
        pieces = self._pieces.get(text)
        if pieces is not None and len(pieces) > 1:
            return pieces, True
        return super()._get_splits_by_fns(text)


def _format(doc: Document) -> str:
    return format_of(doc.metadata.get("file_name", ""))


def _unstructured(text: str, units: list[Unit]) -> bool:
    """Prose with one paragraph per line and nothing else: the stock splitter's sentences are
    these units, and its cuts (the chunks such a text always had) are kept."""
    return all(u.kind in (TEXT, LEGAL) and "\n" not in text[u.start : u.end] for u in units)


def _pieces(text: str, units: list[Unit]) -> list[str]:
    """The text cut where each unit begins (at its line's start, with its list marker or
    heading marks, when nothing else stands before it on that line)."""
    cuts = [0]
    previous_end = 0
    for unit in units:
        line_start = text.rfind("\n", previous_end, unit.start) + 1
        cut = line_start if line_start > previous_end or previous_end == 0 else unit.start
        if cut > cuts[-1]:
            cuts.append(cut)
        previous_end = unit.end
    cuts.append(len(text))
    return [text[a:b] for a, b in zip(cuts, cuts[1:], strict=False) if b > a]


def _annotate(node: BaseNode, units: list[Unit]) -> None:
    start, end = getattr(node, "start_char_idx", None), getattr(node, "end_char_idx", None)
    if start is None or end is None:
        return
    reading = chunk_reading(units, start, end)
    # The innermost label is embedded with the chunk (its whole path is in `sections`).
    section = reading.pop(SECTION_KEY).split(SECTION_SEPARATOR)[-1]
    node.metadata.update(reading)
    if section:
        node.metadata[SECTION_KEY] = section
    for keys in (node.excluded_embed_metadata_keys, node.excluded_llm_metadata_keys):
        keys.extend(k for k in READING_KEYS if k not in keys)


def document_transformations() -> list[TransformComponent]:
    """What a VectorStoreIndex would split a whole Document with: llama-index's default splitter.

    Chunks reach the index split already (`Corpus.upsert`), so this never runs on a
    query. Passed explicitly because the index's default, `Settings.transformations`, builds
    its splitter with llama-index's tokenizer, which loads tiktoken's cl100k_base: ~0.3 s of
    every cold `rag ask`. Same splitter, with the encoding loaded on first use instead.
    """
    return [make_splitter(DEFAULT_CHUNK_SIZE, SENTENCE_CHUNK_OVERLAP, cl100k_tokenizer())]


def make_splitter(chunk_size: int, chunk_overlap: int, tokenizer) -> SentenceSplitter:
    """llama-index's sentence-aware splitter, cutting between the units a document is read
    into (rag.reading), counting tiktoken cl100k_base tokens."""
    # The splitter's first sentence split imports all of nltk (~3 s with scipy.stats): ours first.
    import_nltk()
    return ReadingSplitter(chunk_size=chunk_size, chunk_overlap=chunk_overlap, tokenizer=tokenizer)
