"""Answer text with [n] markers, and the citations behind them (verbatim source spans)."""

from __future__ import annotations

from rag.answer.matching import Sentence
from rag.reading.blocks import CODE, text_format
from rag.reading.units import SECTION_SEPARATOR
from rag.types import Citation, Passage


def spans(chosen: list[tuple[Passage, int, int]]) -> list[Sentence]:
    """(passage, start, end) spans, such as a quotation with its attribution, as citable units."""
    return [Sentence(p, -1, a, b, frozenset()) for p, a, b in chosen]


def cite(
    chosen: list[Sentence], lead_ins: dict[Sentence, str] | None = None
) -> tuple[str, list[Citation]]:
    """Answer text with one [n] per distinct passage, numbered in order of first use.

    A passage's quote runs from the first to the last of its sentences used, so it stays
    one verbatim span of the source. `lead_ins`: a heading shown before a sentence (its
    citation's `section` holds it too), once for a passage's sentences in a row under it.
    """
    lead_ins = lead_ins or {}
    numbers: dict[str, int] = {}
    used: dict[str, list[Sentence]] = {}
    parts: list[str] = []
    previous_lead, previous_key = "", ""
    for sentence in chosen:
        key = sentence.passage.chunk_id
        numbers.setdefault(key, len(numbers) + 1)
        used.setdefault(key, []).append(sentence)
        lead_in = lead_ins.get(sentence, "")
        shown_before = lead_in == previous_lead and key == previous_key
        lead = f"{lead_in}{SECTION_SEPARATOR}" if lead_in and not shown_before else ""
        previous_lead = lead_in or (previous_lead if key == previous_key else "")
        previous_key = key
        parts.append(f"{lead}{shown(sentence)} [{numbers[key]}]")
    citations = [citation(numbers[key], group) for key, group in used.items()]
    return " ".join(parts), citations


def shown(sentence: Sentence) -> str:
    """A unit as the answer text shows it: markup left out, code as a fenced block."""
    text = sentence.shown or sentence.text
    if sentence.kind == CODE:
        return f"\n```\n{text}\n```\n" if "\n" in text else f"`{text}`"
    return text


def citation(n: int, used: list[Sentence]) -> Citation:
    """Citation [n] of one passage's sentences: its quote runs from the first to the last used."""
    passage = used[0].passage
    start = min(s.start for s in used)
    end = max(s.end for s in used)
    return Citation(
        n=n,
        doc_id=passage.doc_id,
        source=passage.source,
        title=passage.title,
        quote=passage.text[start:end],
        start=passage.start + start,
        end=passage.start + end,
        passage=passage.text,
        score=passage.score,
        section=used[0].section,
        offsets=text_format(passage.source),
    )


def in_document_order(lead: list[Sentence], rest: list[Sentence]) -> list[Sentence]:
    """The leading sentences first; the others in the order they stand in their source,
    without repeats: of a place, or of the words shown (a document may say a thing twice)."""
    taken = {place(s) for s in lead}
    others = sorted(
        {place(s): s for s in rest if place(s) not in taken}.values(),
        key=place,
    )
    said = {_words_shown(s) for s in lead}
    unsaid = []
    for sentence in others:
        words = _words_shown(sentence)
        if words not in said:
            said.add(words)
            unsaid.append(sentence)
    return [*lead, *unsaid]


def _words_shown(sentence: Sentence) -> str:
    return " ".join(shown(sentence).split()).lower()


def place(sentence: Sentence) -> tuple[str, int]:
    """Where a sentence stands in its source: overlapping chunks hold the same sentence twice."""
    return sentence.passage.source, sentence.passage.start + sentence.start
