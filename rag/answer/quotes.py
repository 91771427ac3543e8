"""The quotations of the person a "What did X say?" question asks about."""

from __future__ import annotations

import re
from functools import lru_cache

from rag.answer.attribution import Attribution, attributions
from rag.answer.matching import same_word
from rag.answer.names import NameMention, best_matching, matches_name, name_mentions, surname
from rag.answer.ranking import wanted_terms
from rag.text import content_terms, names_in, sentence_spans, stem
from rag.types import Passage

_WHAT_DID_SAY = re.compile(
    r"\bwhat (?:did|does|do|has|have|had) .{1,60}? (?:say|said|tell|told|state|claim|announce|"
    r"comment|declare|add|assert|write)\b",
    re.IGNORECASE,
)


def quotes_by(query: str, passages: list[Passage]) -> list[tuple[Passage, Attribution, int]]:
    """The quotations of the person the question asks about, most relevant first.

    The person is the name mention (with its title and appositions) that matches most of
    the question's terms, so "the Ukrainian military chief" is Syrskyj, not Selenskyj.
    """
    citable = [p for p in passages if p.start >= 0]
    wanted = wanted_terms(query)
    mentions = [m for p in citable for m in _mentions(p.text)]
    # "What did X say …?" names its person however much else it asks ("… during his visit
    # to Kursk?"); otherwise the mention that best matches the question is the person.
    named = []
    if _WHAT_DID_SAY.search(query):
        names = {stem(n) for n in names_in(query)}
        named = [m for m in mentions if any(matches_name(n, m.terms) for n in names)]
    persons = best_matching(named, wanted, at_least_half=False) or best_matching(mentions, wanted)
    surnames = {surname(m) for m in persons}
    found = []
    for passage in citable:
        for at in _attributions(passage.text):
            if at.speaker is None or surname(at.speaker) not in surnames:
                continue
            about = [t for t in wanted if not matches_name(t, at.speaker.terms)]
            unit = frozenset(content_terms(passage.text[at.start : at.end]))
            relevance = sum(any(same_word(w, t) for t in unit) for w in about)
            found.append((passage, at, relevance))
    if any(t for t in wanted if not any(matches_name(t, m.terms) for m in persons)):
        # "What did Putin say about the sanctions?": only his quotes on them will do.
        found = [f for f in found if f[2] > 0]
    return sorted(found, key=lambda f: -f[2])


@lru_cache(maxsize=4096)
def _mentions(text: str) -> list[NameMention]:
    return [m for a, b in sentence_spans(text) for m in name_mentions(text[a:b])]


@lru_cache(maxsize=4096)
def _attributions(text: str) -> list[Attribution]:
    return attributions(text)
