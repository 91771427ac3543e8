"""What a document's structure adds to an answer: the block a sentence introduces, the
heading that dates or names what a sentence says, and a document's opening for
"what is it about?" questions."""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path

from rag.answer.citations import place
from rag.answer.matching import Sentence, split_sentences
from rag.answer.question import holds_kind
from rag.reading.blocks import (
    CODE,
    HEADING,
    ITEM,
    LEGAL,
    NOT_ANSWERS,
    PLAIN,
    QUESTION,
    ROW,
    TERM,
    TEXT,
    format_of,
)
from rag.reading.lines import indent_width
from rag.reading.units import SECTION_SEPARATOR
from rag.text import DATE, content_terms, words
from rag.types import Passage

# "What is X about?", "Give me an overview of X", "X in a nutshell", "Summarize X".
_OVERVIEW = re.compile(
    r"\babout\s*[?.!]*\s*$|^\s*(?:tell me|talk) about\b|\boverview\b|\bsummar(?:y|i[sz]e)\b|"
    r"\bnutshell\b|\bin brief\b|\bgist\b|\bintroduc(?:e|tion) to\b",
    re.IGNORECASE,
)
# What a sentence that ends in ':' brings along: the list, table or example it introduces.
_INTRODUCED = (CODE, ITEM, ROW)
_MAX_INTRODUCED = 8
_MAX_INTRODUCED_CHARS = 1200
_MIN_WORDS = 4
_OPENING_SENTENCES = 3


# "When was the article published?", "Who wrote this document?", "What is its title?"
_DOCUMENT = (
    r"(?:(?:the|this) (?:article|document|report|page|paper|text|post|file|faq|readme|manual)"
    r"|it|this)"
)
_ASKS_DATE = re.compile(
    rf"\bwhen (?:was|is|were) {_DOCUMENT}\s*(?:\w+\s+)?(?:published|written|dated|released|"
    rf"issued|posted|updated)\b|\bwhat (?:is|was) the date of {_DOCUMENT}",
    re.IGNORECASE,
)
_ASKS_AUTHOR = re.compile(
    rf"\bwho (?:wrote|authored|published|maintains) {_DOCUMENT}|\bwho is the author\b|"
    r"\bauthor of (?:the|this) ",
    re.IGNORECASE,
)
_ASKS_TITLE = re.compile(
    rf"\bwhat(?:'s| is) the (?:title|headline) of {_DOCUMENT}|\bwhat is it called\b", re.I
)
# "Who sent the e-mail about X?", "When was the message about X sent?": an e-mail's own
# From and Date lines answer them (rag.reading.mail writes them at its start).
_MESSAGE = r"(?:(?:the|this|that|an?|his|her|their) )?(?:e-?mail|message|mail|letter)"
_ASKS_SENDER = re.compile(
    rf"\bwho (?:sent|wrote|e-?mailed|mailed) (?:me |us |you )?{_MESSAGE}\b|"
    rf"\bwho (?:was|is) {_MESSAGE} from\b|\bsender of {_MESSAGE}\b",
    re.IGNORECASE,
)
_ASKS_SENT = re.compile(
    rf"\bwhen (?:was|were|did) (?:\w+ )?(?:send|sent) {_MESSAGE}\b|"
    rf"\bwhen (?:was|were|did) {_MESSAGE}\b(?: [\w'-]+){{0,8}}? "
    r"(?:sent|send|written|arrive|arrived|received|dated)\b",
    re.IGNORECASE,
)
_BY_LINE = re.compile(r"^(?:by|written by|author[s]?:?)\s+\S|\bcopyright\b|©", re.IGNORECASE)
# The units near a document's start that front matter (date, author lines) stands in.
_FRONT_MATTER = 12


def asks_overview(query: str) -> bool:
    """Whether the question asks what a document is about rather than a fact in it."""
    return bool(_OVERVIEW.search(query))


def asks_about_document(query: str) -> bool:
    """Whether the question asks what a document is about, or for its date, author or title:
    what a document says where it begins."""
    return asks_overview(query) or bool(
        _ASKS_DATE.search(query) or _ASKS_AUTHOR.search(query) or _ASKS_TITLE.search(query)
    )


def asks_mail_field(query: str) -> bool:
    """Whether the question asks who sent a message or when: its From or Date line."""
    return bool(_ASKS_SENDER.search(query) or _ASKS_SENT.search(query))


