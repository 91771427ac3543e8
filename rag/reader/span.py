"""The answer phrase inside the sentence that answers: the number, date or name a question
asks for, or else the words the sentence adds next to the question's own.

Rules, not a model (no reader with a span head ships on PyPI, and the SQuAD training split
is small for one): their exact match and F1 are measured by `rag eval`.
"""

from __future__ import annotations

import re

from rag.answer.question import answer_kind
from rag.text import content_terms, stem, stopwords

_MONTHS = (
    "January|February|March|April|May|June|July|August|September|October|November|December|"
    "Jan|Feb|Mar|Apr|Jun|Jul|Aug|Sep|Sept|Oct|Nov|Dec"
)
_NUMBER_WORDS = (
    "one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|twenty|thirty|forty|"
    "fifty|sixty|seventy|eighty|ninety|hundred|thousand|million|billion|dozen|half|several"
)
_UNITS = (
    r"%|percent|per cent|million|billion|thousand|hundred|km|kilometres|kilometers|miles|"
    r"metres|meters|feet|ft|kg|tonnes|tons|pounds|dollars|euros|years?|months?|weeks?|days?|"
    r"hours?|minutes?|seconds?|people|times|centur(?:y|ies)"
)
_DATE = re.compile(
    rf"\b(?:(?:early|late|mid)[- ])?"
    rf"(?:(?:\d{{1,2}} )?(?:{_MONTHS})\.?(?: \d{{1,2}}(?:st|nd|rd|th)?)?,? \d{{3,4}}"
    rf"|\d{{1,2}}(?:st|nd|rd|th)(?: and \d{{1,2}}(?:st|nd|rd|th))? centur(?:y|ies)"
    rf"|\d{{4}}-\d{{2}}-\d{{2}}|\d{{3,4}}s?(?:\s*(?:BC|AD|BCE|CE))?)\b"
)
_NUMBER = re.compile(
    rf"(?:\$|£|€)?\b(?:\d[\d,.]*|(?:{_NUMBER_WORDS}))(?:[ -](?:{_NUMBER_WORDS}))*"
    rf"(?:\s*(?:{_UNITS})\b)?",
    re.IGNORECASE,
)
# A name: capitalised words, with "of", "the", "de", "and" between them ("University of Paris").
_NAME = re.compile(
    r"\b[A-Z][\w'’.-]*(?:\s+(?:(?:of|the|de|da|von|van|la|le|and|&)\s+)*[A-Z][\w'’.-]*)*"
)
_WORD = re.compile(r"[\w'’-]+")


def answer_phrase(question: str, sentence: str) -> tuple[int, int] | None:
    """(start, end) of the phrase in `sentence` that answers `question`; None when there is
    no phrase apart from the question's own words."""
    asked = {stem(w) for w in _WORD.findall(question.lower())}
    kind = answer_kind(question)
    if kind == "date":
        found = _nearest_new(_DATE, sentence, asked) or _nearest_new(_NUMBER, sentence, asked)
    elif kind == "number":
        found = _nearest_new(_NUMBER, sentence, asked)
    elif kind == "name":
        found = _nearest_new(_NAME, sentence, asked, skip_first_word=True)
    else:
        found = None
    return found or _new_words(sentence, question)


def _nearest_new(
    pattern: re.Pattern[str], sentence: str, asked: set[str], skip_first_word: bool = False
) -> tuple[int, int] | None:
    """The match the question does not already say that stands nearest the question's own
    words in the sentence (the first one when the sentence has none of them)."""
    stop = stopwords()
    said = [
        m.start()
        for m in _WORD.finditer(sentence)
        if m.group().lower() not in stop and stem(m.group().lower()) in asked
    ]
    found: list[tuple[int, int, int]] = []
    for match in pattern.finditer(sentence):
        text = match.group().strip(" ,.")
        if not text or (skip_first_word and match.start() == 0 and " " not in text):
            continue
        start = match.start() + match.group().find(text)
        end = start + len(text)
        if skip_first_word:  # a name: the title before it is the question's own words
            start, end = _without_asked_edges(sentence, start, end, asked)
        words = [stem(w) for w in _WORD.findall(sentence[start:end].lower())]
        if words and not all(w in asked for w in words):
            gap = min((max(a - end, start - a, 0) for a in said), default=0)
            found.append((gap, start, end))
    if not found:
        return None
    _, start, end = min(found)
    return start, end


def _without_asked_edges(sentence: str, start: int, end: int, asked: set[str]) -> tuple[int, int]:
    """The span without the question's own words at its ends ("U.S. National Security
    Advisor Mike Waltz" for "Who is the U.S. National Security Advisor?": "Mike Waltz")."""
    tokens = [m for m in _WORD.finditer(sentence, start, end)]
    while tokens and stem(tokens[0].group().lower()) in asked:
        tokens.pop(0)
    while tokens and stem(tokens[-1].group().lower()) in asked:
        tokens.pop()
    if not tokens:
        return start, start
    return tokens[0].start(), tokens[-1].end()


def _new_words(sentence: str, question: str) -> tuple[int, int] | None:
    """The longest run of the sentence's words the question does not use (stopwords inside
    a run, not at its ends), cut at punctuation: what the sentence adds."""
    asked = set(content_terms(question))
    stop = stopwords()
    best: tuple[int, int] | None = None
    run: list[re.Match[str]] = []
    for match in [*_WORD.finditer(sentence), None]:
        breaks = match is None or (
            run and re.search(r"[,;:()\"“”]", sentence[run[-1].end() : match.start()])
        )
        new = match is not None and stem(match.group().lower()) not in asked
        if breaks or not new:
            while run and run[-1].group().lower() in stop:
                run.pop()
            while run and run[0].group().lower() in stop:
                run.pop(0)
            if run and (best is None or run[-1].end() - run[0].start() > best[1] - best[0]):
                best = (run[0].start(), run[-1].end())
            run = []
        if new and match is not None:
            run.append(match)
    return best
