"""The default synthesizer: the retrieved passages' own best sentences, each cited; no LLM.

Sentences are scored by the question's content terms they contain (IDF-weighted over the
candidate sentences, stems and long shared prefixes compared, names also in transliteration
variants); terms found only in the sentence before count for less. It refuses when the best
sentence and its context cover too little of the question's weight.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from rag.answer.attribution import SPEECH_VERBS, Attribution, attributions
from rag.answer.matching import (
    Sentence,
    idf_weights,
    name_spelling,
    same_word,
    split_sentences,
    term_variants,
)
from rag.answer.names import NameMention, best_matching, matches_name, name_mentions, surname
from rag.answer.question import answer_kind, counted_noun, holds_kind, is_negated
from rag.prompts import load_prompt
from rag.text import content_terms, names_in, sentence_spans, stem, words
from rag.types import Citation, Passage

# Words of a question that ask rather than describe ("how many", "what happened").
_ASKING_WORDS = frozenset({"many", "much", "happen", "happened", "happens"})
_CONTEXT_WEIGHT = 0.75
_NAME_WEIGHT = 1.0
_PRIOR_WEIGHT = 0.5
# A sentence holding the asked kind of answer may lead if it scores this close to the best.
_KIND_WINDOW = 5
_KIND_MARGIN = 0.7
# Follow-up sentences: how many candidates, their least length, and what makes one worth adding.
_CANDIDATES = 30
_MIN_WORDS = 4
_HOP_WEIGHT = 1.0
_RESCORE_WEIGHT = 0.5
_MIN_ADDED = 0.4


@dataclass(frozen=True)
class Synthesis:
    """The synthesizer's part of an Answer."""

    text: str
    citations: list[Citation]
    refused: bool
    refusal_reason: str = ""


@dataclass(frozen=True)
class Scored:
    """A candidate sentence with its score and the share of the question it covers."""

    sentence: Sentence
    score: float
    coverage: float
    missing: tuple[str, ...]
    gains: dict[str, float]  # the weight of each question term the sentence itself holds


def _refusal(reason: str) -> Synthesis:
    return Synthesis(
        text=load_prompt("refusal").format(reason=reason),
        citations=[],
        refused=True,
        refusal_reason=reason,
    )


def _wanted_terms(query: str) -> list[str]:
    return [t for t in dict.fromkeys(content_terms(query, _ASKING_WORDS)) if t not in SPEECH_VERBS]


@lru_cache(maxsize=1024)
def _title_terms(title: str) -> frozenset[str]:
    return frozenset(content_terms(title))


def rank(query: str, passages: list[Passage]) -> list[Scored]:
    """Every citable sentence of the passages, best first."""
    sentences = split_sentences(passages)
    vocabulary = frozenset(t for s in sentences for t in s.terms)
    names = {stem(n) for n in names_in(query)}
    wanted = _wanted_terms(query)
    variants = {}
    for term in wanted:
        spelled = name_spelling(term, vocabulary) if term in names else None
        variants[term] = term_variants(spelled or term, vocabulary)
    idf = idf_weights(variants, sentences)
    weight = {t: idf[t] * (_NAME_WEIGHT if t in names else 1.0) for t in wanted}
    total = sum(weight.values()) or 1.0
    by_position = {(s.passage.chunk_id, s.index): s for s in sentences}

    scored = []
    for s in sentences:
        previous = by_position.get((s.passage.chunk_id, s.index - 1))
        context = (previous.terms if previous else frozenset()) | _title_terms(s.passage.title)
        own = [t for t in wanted if s.terms & variants[t]]
        near = [t for t in wanted if t not in own and context & variants[t]]
        covered = sum(weight[t] for t in own) + _CONTEXT_WEIGHT * sum(weight[t] for t in near)
        score = covered + (_PRIOR_WEIGHT * s.passage.score if own else 0.0)
        missing = tuple(t for t in wanted if t not in own and t not in near)
        gains = {t: weight[t] for t in own}
        scored.append(Scored(s, score, covered / total, missing, gains))
    return sorted(scored, key=lambda x: x.score, reverse=True)


def _missing_names(query: str, passages: list[Passage]) -> list[str]:
    """The question's names no passage holds, when they say the question is about someone else.

    A full name absent ("Emmanuel Macron"), or every name absent; a lone capitalised word
    may be an adjective the text paraphrases ("Northern European").
    """
    names = names_in(query)
    if not names:
        return []
    vocabulary = frozenset(t for s in split_sentences(passages) for t in s.terms)
    absent = [n for n in names if name_spelling(stem(n), vocabulary) is None]
    if len(absent) == len(names):
        return absent
    pairs = re.findall(r"\b[A-Z]\w+(?:\s+[A-Z]\w+)+", query)
    whole = [p for p in pairs if all(w in absent for w in p.split()) and p.split()[0] in names]
    return [w for p in whole for w in p.split()]


def _quotes_by(query: str, passages: list[Passage]) -> list[tuple[Passage, Attribution, int]]:
    """The quotations of the person the question asks about, most relevant first.

    The person is the name mention (with its title and appositions) that matches most of
    the question's terms, so "the Ukrainian military chief" is Syrskyj, not Selenskyj.
    """
    citable = [p for p in passages if p.start >= 0]
    wanted = _wanted_terms(query)
    mentions = [m for p in citable for m in _mentions(p.text)]
    persons = best_matching(mentions, wanted)
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