def front_matter(query: str, passages: list[Passage]) -> list[Sentence]:
    """The unit of the first passage's document that answers a question about the document
    itself: the first holding a date, an author line, or its title, or an e-mail's From or
    Date line; [] when none does."""
    if not passages:
        return []
    doc = passages[0].doc_id
    opening = sorted((p for p in passages if p.doc_id == doc), key=lambda p: p.start)[:1]
    units = split_sentences(opening)[:_FRONT_MATTER]
    if _ASKS_SENDER.search(query):
        return [s for s in units if s.shown.startswith("From: ")][:1]
    if _ASKS_SENT.search(query):
        return [s for s in units if s.shown.startswith("Date: ")][:1]
    if _ASKS_DATE.search(query):
        return [s for s in units if DATE.search(s.shown)][:1]
    if _ASKS_AUTHOR.search(query):
        return [s for s in units if _BY_LINE.search(s.shown)][:1]
    if _ASKS_TITLE.search(query):
        return units[:1]
    return []


# A sentence that opens with one of these leans on the sentence before it: a pronoun or
# demonstrative that names what that sentence said, or a connective that goes on from it.
_LEANS_BACK = re.compile(
    r"[\W_]*(?:this|that|these|those|it|its|they|their|such|instead|otherwise|however|"
    r"therefore|thus|hence|so|consequently|because of this)\b",
    re.IGNORECASE,
)


def with_cohesive(
    chosen: list[Sentence], max_sentences: int
) -> tuple[list[Sentence], list[Sentence]]:
    """The leading sentence with the sentence of its paragraph that it leans on, or that
    leans on it: its antecedent ("However after 1945 …" needs the sentence before), the
    opening of the FAQ answer it stands in ("No. Please read the license in zlib.h."), or a
    "This is not advisable as …" that goes on from it. Returns that lead, in document order,
    and the other chosen sentences, the least of them dropped to make room."""
    lead = chosen[0]
    units = split_sentences([lead.passage])
    position = next(i for i, s in enumerate(units) if s.index == lead.index)
    before = units[position - 1] if position > 0 else None
    after = units[position + 1] if position + 1 < len(units) else None
    opens_answer = position > 1 and units[position - 2].kind == QUESTION
    if before is not None and (_leans_back(lead) or opens_answer) and _same_paragraph(before, lead):
        pair = [before, lead]
    elif after is not None and _leans_back(after) and _same_paragraph(lead, after):
        pair = [lead, after]
    else:
        return [lead], chosen[1:]
    taken = {place(s) for s in pair}
    rest = [s for s in chosen[1:] if place(s) not in taken]
    return pair, rest[: max(max_sentences - len(pair), 0)]


def _leans_back(sentence: Sentence) -> bool:
    """Whether a sentence of prose opens with a word that refers to the one before it."""
    opening = sentence.shown or sentence.text
    return sentence.kind in (TEXT, ITEM) and bool(_LEANS_BACK.match(opening))


def with_introduced(chosen: list[Sentence]) -> list[Sentence]:
    """The chosen sentences, each one that ends in ':' followed by what it introduces (the
    items, rows or example after it, or the one paragraph after it)."""
    out: list[Sentence] = []
    for sentence in chosen:
        if sentence in out:
            continue  # introduced by a sentence before it
        out.append(sentence)
        after = [s for s in split_sentences([sentence.passage]) if s.index > sentence.index]
        if after and _same_paragraph(sentence, after[0]) and _introduces(after[0]):
            sentence = after.pop(0)  # "Create archive of the given format. Valid formats are:"
            if sentence not in out:
                out.append(sentence)
        if not _introduces(sentence):
            continue
        depth = _list_depth(sentence)
        size = 0
        for n, s in enumerate(after):
            nested = depth is not None and _in_list(s, depth)
            if s.kind in NOT_ANSWERS and nested:
                # A term of an indented list ("pax, posix") names the entry its description
                # (next) gives: inside the list it is content, shown before it.
                if s.kind == TERM and s not in out:
                    out.append(s)
                continue
            if s.kind not in _INTRODUCED and not (n == 0 and s.kind == TEXT) and not nested:
                break
            if n >= _MAX_INTRODUCED or size > _MAX_INTRODUCED_CHARS:
                break
            if s not in out and s not in chosen:
                out.append(s)
            size += len(s.shown)
            if s.kind == TEXT and not nested:
                break
    return out


