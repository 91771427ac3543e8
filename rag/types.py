"""The contracts shared by the engine and its front doors (UI, CLI, evals)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from llama_index.core.schema import BaseNode, NodeWithScore

from rag.reading.chunks import chunk_units
from rag.reading.units import SECTION_KEY, Unit


@dataclass(frozen=True)
class Passage:
    """A retrieved chunk: its text and where it stands in its source file (-1: unknown)."""

    rank: int
    chunk_id: str
    doc_id: str
    source: str
    title: str
    text: str
    start: int
    end: int
    score: float
    page: int | None = None  # PDF page where the passage starts
    section: str = ""  # the heading (or FAQ question) the passage starts under
    locator: str | None = None  # where it starts: "page 3", "slide 7", "Sheet1!A12", a chapter
    # Its units (rag.reading) as stored at ingest: what answers quote; and each unit's cosine
    # to the question (NaN: no vector; empty: not computed). Not in the JSON.
    units: tuple[Unit, ...] = field(default=(), repr=False, compare=False)
    unit_cosines: tuple[float, ...] = field(default=(), repr=False, compare=False)

    def to_dict(self) -> dict[str, Any]:
        """The passage's JSON (`retrieved` of `rag ask --json`, the HTTP API's passages):
        its units and their cosines stay inside."""
        data = asdict(self)
        del data["units"], data["unit_cosines"]
        return data

    @classmethod
    def from_node(cls, hit: NodeWithScore, rank: int) -> Passage:
        """The one place a llama-index node becomes a Passage."""
        node: BaseNode = hit.node
        meta = node.metadata
        text = node.get_content()
        start = getattr(node, "start_char_idx", None)
        end = getattr(node, "end_char_idx", None)
        return cls(
            rank=rank,
            chunk_id=node.node_id,
            doc_id=node.ref_doc_id or "",
            source=meta.get("file_path", ""),
            title=meta.get("title", ""),
            text=text,
            start=-1 if start is None else start,
            end=-1 if end is None else end,
            score=float(hit.score or 0.0),
            section=meta.get(SECTION_KEY, ""),
            units=chunk_units(text, meta),
        )


@dataclass(frozen=True)
class Citation:
    """The [n] of an answer: the exact sentence(s) used and where they stand in the source.

    Invariant: `read_source_text(source)[start:end] == quote`.
    """

    n: int
    doc_id: str
    source: str
    title: str
    quote: str
    start: int
    end: int
    passage: str
    score: float
    page: int | None = None  # PDF page where the quote starts
    section: str = ""  # the headings (or FAQ question) above the quote, outermost first
    # What `start`/`end` index: "file" (the file's own text, newlines normalised) or
    # "extracted" (the text extracted from HTML, PDF, DOCX, spreadsheets, slides, e-books,
    # e-mail: `rag docs show SOURCE`).
    offsets: str = "file"
    locator: str | None = None  # where the quote stands: "page 3", "slide 7", "Sheet1!A12"

    @property
    def place(self) -> str:
        """Where a person finds the quote: its locator, else its PDF page; "" for text."""
        return self.locator or (f"page {self.page}" if self.page else "")


@dataclass(frozen=True)
class AnswerSpan:
    """The phrase of the leading quote that answers: `source_text[start:end] == text`."""

    text: str
    source: str
    start: int
    end: int


@dataclass(frozen=True)
class Dropped:
    """A sentence the LLM wrote that the citation check removed, and why."""

    sentence: str
    reason: str
    support: float | None = None  # the best support score found, when one was computed


@dataclass(frozen=True)
class Answer:
    """What every front door shows: text with [n] markers and the citations behind them."""

    question: str
    query: str
    text: str
    citations: list[Citation]
    retrieved: list[Passage]
    refused: bool = False
    refusal_reason: str = ""
    timings_ms: dict[str, float] = field(default_factory=dict)
    backend: str = "extractive"
    # LLM answers (RAG_SYNTH=llm); additive to the keys above.
    notice: str = ""  # shown to the user: why the LLM answer was replaced or cut short
    dropped: list[Dropped] = field(default_factory=list)
    generated_sentences: int = 0  # sentences the LLM wrote, kept and dropped
    fallback: bool = False  # the LLM was asked but the extractive answer is shown
    # The reader's (rag.reader): the chance that the leading sentence answers, calibrated;
    # whether the answer is only possibly related (shown, not confirmed); the answer phrase.
    confidence: float | None = None
    possibly_related: bool = False
    answer_span: AnswerSpan | None = None

    @property
    def query_rewritten(self) -> bool:
        """Whether the query searched differs from the question beyond letter case (a
        follow-up made standalone): front doors then show it."""
        return self.query.strip().casefold() != self.question.strip().casefold()

    def to_dict(self) -> dict[str, Any]:
        """The JSON of `rag ask --json`, the UI's API and eval records."""
        data = asdict(self)
        data["retrieved"] = [passage.to_dict() for passage in self.retrieved]
        return data
