"""Question terms matched against passage sentences: stems, shared prefixes, name spellings."""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import lru_cache

from rapidfuzz.distance import Levenshtein

from rag.reading.blocks import NOT_ANSWERS
from rag.reading.chunks import chunk_format, chunk_units
from rag.reading.units import Unit, unit_text
from rag.text import content_terms
from rag.types import Passage

# A stem of this length that begins another is the same word ("consum" / "consumpt"); shorter
# stems must match exactly, or "art" would find "artery".
_MIN_PREFIX = 5
# Longer stems that share this many leading letters are one word ("spokesman" / "spokesperson").
_MIN_SHARED = 6


@dataclass(frozen=True)
class Sentence:
    """One unit of a retrieved passage (rag.reading: a sentence, a code block, a heading…),
    with its content terms and those of the section it stands in."""

    passage: Passage
    index: int  # position in the passage, so the previous unit can be found
    start: int  # offset in the passage text
    end: int
    terms: frozenset[str]
    kind: str = "t"
    section: str = ""  # the labels above it, outermost first
    section_terms: frozenset[str] = frozenset()
    shown: str = ""  # as the answer shows it: markup left out, whitespace collapsed
    # Its stored vector's cosine to the question (NaN: not known).
    cosine: float = field(default=math.nan, compare=False)

    @property
    def text(self) -> str:
        """The source's own characters (what a citation quotes)."""
        return self.passage.text[self.start : self.end]

    @property
    def answers(self) -> bool:
        """Whether an answer may quote it (headings and questions are only context)."""
        return self.kind not in NOT_ANSWERS


@lru_cache(maxsize=4096)
def _analyse(
    text: str, units: tuple[Unit, ...], fmt: str
) -> tuple[tuple[int, str, frozenset[str], frozenset[str]], ...]:
    """(unit's position, unit's shown text, its terms, its section's terms) of each unit
    with words. Passages recur across questions (and turns of a chat): read each once."""
    analysed = []
    for n, u in enumerate(units):
        view = unit_text(text, u, fmt)
        if view:
            analysed.append((n, view, frozenset(content_terms(view)), _terms(u.section)))
    return tuple(analysed)


@lru_cache(maxsize=4096)
def _terms(text: str) -> frozenset[str]:
    return frozenset(content_terms(text))


def split_sentences(passages: Iterable[Passage]) -> list[Sentence]:
    """The units of the passages that can be cited (those with a char span)."""
    sentences = []
    for passage in passages:
        if passage.start < 0:
            continue
        meta = {"file_name": passage.source}
        units = passage.units or chunk_units(passage.text, meta)
        cosines = passage.unit_cosines or (math.nan,) * len(units)
        analysed = _analyse(passage.text, units, chunk_format(meta))
        for i, (n, view, terms, section_terms) in enumerate(analysed):
            u = units[n]
            sentences.append(
                Sentence(
                    passage,
                    i,
                    u.start,
                    u.end,
                    terms,
                    u.kind,
                    u.section,
                    section_terms,
                    view,
                    cosines[n],
                )
            )
    return sentences


def name_spelling(name: str, vocabulary: Iterable[str]) -> str | None:
    """How the passages spell a name, allowing transliteration variants (Sudzha: Sudscha).

    Names of 4+ letters may differ by one edit per three letters once written alike
    (Zelensky: Selenskyj), the first letter kept.
    """
    if name in vocabulary:
        return name
    if len(name) < 4:
        return None
    edits = len(name) // 3
    sound = _transliterated(name)
    distances = {
        t: Levenshtein.distance(sound, _transliterated(t), score_cutoff=edits)
        for t in vocabulary
        if _transliterated(t)[:1] == sound[:1]
    }
    close = [t for t, d in distances.items() if d <= edits]
    return min(close, key=lambda t: (distances[t], t)) if close else None


# Letters that transliterations of one name trade for each other (Sudzha / Sudscha,
# Zelensky / Selenskyj, Tchaikovsky / Tschaikowski).
_SOUNDS = [
    ("sch", "sh"),
    ("tch", "ch"),
    ("tsch", "ch"),
    ("zh", "sh"),
    ("z", "s"),
    ("w", "v"),
    ("j", "i"),
    ("y", "i"),
    ("ck", "k"),
    ("ph", "f"),
]


@lru_cache(maxsize=65536)
def _transliterated(stem: str) -> str:
    for written, said in _SOUNDS:
        stem = stem.replace(written, said)
    return stem


def term_variants(term: str, vocabulary: Iterable[str]) -> frozenset[str]:
    """The vocabulary's stems that count as `term`: itself and those sharing a long prefix."""
    return frozenset(v for v in vocabulary if same_word(term, v)) | {term}


def same_word(a: str, b: str) -> bool:
    """Whether two stems are one word: equal, one begins the other, a long shared start, or a
    vowel change of the same consonants (fell / fall, began / begin)."""
    if a == b:
        return True
    if len(a) == len(b) >= 3 and a[0] == b[0] and _consonants(a) == _consonants(b):
        return True
    if min(len(a), len(b)) < _MIN_PREFIX:
        return False
    return a.startswith(b) or b.startswith(a) or a[:_MIN_SHARED] == b[:_MIN_SHARED]


def _consonants(stem: str) -> str:
    return re.sub(r"[aeiouy]", "", stem)


def idf_weights(variants: dict[str, frozenset[str]], sentences: list[Sentence]) -> dict[str, float]:
    """Inverse sentence frequency of each term among the candidate sentences."""
    n = len(sentences)
    weights = {}
    for term, forms in variants.items():
        df = sum(1 for s in sentences if s.terms & forms)
        weights[term] = math.log(1 + (n + 1) / (df + 0.5))
    return weights
