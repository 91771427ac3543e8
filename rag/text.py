"""Sentences with char spans, and the content terms of a text (stemmed, no stopwords)."""

from __future__ import annotations

import re
from collections.abc import Iterable
from functools import cache

import Stemmer
from llama_index.core.utils import globals_helper

from rag.imports import gc_paused, without_optional

_NLTK_EXTRAS = ("sklearn", "scipy")
# Changes whenever a document is read into other text or units (rag.reading) or
# sentence_spans splits differently: indexes store the units and spans they were embedded
# with, so eval corpora cached by fingerprint (evals.corpus) are rebuilt.
SPLITTER_VERSION = 7
_WORD = re.compile(r"\w+(?:['’]\w+)?")
_POSSESSIVE = re.compile(r"['’]s$")
# A date as documents write it in a dateline or a header: "March 13, 2025", "2025-03-13".
DATE = re.compile(
    r"\b(?:(?:January|February|March|April|May|June|July|August|September|October|November|"
    r"December) \d{1,2}, \d{4}|\d{4}-\d{2}-\d{2})\b"
)
# Abbreviations punkt's English model lacks; a split after "U.S." cuts a sentence in two.
_EXTRA_ABBREVIATIONS = {
    "u.s", "u.k", "u.n", "e.g", "i.e", "gen", "lt", "col", "sgt", "no", "resp", "approx", "vs",
    "esp", "incl",
}  # fmt: skip
# A sentence ending in a dotted acronym or initials: "U.S.", "R.E.M.", "O.J.", "B.C."
_DOTTED_ACRONYM_END = re.compile(r"(?<![\w.])(?:[^\W\d_]\.){2,}$")
# Abbreviations that introduce what follows, so never end a sentence.
_INTRODUCING_END = re.compile(r"(?<![\w.])(?:a\.k\.a|e\.g|i\.e|viz|cf)\.$", re.IGNORECASE)


@cache
def import_nltk() -> None:
    """The process's first `import nltk`, without its optional extras.

    `import nltk` loads all of nltk, and with it scikit-learn and scipy (stats, sparse) for
    classifiers, collocation tests and a parser that punkt never uses: seconds of a cold
    `rag ask`. nltk imports each only if it can.
    """
    with without_optional(*_NLTK_EXTRAS), gc_paused():
        globals_helper.wait_for_nltk_check()  # imports nltk


@cache
def _punkt():
    # llama-index points NLTK at its bundled data (punkt_tab, stopwords); nothing is downloaded.
    import_nltk()
    from nltk.tokenize.punkt import PunktTokenizer

    tokenizer = PunktTokenizer("english")
    tokenizer._params.abbrev_types.update(_EXTRA_ABBREVIATIONS)
    return tokenizer


@cache
def _stemmer() -> Stemmer.Stemmer:
    return Stemmer.Stemmer("english")


@cache
def stopwords() -> frozenset[str]:
    """NLTK's English stopwords (bundled with llama-index)."""
    import_nltk()
    return frozenset(globals_helper.stopwords)


def sentence_spans(text: str) -> list[tuple[int, int]]:
    """(start, end) of each sentence; a line break always ends a sentence (headlines, lists).

    For text without structure (an LLM's answer); documents are read by rag.reading, which
    splits each paragraph with `paragraph_sentence_spans`.
    """
    spans: list[tuple[int, int]] = []
    offset = 0
    for line in text.split("\n"):
        spans.extend((offset + a, offset + b) for a, b in paragraph_sentence_spans(line))
        offset += len(line) + 1
    return spans


def paragraph_sentence_spans(paragraph: str) -> list[tuple[int, int]]:
    """(start, end) of each sentence of one paragraph: its line breaks are wraps, not ends."""
    flat = paragraph.replace("\n", " ").replace("\t", " ")
    return _rejoined(flat, list(_punkt().span_tokenize(flat)))


def _rejoined(line: str, spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Punkt's spans, re-joined where a split falls mid-sentence: after a dotted acronym,
    or before a word in lower case (no sentence opens so; a quoted question does end in "?").

    Punkt splits after an acronym it does not know ("M.F.A. | in Writing", "R.E.M. | was")
    and, by its orthographic heuristic, before a capitalised word its English model saw only
    in lower case mid-sentence ("U.S. | Senator Daniel Inouye", "O.J. | Simpson"). A split
    after an acronym stands only before a capitalised frequent sentence starter ("… in the
    U.S. | It was …"), punkt's own test for abbreviations; never after "a.k.a.", "e.g.",
    "i.e.", which introduce what follows.
    """
    joined: list[tuple[int, int]] = []
    for start, end in spans:
        previous = line[joined[-1][0] : joined[-1][1]] if joined else ""
        if previous and _continues(previous, line[start:end]):
            joined[-1] = (joined[-1][0], end)
        else:
            joined.append((start, end))
    return joined


def _continues(sentence: str, following: str) -> bool:
    if _INTRODUCING_END.search(sentence):
        return True
    first_word = _WORD.match(following.lstrip("\"'“‘(["))
    if first_word and first_word.group().isalpha() and first_word.group().islower():
        return True  # a sentence does not open in lower case: a quoted question, "(1.3.) if …"
    if not _DOTTED_ACRONYM_END.search(sentence):
        return False
    first = _WORD.search(following)
    if first is None:
        return False
    word = first.group()
    return not (word[0].isupper() and word.lower() in _punkt()._params.sent_starters)


def words(text: str) -> list[str]:
    """The words of a text, in order, as written."""
    return _WORD.findall(text)


def without_possessive(word: str) -> str:
    """A word without its possessive "'s" ("Putin's" → "Putin")."""
    return _POSSESSIVE.sub("", word)


def content_terms(text: str, extra_stopwords: frozenset[str] = frozenset()) -> list[str]:
    """Lower-cased, stemmed words that carry meaning (stopwords and 1-letter words dropped)."""
    stop = stopwords() | extra_stopwords
    kept = [w.lower() for w in words(text)]
    kept = [w for w in kept if len(w) > 1 and w not in stop]
    return _stemmer().stemWords(kept)


def as_written(text: str, terms: Iterable[str]) -> list[str]:
    """Content terms (stems) as the text writes them ("procp": "procps"), for messages."""
    written: dict[str, str] = {}
    for word in words(text):
        written.setdefault(stem(word), word)
    return [written.get(t, t) for t in terms]


def stem(word: str) -> str:
    """The stem of one lower-cased word."""
    return _stemmer().stemWord(word.lower())


_QUESTION_WORDS = frozenset("what who whom whose which when where why how and but".split())


def names_in(question: str) -> list[str]:
    """Capitalised words after the first one: the names a question is about."""
    return [
        w
        for w in words(question)[1:]
        if len(w) > 1 and w[0].isupper() and w.lower() not in _QUESTION_WORDS
    ]
