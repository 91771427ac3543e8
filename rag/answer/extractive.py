"""The default synthesizer: the retrieved passages' own best sentences, each cited; no LLM.

"What did X say?" returns X's quotations with their attribution as written; questions about
a document itself get its opening or front matter. Other questions lead with the sentence
the reader (rag.reader) finds most probable, then at most a few that add to it; two
documents' sentences when the rules find a bridge or a comparison. It refuses, naming why,
when the question's names or numbers occur in no passage, when the leading sentence lacks
the negation the question asks about, says the opposite of one of its words, covers too
little of the question or gives no count of what "how many" counts, or when the reader
finds no candidate probable enough.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from rag.answer.attribution import SPEECH_VERBS
from rag.answer.citations import cite, in_document_order, spans
from rag.answer.hops import best_pair, compared_pair, lead_of
from rag.answer.matching import Sentence, name_spelling, split_sentences
from rag.answer.names import full_name_introduction
from rag.answer.question import (
    answer_kind,
    counted_noun,
    holds_kind,
    is_negated,
    numbers_missing,
    opposite_in,
)
from rag.answer.quotes import quotes_by
from rag.answer.ranking import Scored, best_of_kind, rank, select, wanted_terms
from rag.answer.structure import (
    asks_about_document,
    asks_overview,
    front_matter,
    introduces_list,
    lead_in,
    overview,
    with_cohesive,
    with_introduced,
)
from rag.prompts import load_prompt
from rag.reader.decide import POSSIBLE, REFUSE, judge
from rag.reader.span import answer_phrase
from rag.reading.blocks import format_of
from rag.reading.view import reading_view
from rag.text import as_written, content_terms, names_in, stem, stopwords
from rag.types import AnswerSpan, Citation, Passage

_WHY = re.compile(r"\s*why\b", re.IGNORECASE)
# A capital inside a word, an underscore or a digit: a name that is an identifier (so is
# one written after a sign, "%MEM", "$HOME").
_IDENTIFIER = re.compile(r"[a-z][A-Z]|_|\d")


@dataclass(frozen=True)
class Synthesis:
    """The synthesizer's part of an Answer."""

    text: str
    citations: list[Citation]
    refused: bool
    refusal_reason: str = ""
    confidence: float | None = None  # the reader's, when it chose the leading sentence
    possibly_related: bool = False
    answer_span: AnswerSpan | None = None


def refusal(reason: str) -> Synthesis:
    return Synthesis(
        text=load_prompt("refusal").format(reason=reason),
        citations=[],
        refused=True,
        refusal_reason=reason,
    )


def evidence_gap(query: str, passages: list[Passage], min_score: float) -> str:
    """Why the retrieved evidence cannot answer at all ("" when it may): checked before any
    synthesizer, the LLM's included, is asked."""
    if not passages:
        return "Nothing is indexed that resembles the question."
    if passages[0].score < min_score:
        return "No passage is close enough to the question."
    missing = _missing_names(query, passages)
    if missing:
        names = ", ".join(f"“{n}”" for n in missing)
        return f"No passage mentions {names}."
    # A heading is context for the text under it: "release 4.9" dates the items below it.
    headings = {u.section for p in passages for u in p.units} | {p.section for p in passages}
    numbers = numbers_missing(query, " ".join([*(p.text for p in passages), *headings]))
    if numbers:
        return f"No passage mentions {', '.join(numbers)}."
    return ""


def _missing_names(query: str, passages: list[Passage]) -> list[str]:
    """The question's names no passage holds, when they say the question is about someone else.

    A full name absent ("Emmanuel Macron"), or every name absent; a lone capitalised word
    may be an adjective the text paraphrases ("Northern European").
    """
    # A title's capitalised function words ("Anastasia on Her Own") are no names.
    names = [n for n in names_in(query) if n.lower() not in stopwords()]
    if not names:
        return []
    # A name may be a document's: its title or file name ("the man-db FAQ": man-db-faq.txt).
    names_of_documents = " ".join(f"{p.title} {Path(p.source).stem}" for p in passages)
    vocabulary = frozenset(t for s in split_sentences(passages) for t in s.terms)
    vocabulary |= frozenset(content_terms(names_of_documents.replace("-", " ")))
    absent = [n for n in names if name_spelling(stem(n), vocabulary) is None]
    if len(absent) == len(names):
        return absent
    # An identifier is written one way only ("ClientAliveCountMax", "IPv6", "NINJA_STATUS"):
    # no text paraphrases it, so one absent is enough.
    identifiers = [
        n for n in absent if _IDENTIFIER.search(n) or re.search(rf"[%$]{re.escape(n)}\b", query)
    ]
    if identifiers:
        return identifiers
    # A name of several words is absent when most of its words are ("the Nobel Peace Prize":
    # "peace" alone is no mention of it).
    pairs = re.findall(r"\b[A-Z]\w+(?:\s+[A-Z]\w+)+", query)
    whole = [
        p
        for p in pairs
        if 2 * sum(w in absent for w in p.split()) > len(p.split()) and p.split()[0] in names
    ]
    return [w for p in whole for w in p.split() if w in absent]


