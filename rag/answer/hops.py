"""Two-document answers: a sentence from each of two documents that together answer.

Multi-hop questions name one thing and ask about another ("the director of the film that
…"): one document's sentence names the second document's subject (the bridge), and the
second document holds the asked fact. Comparisons ("Which is older, X or Y?") need the
sentence of each compared thing that holds the compared attribute. A pair is chosen by the
question terms the two sentences hold together, whether the second holds the kind of answer
asked for (a date, a number, a name), whether it opens its document (where a document says
what its subject is, with full name and dates), and whether one names the other's document.
"""

from __future__ import annotations

import re
from functools import lru_cache

from rag.answer.matching import split_sentences
from rag.answer.question import holds_kind
from rag.answer.ranking import MIN_WORDS, Scored, title_core
from rag.links import TitleLinker, without_disambiguation
from rag.text import content_terms, words
from rag.types import Passage

# How many of the best sentences are paired.
_POOL = 40
# Bonuses, as shares of the best sentence's heaviest question term.
_KIND_BONUS = 1.0
_LEAD_BONUS = 0.5
_LINK_BONUS = 1.0
_SIDE_LEAD_BONUS = 2.0
# A pair replaces the best sentence's own follow-ups when it is worth this much more.
_MIN_GAIN = 0.25


def best_pair(query: str, kind: str, best: Scored, ranked: list[Scored]) -> list[Scored]:
    """A bridge sentence and the sentence of the document it names (or that names its
    document) that answer better together than the best sentence alone; else []."""
    citable = [s for s in ranked if _citable(s)]
    unit = max(best.gains.values(), default=1.0)
    named = _named_sources(citable)
    of_source: dict[str, list[Scored]] = {}
    naming: dict[str, list[Scored]] = {}  # the sentences that name each document
    for s in citable:
        of_source.setdefault(s.sentence.passage.source, []).append(s)
        for source in named[id(s)]:
            naming.setdefault(source, []).append(s)
    solo = best.score + _answer_bonus(best, kind, query, unit)
    bonus: dict[int, float] = {}
    found: tuple[float, Scored, Scored] | None = None
    position = {id(s): i for i, s in enumerate(citable)}
    for a in citable[:_POOL]:
        linked = [b for source in named[id(a)] for b in of_source[source]]
        linked += naming.get(a.sentence.passage.source, [])
        # Best ranked first, so that ties go the same way whatever the set order.
        partners = sorted({id(b): b for b in linked}.values(), key=lambda b: position[id(b)])
        for b in partners:
            new = sum(w for t, w in b.gains.items() if t not in a.gains)
            if id(b) not in bonus:
                bonus[id(b)] = _answer_bonus(b, kind, query, unit)
            value = a.score + new + unit * _LINK_BONUS + bonus[id(b)]
            if found is None or value > found[0]:
                found = (value, a, b)
    if found is None or found[0] < solo + _MIN_GAIN * unit:
        return []
    return [found[1], found[2]]


def _named_sources(sentences: list[Scored]) -> dict[int, set[str]]:
    """For each sentence, the other documents whose title it names (rag.links), by the
    title or its part before a comma ("Waterford, New York")."""
    titles = {s.sentence.passage.source: s.sentence.passage.title for s in sentences}
    linker = TitleLinker(
        (source, name)
        for source, title in titles.items()
        for name in {title, without_disambiguation(title).split(",")[0]}
    )
    return {id(s): linker.linked(s.sentence.text) - {s.sentence.passage.source} for s in sentences}


# "Which is older, X or Y?", "Are both X and Y …?", "Are X and Y both …?": the two sides.
_OR = re.compile(r"\s+or\s+", re.IGNORECASE)
_AND = re.compile(r"\s+and\s+", re.IGNORECASE)
_BOTH = re.compile(r"\bboth\b", re.IGNORECASE)
_CLAUSE_END = re.compile(r"[,;:?]|\bboth\b", re.IGNORECASE)
# A document is a compared thing's when its title's terms are mostly among that side's.
_MIN_TITLE_SHARE = 0.5


def compared_sides(query: str) -> tuple[str, str] | None:
    """The two things a comparison question compares, as written, or None."""
    splitter = _OR.search(query) or (_AND.search(query) if _BOTH.search(query) else None)
    if splitter is None:
        return None
    left = _CLAUSE_END.split(query[: splitter.start()])[-1].strip()
    right = _CLAUSE_END.split(query[splitter.end() :])[0].strip()
    return (left, right) if left and right else None


def compared_pair(query: str, kind: str, ranked: list[Scored]) -> list[Scored]:
    """For a comparison, each compared thing's best sentence from its own document."""
    sides = compared_sides(query)
    if sides is None:
        return []
    pool = [s for s in ranked if _citable(s)]
    unit = (max(pool[0].gains.values(), default=0.0) if pool else 0.0) or 1.0
    chosen = []
    for side in sides:
        source = _document_of(set(content_terms(side)), pool)
        own = [s for s in pool if s.sentence.passage.source == source and s not in chosen]
        if not own:
            return []
        chosen.append(
            max(own, key=lambda s: s.score + _answer_bonus(s, kind, query, unit, _SIDE_LEAD_BONUS))
        )
    return chosen


def _document_of(side: set[str], pool: list[Scored]) -> str | None:
    """The source whose title is most made of the side's terms (the better ranked on ties)."""
    best: tuple[float, str] | None = None
    for s in pool:
        core = title_core(s.sentence.passage.title)
        share = len(core & side) / len(core)
        if share >= _MIN_TITLE_SHARE and (best is None or share > best[0]):
            best = (share, s.sentence.passage.source)
    return best[1] if best else None


def _answer_bonus(
    s: Scored, kind: str, query: str, unit: float, lead: float | None = None
) -> float:
    """What makes a sentence likely to hold the answer beyond the question's terms."""
    kinded = (
        _KIND_BONUS * holds_kind(kind, s.sentence.text, query, s.sentence.passage.text)
        if kind
        else 0.0
    )
    return unit * (kinded + (_LEAD_BONUS if lead is None else lead) * _is_lead(s))


def _citable(s: Scored) -> bool:
    """A sentence of some words that is not its document's title line."""
    return _citable_text(s.sentence.text, s.sentence.passage.title)


@lru_cache(maxsize=16384)
def _citable_text(text: str, title: str) -> bool:
    text = text.strip()
    return len(words(text)) >= MIN_WORDS and text != title.strip()


def lead_of(s: Scored, ranked: list[Scored]) -> Scored | None:
    """The opening sentence of the sentence's document, if retrieved: where a document says
    who or what its subject is (a full name, dates, a place's country)."""
    source = s.sentence.passage.source
    return next((r for r in ranked if r.sentence.passage.source == source and _is_lead(r)), None)


def _is_lead(s: Scored) -> bool:
    """Whether the sentence opens its document (its first of several words, past the title)."""
    passage = s.sentence.passage
    if passage.start != 0:
        return False
    return _lead_index(passage) == s.sentence.index


@lru_cache(maxsize=4096)
def _lead_index(passage: Passage) -> int:
    sentences = split_sentences([passage])  # split as the ranking split it (cached by text)
    return next((x.index for x in sentences if _citable_text(x.text, passage.title)), -1)
