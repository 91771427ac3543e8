"""Names as the text writes them: runs of capitalised words, with their appositions as aliases.

"Dmitri Peskov, spokesperson for the Kremlin" gives the name "Dmitri Peskov" the alias terms
of "spokesperson for the Kremlin", so "the Kremlin spokesman" finds him; titles written
before a name ("British Prime Minister Keir Starmer") are part of the run itself.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from rag.text import content_terms, stem

_PRONOUNS = frozenset("he she they it we i you his her their its".split())
# A capitalised run: words starting upper-case, joined by spaces (and "'s" ends it).
_RUN = re.compile(r"\b[A-Z][\w.\-]*(?:[ \t]+[A-Z][\w.\-]*)*")
# ", spokesperson for the Kremlin," right after a name, or "the military chief, NAME" before.
_APPOSITION_AFTER = re.compile(r"^,\s+((?:the\s+|a\s+|an\s+)?[a-z][^,.;:“”\"]{2,60}),")
_APPOSITION_BEFORE = re.compile(r"(?:^|\s)((?:the\s+|a\s+)?[^,.;:“”\"]{2,60}),\s*$")
_SENTENCE_WORDS = frozenset(stem(w) for w in "the a an this that these those".split())


@dataclass(frozen=True)
class NameMention:
    """A capitalised run in a text, with its char span and the stems it answers to."""

    start: int
    end: int
    text: str
    terms: frozenset[str]


def name_mentions(text: str, sentence_start: int = 0) -> list[NameMention]:
    """The capitalised runs of `text` (the sentence's first word only if it is no stopword)."""
    mentions = []
    for match in _RUN.finditer(text):
        start, run = match.start(), match.group().rstrip(".")
        tokens = run.split()
        if start == sentence_start and tokens and content_terms(tokens[0]) == []:
            tokens = tokens[1:]  # "The", "However" open a sentence, they are no name
            if not tokens:
                continue
            start = match.start() + run.index(tokens[0])
        if not tokens or tokens[0].lower() in _PRONOUNS:
            continue
        name = " ".join(tokens)
        terms = frozenset(content_terms(name)) | _apposition_terms(text, start, start + len(name))
        if terms:
            mentions.append(NameMention(start, start + len(name), name, terms))
    return mentions


def _apposition_terms(text: str, start: int, end: int) -> frozenset[str]:
    after = _APPOSITION_AFTER.match(text[end:])
    before = _APPOSITION_BEFORE.search(text[max(0, start - 62) : start])
    described = [m.group(1) for m in (after, before) if m and m.group(1)[:1].islower()]
    return frozenset(t for d in described for t in content_terms(d)) - _SENTENCE_WORDS


def is_pronoun(word: str) -> bool:
    """Whether a word is a personal pronoun (he, she, they…)."""
    return word.lower() in _PRONOUNS
