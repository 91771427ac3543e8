"""Candidate sentences scored against a question, and the few chosen to answer it.

A sentence scores the IDF weight of the question's terms it holds (stems, long shared
prefixes and name spellings compared), plus part of those only the sentence before or the
document title holds, plus a little of the passage's retrieval score. After the best, a
sentence is added for the question terms it adds or for a hop into a second document.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache

from rag.answer.attribution import SPEECH_VERBS
from rag.answer.matching import Sentence, idf_weights, name_spelling, split_sentences, term_variants
from rag.answer.question import answer_kind, holds_kind
from rag.links import without_disambiguation
from rag.reading.blocks import LABELS, LEGAL
from rag.text import content_terms, names_in, stem, words
from rag.types import Passage

# Words of a question that ask rather than describe ("how many", "what happened").
_ASKING_WORDS = frozenset({"whose", "many", "much", "happen", "happened", "happens"})
# Weights and cut-offs, picked on a 2-fold split of the squad-v2 and hotpotqa dev sets.
_CONTEXT_WEIGHT = 0.75
_PRIOR_WEIGHT = 0.5
# A sentence holding the asked kind of answer may lead if it scores this close to the best.
_KIND_WINDOW = 5
_KIND_MARGIN = 0.7
# Follow-up sentences: how many candidates, and what makes one worth adding.
_CANDIDATES = 30
# The least length of a sentence an answer quotes beside another (rag.answer.hops too).
MIN_WORDS = 4
_HOP_WEIGHT = 1.0
_RESCORE_WEIGHT = 0.5
_MIN_ADDED = 0.4


@dataclass(frozen=True)
class Scored:
    """A candidate sentence with its score and the share of the question it covers."""

    sentence: Sentence
    score: float
    coverage: float
    missing: tuple[str, ...]
    gains: dict[str, float]  # the weight of each question term the sentence itself holds
    weights: dict[str, float] = field(default_factory=dict)  # every question term's weight

    @property
    def total(self) -> float:
        """The weight of all the question's terms."""
        return sum(self.weights.values()) or 1.0


def wanted_terms(query: str) -> list[str]:
    """The question's content terms that describe what it is about (no asking or speech verbs)."""
    return [t for t in dict.fromkeys(content_terms(query, _ASKING_WORDS)) if t not in SPEECH_VERBS]


@lru_cache(maxsize=1024)
def _title_terms(title: str) -> frozenset[str]:
    return frozenset(content_terms(title))


_LEGAL_WORDS = re.compile(
    r"\b(?:licen[cs]\w*|copyright\w*|warrant\w*|redistribut\w*|permission\w*|legal\w*|"
    r"free software|open.source)\b",
    re.IGNORECASE,
)


def rank(query: str, passages: list[Passage]) -> list[Scored]:
    """Every sentence of the passages an answer may quote, best first.

    Headings and FAQ question lines are not among them: their terms count for the units
    under them (as context, like the previous sentence and the document's title). Licence
    and copyright notices are among them only when the question asks about such things.
    """
    sentences = split_sentences(passages)
    vocabulary = frozenset(t for s in sentences for t in s.terms)
    names = {stem(n) for n in names_in(query)}
    wanted = wanted_terms(query)
    variants = {}
    for term in wanted:
        spelled = name_spelling(term, vocabulary) if term in names else None
        variants[term] = term_variants(spelled or term, vocabulary)
    weight = idf_weights(variants, sentences)
    total = sum(weight.values()) or 1.0
    by_position = {(s.passage.chunk_id, s.index): s for s in sentences}

    legal = bool(_LEGAL_WORDS.search(query))
    scored = []
    for s in sentences:
        if not s.answers or (s.kind == LEGAL and not legal):
            continue
        previous = by_position.get((s.passage.chunk_id, s.index - 1))
        context = (previous.terms if previous else frozenset()) | _title_terms(s.passage.title)
        context |= s.section_terms
        # A label is read with the unit right under it ("%r: The number of running edges.",
        # "Is zlib under the GNU license? No."): its words are that unit's own.
        terms = s.terms | previous.terms if previous and previous.kind in LABELS else s.terms
        own = [t for t in wanted if terms & variants[t]]
        near = [t for t in wanted if t not in own and context & variants[t]]
        covered = sum(weight[t] for t in own) + _CONTEXT_WEIGHT * sum(weight[t] for t in near)
        score = covered + (_PRIOR_WEIGHT * s.passage.score if own else 0.0)
        missing = tuple(t for t in wanted if t not in own and t not in near)
        gains = {t: weight[t] for t in own}
        scored.append(Scored(s, score, covered / total, missing, gains, weight))
    return sorted(scored, key=lambda x: x.score, reverse=True)


def best_of_kind(query: str, ranked: list[Scored]) -> Scored:
    """The best sentence that holds the kind of answer asked for (a number for "how many")."""
    kind = answer_kind(query)
    close = [s for s in ranked[:_KIND_WINDOW] if s.score >= _KIND_MARGIN * ranked[0].score]
    return next(
        (s for s in close if holds_kind(kind, s.sentence.text, query, s.sentence.passage.text)),
        ranked[0],
    )


def select(
    best: Scored, ranked: list[Scored], max_sentences: int, start: list[Scored] | None = None
) -> list[Sentence]:
    """The best sentence, then those adding most: question terms not yet covered, or a hop.

    A hop is a sentence from another document whose title the chosen sentences name (or
    that names theirs): the second half of a two-document (bridge) answer.
    """
    chosen = list(start or [best])
    top_gain = max(best.gains.values(), default=1.0)
    candidates = [s for s in ranked[:_CANDIDATES] if len(words(s.sentence.text)) >= MIN_WORDS]
    while len(chosen) < max_sentences:
        rest = [s for s in candidates if s not in chosen]
        if not rest:
            break
        values = {id(s): _added_value(s, chosen, top_gain) for s in rest}
        pick = max(rest, key=lambda s: values[id(s)])
        if values[id(pick)] < _MIN_ADDED * best.score:
            break
        chosen.append(pick)
    return [c.sentence for c in chosen]


def _added_value(candidate: Scored, chosen: list[Scored], top_gain: float) -> float:
    """What a sentence adds to those chosen: new question terms, a hop, its own score."""
    covered = {t for c in chosen for t in c.gains}
    new = sum(g for t, g in candidate.gains.items() if t not in covered)
    named = frozenset(t for c in chosen for t in c.sentence.terms)
    titles = {c.sentence.passage.title for c in chosen}
    hop = candidate.sentence.passage.title not in titles and (
        title_core(candidate.sentence.passage.title) <= named
        or any(title_core(t) <= candidate.sentence.terms for t in titles)
    )
    return new + _HOP_WEIGHT * top_gain * hop + _RESCORE_WEIGHT * candidate.score


@lru_cache(maxsize=1024)
def title_core(title: str) -> frozenset[str]:
    """A title's terms without its disambiguation ("Dave Thomas (businessman)"); never empty."""
    core = frozenset(content_terms(without_disambiguation(title)))
    return core or frozenset({"\0"})
