"""What the reader knows of a candidate sentence: how it matches the question (the rules'
measures, its vector's cosine), what kind of answer it holds, and how the question fares
against every retrieved passage. One function makes them, for training and for answering."""

from __future__ import annotations

import math
import re

import numpy as np

from rag.answer.question import answer_kind, holds_kind, is_negated, numbers_missing, opposite_in
from rag.answer.ranking import Scored, wanted_terms
from rag.reading.blocks import CODE, ITEM, ROW
from rag.text import content_terms, names_in, stem, words

# How many of the rules' best candidates the reader scores.
CANDIDATES = 20
_WH = ("what", "which", "who", "when", "where", "why", "how")
_WH_WORD = re.compile(r"\b(what|which|who|whom|whose|when|where|why|how)\b", re.IGNORECASE)

FEATURES = (
    "rule_score_share",  # the rules' score over the best candidate's
    "coverage",  # share of the question's weight covered (own terms and context)
    "own_coverage",  # share covered by the sentence's own terms
    "missing_share",  # share of the question's terms neither it nor its context holds
    "missing_weight",  # the heaviest of those terms' weight, as a share of the question's
    "pairs_kept",  # share of the question's adjacent term pairs the sentence keeps adjacent
    "cosine",  # its stored vector's cosine to the question (0 when unknown)
    "cosine_gap",  # that cosine minus the best candidate's
    "has_cosine",
    "candidate_rank",  # 1 / position among the rules' candidates
    "passage_rank",  # 1 / retrieval rank of its passage
    "passage_score",
    "asks_kind",  # the question asks for a number, a date or a name
    "lacks_kind",  # it asks one and the sentence holds none
    "negation_mismatch",  # the question says "not", the sentence does not
    "says_opposite",  # the sentence holds an opposite of one of the question's words
    "names_missing",  # share of the question's names the sentence and its context lack
    "numbers_missing",  # the question's numbers the sentence lacks (0/1)
    "log_words",
    "is_list_item",
    "is_code_or_row",
    "question_terms",  # log of the question's term count
    "absent_share",  # share of the question's terms in no retrieved passage
    "best_coverage",  # the best candidate's coverage (a question-level signal)
    "best_cosine",
    *(f"asks_{wh}" for wh in _WH),
)


def wh_word(query: str) -> str:
    """The question's wh-word ("" when it has none)."""
    match = _WH_WORD.search(query)
    if not match:
        return ""
    word = match.group(1).lower()
    return "who" if word in ("whom", "whose") else word


def candidate_features(query: str, ranked: list[Scored]) -> np.ndarray:
    """One row of FEATURES per candidate (the first CANDIDATES of the rules' ranking)."""
    candidates = ranked[:CANDIDATES]
    if not candidates:
        return np.zeros((0, len(FEATURES)), np.float32)
    wanted = wanted_terms(query)
    pairs = _pairs(content_terms(query))
    vocabulary = frozenset(t for s in ranked for t in s.sentence.terms | s.sentence.section_terms)
    absent = sum(1 for t in wanted if not any(_holds(v, t) for v in vocabulary))
    kind = answer_kind(query)
    negated = is_negated(query)
    names = [stem(n) for n in names_in(query)]
    top_score = max(candidates[0].score, 1e-9)
    cosines = [s.sentence.cosine for s in candidates]
    known = [c for c in cosines if not math.isnan(c)]
    best_cosine = max(known, default=0.0)
    best_coverage = max(s.coverage for s in candidates)
    wh = wh_word(query)
    rows = []
    for position, s in enumerate(candidates, start=1):
        sentence = s.sentence
        text = sentence.shown or sentence.text
        context = sentence.terms | sentence.section_terms
        own = sum(s.gains.values())
        missing_weight = max((s.weights.get(t, 0.0) for t in s.missing), default=0.0)
        cosine = 0.0 if math.isnan(sentence.cosine) else sentence.cosine
        missing_names = [n for n in names if not any(_holds(t, n) for t in context)]
        rows.append(
            [
                s.score / top_score,
                s.coverage,
                own / s.total,
                len(s.missing) / max(len(wanted), 1),
                missing_weight / s.total,
                len(pairs & _pairs(content_terms(text))) / len(pairs) if pairs else 0.0,
                cosine,
                cosine - best_cosine if not math.isnan(sentence.cosine) else 0.0,
                0.0 if math.isnan(sentence.cosine) else 1.0,
                1.0 / position,
                1.0 / max(sentence.passage.rank, 1),
                sentence.passage.score,
                1.0 if kind else 0.0,
                1.0 if kind and not holds_kind(kind, text, query, sentence.passage.text) else 0.0,
                1.0 if negated and not is_negated(text) else 0.0,
                1.0 if opposite_in(query, s.missing, text) else 0.0,
                len(missing_names) / len(names) if names else 0.0,
                1.0 if numbers_missing(query, text) else 0.0,
                math.log1p(len(words(text))),
                1.0 if sentence.kind == ITEM else 0.0,
                1.0 if sentence.kind in (CODE, ROW) else 0.0,
                math.log1p(len(wanted)),
                absent / max(len(wanted), 1),
                best_coverage,
                best_cosine,
                *(1.0 if wh == w else 0.0 for w in _WH),
            ]
        )
    return np.asarray(rows, np.float32)


def _pairs(terms: list[str]) -> set[tuple[str, str]]:
    """Adjacent term pairs, in order: a question reworded around its words keeps few."""
    return set(zip(terms, terms[1:], strict=False))


def _holds(term: str, wanted: str) -> bool:
    return term == wanted or (min(len(term), len(wanted)) >= 5 and term[:5] == wanted[:5])