def _spans(chosen: list[tuple[Passage, int, int]]) -> list[Sentence]:
    return [Sentence(p, -1, a, b, frozenset()) for p, a, b in chosen]


def _cite(chosen: list[Sentence]) -> tuple[str, list[Citation]]:
    """Answer text with one [n] per distinct passage, numbered in order of first use.

    A passage's quote runs from the first to the last of its sentences used, so it stays
    one verbatim span of the source.
    """
    numbers: dict[str, int] = {}
    used: dict[str, list[Sentence]] = {}
    parts: list[str] = []
    for sentence in chosen:
        key = sentence.passage.chunk_id
        numbers.setdefault(key, len(numbers) + 1)
        used.setdefault(key, []).append(sentence)
        parts.append(f"{sentence.text} [{numbers[key]}]")
    citations = []
    for key, group in used.items():
        passage = group[0].passage
        start = min(s.start for s in group)
        end = max(s.end for s in group)
        citations.append(
            Citation(
                n=numbers[key],
                doc_id=passage.doc_id,
                source=passage.source,
                title=passage.title,
                quote=passage.text[start:end],
                start=passage.start + start,
                end=passage.start + end,
                passage=passage.text,
                score=passage.score,
            )
        )
    return " ".join(parts), citations


def _in_document_order(first: Sentence, rest: list[Sentence]) -> list[Sentence]:
    # The best leads; the others follow in the order they stand in their source.
    others = sorted(
        {(s.passage.chunk_id, s.start): s for s in rest if s != first}.values(),
        key=lambda s: (s.passage.source, s.passage.start + s.start),
    )
    return [first, *others]


def synthesize(
    query: str,
    passages: list[Passage],
    max_sentences: int,
    min_score: float,
    min_coverage: float,
) -> Synthesis:
    """Answer `query` from the passages' own sentences, or refuse with the reason."""
    if not passages:
        return _refusal("Nothing is indexed that resembles the question.")
    if passages[0].score < min_score:
        return _refusal("No passage is close enough to the question.")
    missing = _missing_names(query, passages)
    if missing:
        names = ", ".join(f"“{n}”" for n in missing)
        return _refusal(f"No passage mentions {names}.")
    if not _wanted_terms(query):
        return _refusal("The question names nothing to look for.")

    if any(t in SPEECH_VERBS for t in content_terms(query)):
        quotes = _quotes_by(query, passages)[:max_sentences]
        if quotes:
            units = _spans([(p, at.start, at.end) for p, at, _ in quotes])
            text, citations = _cite(_in_document_order(units[0], units[1:]))
            return Synthesis(text=text, citations=citations, refused=False)

    ranked = rank(query, passages)
    if not ranked or ranked[0].score == 0:
        return _refusal("No passage contains the question's terms.")
    best = _best_of_kind(query, ranked)
    if is_negated(query) and not is_negated(best.sentence.text):
        return _refusal("The passages do not state the negation the question asks about.")
    if best.coverage < min_coverage:
        absent = ", ".join(f"“{t}”" for t in best.missing) or "enough of the question"
        return _refusal(f"The best passages do not mention {absent}.")
    chosen = _select(best, ranked, max_sentences)
    counted = content_terms(counted_noun(query))
    if counted and not any(_counts(s, counted, query) for s in chosen):
        return _refusal(f"The passages give no count of “{counted_noun(query)}”.")
    text, citations = _cite(_in_document_order(best.sentence, chosen))
    return Synthesis(text=text, citations=citations, refused=False)


def _select(best: Scored, ranked: list[Scored], max_sentences: int) -> list[Sentence]:
    """The best sentence, then those adding most: question terms not yet covered, or a hop.

    A hop is a sentence from another document whose title the chosen sentences name (or
    that names theirs): the second half of a two-document (bridge) answer.
    """
    chosen = [best]
    top_gain = max(best.gains.values(), default=1.0)
    candidates = [s for s in ranked[:_CANDIDATES] if len(words(s.sentence.text)) >= _MIN_WORDS]
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
        _title_core(candidate.sentence.passage.title) <= named
        or any(_title_core(t) <= candidate.sentence.terms for t in titles)
    )
    return new + _HOP_WEIGHT * top_gain * hop + _RESCORE_WEIGHT * candidate.score


@lru_cache(maxsize=1024)
def _title_core(title: str) -> frozenset[str]:
    # "Dave Thomas (businessman)": the name without its disambiguation; never empty.
    core = frozenset(content_terms(re.sub(r"\(.*?\)", "", title)))
    return core or frozenset({"\0"})


def _counts(sentence: Sentence, counted: list[str], query: str) -> bool:
    """Whether the sentence gives a number of the thing a "how many" question counts."""
    named = any(t in sentence.terms for t in counted)
    return named and holds_kind("number", sentence.text, query)


def _best_of_kind(query: str, ranked: list[Scored]) -> Scored:
    """The best sentence that holds the kind of answer asked for (a number for "how many")."""
    kind = answer_kind(query)
    close = [s for s in ranked[:_KIND_WINDOW] if s.score >= _KIND_MARGIN * ranked[0].score]
    return next((s for s in close if holds_kind(kind, s.sentence.text, query)), ranked[0])