def synthesize(
    query: str,
    passages: list[Passage],
    max_sentences: int,
    min_score: float,
    min_coverage: float,
) -> Synthesis:
    """Answer `query` from the passages' own sentences, or refuse with the reason.

    "What is X about?" gets the opening of the first passage's document (the engine puts
    the opening of the document asked about first).
    """
    weak = "" if asks_about_document(query) else evidence_gap(query, passages, min_score)
    if weak:
        return refusal(weak)
    front = front_matter(query, passages)
    if front:
        text, citations = cite(front)
        span = answer_span(query, front[0])
        return Synthesis(text=text, citations=citations, refused=False, answer_span=span)
    if asks_overview(query):
        lead = overview(passages)
        if lead:
            text, citations = cite(lead)
            return Synthesis(text=text, citations=citations, refused=False)
    if not wanted_terms(query):
        return refusal("The question names nothing to look for.")

    if any(t in SPEECH_VERBS for t in content_terms(query)):
        quotes = quotes_by(query, passages)[:max_sentences]
        if quotes:
            units = spans([(p, at.start, at.end) for p, at, _ in quotes])
            text, citations = cite(in_document_order(units[:1], units[1:]))
            return Synthesis(text=text, citations=citations, refused=False)

    ranked = rank(query, passages)
    if not ranked or ranked[0].score == 0:
        return refusal("No passage contains the question's terms.")
    rules_best = best_of_kind(query, ranked)
    pair = _two_documents(query, rules_best, ranked, max_sentences)
    judgement = None if pair else judge(query, ranked)
    best = judgement.ranked[0] if judgement is not None else rules_best
    # The most telling reason first: a contradiction, then what the passages lack.
    contradiction = _contradicted(query, best)
    if contradiction:
        return refusal(contradiction)
    if best.coverage < min_coverage:
        absent = ", ".join(f"“{w}”" for w in as_written(query, best.missing))
        absent = absent or "enough of the question"
        return refusal(f"The best passages do not mention {absent}.")
    if judgement is not None and judgement.state == REFUSE:
        return refusal("No passage answers the question with confidence.")
    if pair:
        chosen = pair
    else:
        assert judgement is not None
        chosen = _one_document(query, best, judgement.ranked, max_sentences)
    if not chosen:
        return refusal(f"The passages give no count of “{counted_noun(query)}”.")
    lead, rest = ([chosen[0]], chosen[1:]) if pair else with_cohesive(chosen, max_sentences)
    ordered = with_introduced(in_document_order(lead, rest))
    kind = answer_kind(query)
    text, citations = cite(ordered, {s: lead_in(s, kind, query) for s in ordered})
    return Synthesis(
        text=text,
        citations=citations,
        refused=False,
        confidence=None if judgement is None else round(judgement.confidence, 4),
        possibly_related=judgement is not None and judgement.state == POSSIBLE,
        answer_span=answer_span(query, chosen[0]),
    )


def _contradicted(query: str, best: Scored) -> str:
    """Why the leading sentence cannot answer ("" when it may): it lacks the question's
    negation, or says the opposite of one of its words."""
    # "Why doesn't X …?" asks for a reason, which need not be worded as a negation.
    if is_negated(query) and not is_negated(best.sentence.text) and not _WHY.match(query):
        return "The passages do not state the negation the question asks about."
    unsaid = [t for t in wanted_terms(query) if t not in best.gains]
    opposite = opposite_in(query, unsaid, best.sentence.text)
    if opposite:
        return f"The passages say “{opposite[1]}”, not “{opposite[0]}”."
    return ""


def answer_span(query: str, sentence: Sentence) -> AnswerSpan | None:
    """The phrase of the leading sentence that answers, as a span of its source."""
    fmt = format_of(sentence.passage.source)
    view = reading_view(sentence.passage.text, fmt)[sentence.start : sentence.end]
    found = answer_phrase(query, view)
    if found is None:
        return None
    start = sentence.passage.start + sentence.start + found[0]
    end = sentence.passage.start + sentence.start + found[1]
    text = sentence.passage.text[sentence.start + found[0] : sentence.start + found[1]]
    return AnswerSpan(text=text, source=sentence.passage.source, start=start, end=end)


def _two_documents(
    query: str, best: Scored, ranked: list[Scored], max_sentences: int
) -> list[Sentence]:
    """A sentence of each of two documents that answer better together (a comparison's two
    sides, or a bridge and the fact it leads to), with the best sentence and the answer's
    document's opening when there is room; [] when one document's sentences answer.

    The rules judge these answers: the reader was trained on one-paragraph questions.
    """
    if max_sentences < 2:
        return []
    kind = answer_kind(query)
    pair = compared_pair(query, kind, ranked) or best_pair(query, kind, best, ranked)
    if not pair:
        return []
    # The best sentence stays when there is room (the pair may be a wrong turn), then the
    # opening of the answer's document, which names its subject in full.
    lead = lead_of(pair[-1], ranked)
    extra = [s for s in (best, lead) if s is not None and s not in pair]
    chosen = select(best, ranked, max_sentences, [*pair, *extra][:max_sentences])
    counted = content_terms(counted_noun(query))
    if counted and not any(_counts(s, counted, query) for s in chosen):
        return []
    return chosen


def _one_document(
    query: str, best: Scored, ranked: list[Scored], max_sentences: int
) -> list[Sentence]:
    """The best sentence and those adding to it; [] when "how many" gets no count."""
    counted = content_terms(counted_noun(query))
    kind = answer_kind(query)
    chosen = select(best, ranked, max_sentences)
    introduction = full_name_introduction(best.sentence, query) if kind == "name" else None
    if introduction is not None and introduction not in chosen and max_sentences > 1:
        # "Who…?" answered by a surname: the sentence that introduces them in full comes too.
        chosen = [chosen[0], introduction, *chosen[1:]][:max_sentences]
    if not counted or any(_counts(s, counted, query) for s in chosen):
        return chosen
    return []


def _counts(sentence: Sentence, counted: list[str], query: str) -> bool:
    """Whether the sentence gives a number of the thing a "how many" question counts, or
    the list of them."""
    named = any(t in sentence.terms for t in counted)
    return named and (holds_kind("number", sentence.text, query) or introduces_list(sentence))
