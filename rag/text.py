"""Sentences with char spans, and the content terms of a text (stemmed, no stopwords)."""

from __future__ import annotations

import re
from functools import cache

import Stemmer
from llama_index.core.utils import globals_helper

from rag.imports import gc_paused, without_optional

_NLTK_EXTRAS = ("sklearn", "scipy")
_WORD = re.compile(r"\w+(?:['’]\w+)?")
# Abbreviations punkt's English model lacks; a split after "U.S." cuts a sentence in two.
_EXTRA_ABBREVIATIONS = {"u.s", "u.k", "u.n", "e.g", "i.e", "gen", "lt", "col", "sgt", "no"}


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
    """(start, end) of each sentence; a line break always ends a sentence (headlines, lists)."""
    spans: list[tuple[int, int]] = []
    offset = 0
    for line in text.split("\n"):
        spans.extend((offset + a, offset + b) for a, b in _punkt().span_tokenize(line))
        offset += len(line) + 1
    return spans


def words(text: str) -> list[str]:
    """The words of a text, in order, as written."""
    return _WORD.findall(text)


def content_terms(text: str, extra_stopwords: frozenset[str] = frozenset()) -> list[str]:
    """Lower-cased, stemmed words that carry meaning (stopwords and 1-letter words dropped)."""
    stop = stopwords() | extra_stopwords
    kept = [w.lower() for w in words(text)]
    kept = [w for w in kept if len(w) > 1 and w not in stop]
    return _stemmer().stemWords(kept)


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
