"""The default synthesizer: the retrieved passages' own best sentences, each cited; no LLM.

Sentences are scored by the question's content terms they contain (IDF-weighted over the
candidate sentences, stems compared; names also in transliteration variants), with a
bonus for quotations when the question asks what someone said. It refuses when a name in
the question occurs in no passage, or when the chosen sentences cover too few of the
question's terms.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from rapidfuzz.distance import Levenshtein

from rag.prompts import load_prompt
from rag.text import content_terms, names_in, sentence_spans, stem
from rag.types import Citation, Passage

# Verbs that make a question ask for someone's words ("What did Peskov say?").
_SPEECH_VERBS = frozenset(
    stem(w)
    for w in (
        "say said says tell told state stated claim insist announce warn ask call speak spoke "
        "comment describe"
    ).split()
)
# Words of a question that ask rather than describe ("how many", "what happened").
_ASKING_WORDS = frozenset({"many", "much", "happen", "happened", "happens"})
_QUOTE_MARKS = re.compile(r"[\"“”„«»]")
_QUOTE_BONUS = 1.0
MIN_COVERAGE = 0.6


@dataclass(frozen=True)
class Synthesis:
    """The synthesizer's part of an Answer."""

    text: str
    citations: list[Citation]
    refused: bool
    refusal_reason: str = ""


@dataclass(frozen=True)
class _Sentence:
    passage: Passage
    start: int  # offset in the passage text
    end: int
    terms: frozenset[str]

    @property
    def text(self) -> str:
        return self.passage.text[self.start : self.end]

    @property
    def has_quote(self) -> bool:
        return bool(_QUOTE_MARKS.search(self.text))


def _spelling_in(name: str, terms: frozenset[str]) -> str | None:
    """The stem under which a name occurs among `terms`, allowing transliteration variants.

    Sudzha finds Sudscha: names of 4+ letters may differ by one edit per three letters, the
    first letter kept. None when the name does not occur.
    """
    name = stem(name)
    if name in terms or len(name) < 4:
        return name if name in terms else None
    edits = len(name) // 3
    candidates = [t for t in terms if t[:1] == name[:1]]
    distances = {t: Levenshtein.distance(name, t, score_cutoff=edits) for t in candidates}
    close = [t for t, d in distances.items() if d <= edits]
    return min(close, key=lambda t: (distances[t], t)) if close else None


def _split_sentences(passages: list[Passage]) -> list[_Sentence]:
    sentences = []
    for passage in passages:
        if passage.start < 0:  # no char span in the source: it could not be cited
            continue
        for start, end in sentence_spans(passage.text):
            terms = frozenset(content_terms(passage.text[start:end]))
            sentences.append(_Sentence(passage, start, end, terms))
    return sentences


def _refusal(reason: str) -> Synthesis:
    return Synthesis(
        text=load_prompt("refusal").format(reason=reason),
        citations=[],
        refused=True,
        refusal_reason=reason,
    )


def _cite(chosen: list[_Sentence]) -> tuple[str, list[Citation]]:
    """Answer text with one [n] per distinct passage, numbered in order of first use.

    A passage's quote runs from the first to the last of its sentences used, so it stays
    one verbatim span of the source.
    """
    numbers: dict[str, int] = {}
    used: dict[str, list[_Sentence]] = {}
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


def synthesize(
    query: str, passages: list[Passage], max_sentences: int, min_score: float
) -> Synthesis:
    """Answer `query` from the passages' own sentences, or refuse with the reason."""
    if not passages:
        return _refusal("Nothing is indexed that resembles the question.")
    if passages[0].score < min_score:
        return _refusal("No passage is close enough to the question.")
    haystack = frozenset(t for p in passages for t in content_terms(p.text))
    spellings = {stem(n): _spelling_in(n, haystack) for n in names_in(query)}
    missing = [n for n in names_in(query) if spellings[stem(n)] is None]
    if missing:
        names = ", ".join(f"“{n}”" for n in missing)
        return _refusal(f"No passage mentions {names}.")

    query_terms = content_terms(query, _ASKING_WORDS)
    speech = any(t in _SPEECH_VERBS for t in query_terms)
    # Names are looked for as the passages spell them.
    wanted = [spellings.get(t) or t for t in dict.fromkeys(query_terms) if t not in _SPEECH_VERBS]
    if not wanted:
        return _refusal("The question names nothing to look for.")

    sentences = _split_sentences(passages)
    df = {t: sum(t in s.terms for s in sentences) for t in wanted}
    idf = {t: math.log(1 + (len(sentences) + 1) / (df[t] + 0.5)) for t in wanted}

    def score(s: _Sentence) -> float:
        lexical = sum(idf[t] for t in wanted if t in s.terms)
        return lexical + (_QUOTE_BONUS if speech and s.has_quote and lexical else 0.0)

    ranked = sorted(sentences, key=score, reverse=True)
    if not ranked or score(ranked[0]) == 0:
        return _refusal("No passage contains the question's terms.")
    best = score(ranked[0])
    chosen = [s for s in ranked[:max_sentences] if score(s) >= best / 2]
    covered = {t for t in wanted if any(t in s.terms for s in chosen)}
    if len(covered) / len(wanted) < MIN_COVERAGE:
        absent = ", ".join(f"“{t}”" for t in wanted if t not in covered)
        return _refusal(f"The best passages do not mention {absent}.")

    # The best sentence leads; the others follow in the order they stand in their source.
    rest = sorted(chosen[1:], key=lambda s: (s.passage.source, s.passage.start + s.start))
    text, citations = _cite([chosen[0], *rest])
    return Synthesis(text=text, citations=citations, refused=False)