def _list_depth(introducer: Sentence) -> int | None:
    """In plain text (a man page, a FAQ, a NEWS file), the indentation of the introducing
    line, which its list's entries share or exceed ("Valid formats are:", then
    "gnu    GNU tar 1.13.x format", …); None elsewhere, where a list's items are marked as
    such (Markdown, HTML)."""
    if format_of(introducer.passage.source) != PLAIN:
        return None
    return _indent(introducer)


def _in_list(unit: Sentence, depth: int) -> bool:
    """Whether a unit after an introducer at `depth` belongs to its list: anything deeper (a
    term's description), and at its depth a term or an entry of one whole line ("oldgnu GNU
    format as per tar <= 1.12."). A paragraph at its depth ends the list, and so does
    another introducer ("The easy way is to specify the width:")."""
    indent = _indent(unit)
    if indent != depth:
        return indent > depth
    if _introduces(unit):
        return False
    text = unit.passage.text
    line_end = text.find("\n", unit.start)
    rest = text[unit.end : len(text) if line_end < 0 else line_end]
    return unit.kind in NOT_ANSWERS or (
        "\n" not in text[unit.start : unit.end] and not rest.strip()
    )


def _indent(sentence: Sentence) -> int:
    """The indentation of the line the unit starts on, as the plain-text reader counts it."""
    text = sentence.passage.text
    return indent_width(text[text.rfind("\n", 0, sentence.start) + 1 : sentence.start + 1])


def introduces_list(sentence: Sentence) -> bool:
    """Whether the sentence (or the next of its paragraph, "Available arguments are:")
    brings a list of at least two entries: what "how many" counts without a number."""
    brought = with_introduced([sentence])[1:]
    return sum(not _introduces(s) for s in brought) >= 2


def _introduces(sentence: Sentence) -> bool:
    return sentence.kind in (TEXT, ITEM) and (sentence.shown or sentence.text).endswith(":")


def _same_paragraph(a: Sentence, b: Sentence) -> bool:
    between = a.passage.text[a.end : b.start]
    return a.kind == b.kind and between.count("\n") <= 1 and not between.strip()


def lead_in(sentence: Sentence, kind: str, query: str) -> str:
    """The heading to show before a sentence when it, not the sentence, holds the kind of
    answer asked for (the release a NEWS item is listed under: "version 1.31 - …, 2019-01-02");
    "" otherwise."""
    if not kind or not sentence.section:
        return ""
    label = sentence.section.split(SECTION_SEPARATOR)[-1]
    context = sentence.passage.text
    if holds_kind(kind, sentence.text, query, context) or not holds_kind(kind, label, query):
        return ""
    return label


def overview_document(query: str, passages: list[Passage]) -> str:
    """The document an overview question is about: of the retrieved, the one whose name
    (title or file name) holds most of the question's terms, the best retrieved on ties."""
    wanted = set(content_terms(query))
    best, best_score = "", -1
    for passage in passages:
        name_terms = set(content_terms(f"{passage.title} {Path(passage.source).stem}"))
        score = len(wanted & name_terms)
        if score > best_score:
            best, best_score = passage.doc_id, score
    return best


def with_opening(opening: list[Passage], passages: list[Passage], k: int) -> list[Passage]:
    """The retrieved passages with a document's opening first (scored as the best was)."""
    if not opening:
        return passages
    top = passages[0].score
    ids = {p.chunk_id for p in opening}
    ranked = [replace(p, score=top) for p in opening] + [
        p for p in passages if p.chunk_id not in ids
    ]
    return [replace(p, rank=n) for n, p in enumerate(ranked[:k], start=1)]


def overview(passages: list[Passage]) -> list[Sentence]:
    """The opening of the first passage's document: its title when it says more than a
    name, then its first few sentences (licence notices, headings and contents passed over)."""
    if not passages:
        return []
    doc = passages[0].doc_id
    opening = sorted((p for p in passages if p.doc_id == doc), key=lambda p: p.start)
    units = split_sentences(opening[:2])
    chosen: list[Sentence] = []
    seen: set[tuple[int, int]] = set()
    for s in units:
        at = (s.passage.start + s.start, s.passage.start + s.end)
        if at in seen:
            continue  # chunks overlap
        seen.add(at)
        if (
            s.kind == HEADING
            and not chosen
            and len(words(s.shown)) >= _MIN_WORDS
            or s.kind in (TEXT, ITEM)
            and s.kind != LEGAL
            and len(words(s.shown)) >= _MIN_WORDS
        ):
            chosen.append(s)
        if sum(1 for c in chosen if c.kind != HEADING) >= _OPENING_SENTENCES:
            break
    return chosen
