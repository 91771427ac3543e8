"""Names as the text writes them: runs of capitalised words, with their appositions as aliases.

"Dmitri Peskov, spokesperson for the Kremlin" gives the name "Dmitri Peskov" the alias terms
of "spokesperson for the Kremlin", so "the Kremlin spokesman" finds him; titles written
before a name ("British Prime Minister Keir Starmer") are part of the run itself.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from rag.answer.matching import Sentence, name_spelling, same_word, split_sentences
from rag.text import content_terms, stem, words

# Pronouns, one list: those that stand for a person (a follow-up's "he" takes the earlier
# question's name; "his" its possessive), and all of them open no name when capitalised.
PERSON_PRONOUNS = frozenset("he she him her his hers they them their".split())
POSSESSIVE_PRONOUNS = frozenset("his her hers their".split())
_PRONOUNS = PERSON_PRONOUNS | frozenset("it its we i you".split())
# A capitalised run: words starting upper-case, joined by spaces; an apostrophe inside a
# word is part of it ("O'Brien"), but "'s" ends it ("Putin's" names "Putin").
_NAME_WORD = r"[A-Z](?:[\w.\-]|['’](?![sS]\b)(?=\w))*"
NAME_RUN = re.compile(rf"\b{_NAME_WORD}(?:[ \t]+{_NAME_WORD})*")
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
    for match in NAME_RUN.finditer(text):
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
    described = [after.group(1)] if after else []
    if before:
        # "…prompted the Ukrainian military chief, NAME": the noun phrase from its article.
        phrase = before.group(1)
        articles = list(re.finditer(r"\b(?:the|a|an)\s", phrase))
        described.append(phrase[articles[-1].start() :] if articles else "")
    return frozenset(t for d in described for t in content_terms(d)) - _SENTENCE_WORDS


def is_pronoun(word: str) -> bool:
    """Whether a word is a personal pronoun (he, she, they…)."""
    return word.lower() in _PRONOUNS


def matches_name(term: str, terms: frozenset[str]) -> bool:
    """Whether a question's stem is one of a mention's, as a word or a spelling variant."""
    return any(same_word(term, t) for t in terms) or name_spelling(term, terms) is not None


def best_matching(
    mentions: list[NameMention], wanted: list[str], at_least_half: bool = True
) -> list[NameMention]:
    """The mentions that match most of the question's terms (if at least half of them).

    "The Chinese foreign minister" is then nobody rather than the British Prime Minister,
    who matches only "minister".
    """
    counts = [sum(matches_name(w, m.terms) for w in wanted) for m in mentions]
    top = max(counts, default=0)
    if not top or (at_least_half and 2 * top < len(wanted)):
        return []
    return [m for m, c in zip(mentions, counts, strict=True) if c == top]


def surname(mention: NameMention) -> str:
    """The stem of a name's last word: what "Putin" and "Vladimir Putin" share."""
    return stem(mention.text.split()[-1].removesuffix("'s").removesuffix("’s"))


def full_name_introduction(sentence: Sentence, question: str) -> Sentence | None:
    """The earlier sentence of the passage that names in full someone `sentence` names by
    one word ("…a geographer named Isiah Bowman." before "Bowman was the director…"), when
    the question does not name them: who it is, as the text introduces them."""
    asked = {stem(w) for w in words(question)}
    lone = {
        stem(m.text)
        for m in name_mentions(sentence.text)
        if " " not in m.text and stem(m.text) not in asked
    }
    if not lone:
        return None
    earlier = [s for s in split_sentences([sentence.passage]) if s.index < sentence.index]
    for previous in reversed(earlier):
        for mention in name_mentions(previous.text):
            if " " in mention.text and surname(mention) in lone:
                return previous
    return None
