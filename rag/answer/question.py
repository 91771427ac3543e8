"""What a question asks for: the kind of answer (a number, a year, a name), its negation, and
what it states that the answer must not contradict (its numbers, the sense of its words)."""

from __future__ import annotations

import re
from collections.abc import Collection

from rag.text import stem, words

# Lower-case, or opening the text: a capitalised "Not" inside is part of a title ("I Am Not Homer").
_NEGATION = re.compile(
    r"\b(?:not|never|no|none|nor|without)\b|n['’]t\b|^\s*(?:Not|Never|No|None|Nor|Without)\b"
)
_NUMBER_QUESTION = re.compile(
    r"^(?:.*\b(?:how (?:many|much|long|old|far|large|big)|what (?:year|decade|century|"
    r"percentage|percent|number|amount|age|date|version|release)|in what year|which year|"
    r"which (?:version|release)|(?:what|which) \w+ (?:version|release)|"
    # A price asked without "how much": "What does X cost?", "What was the price of X?"
    r"what (?:does|did|do|would|will) [\w\s'-]+ cost|"
    r"what (?:is|was|were|are) the (?:price|cost|fee|fare|salary) of)\b)",
    re.IGNORECASE,
)
_WHEN_QUESTION = re.compile(
    r"^(?:when|since when|until when)\b|\b(?:what|which) month\b", re.IGNORECASE
)
_PERSON_QUESTION = re.compile(r"^(?:who|whom|whose)\b|\bby whom\b", re.IGNORECASE)
# Where, or a place asked by its kind ("in what city", "which country"): a name answers.
_PLACE_QUESTION = re.compile(
    r"^where\b|\b(?:what|which) (?:city|country|state|town|county|continent|nation|"
    r"region|province|island|village)\b",
    re.IGNORECASE,
)
_NUMBER = re.compile(
    r"\d|\b(?:one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|twenty|thirty|"
    r"forty|fifty|hundred|thousand|million|billion|dozen|half|several)\b",
    re.IGNORECASE,
)
_DATE_WORD = re.compile(
    r"\d|\b(?:January|February|March|April|May|June|July|August|September|October|November|"
    r"December|century|decade|year|years|ago|since|during|until|after|before|today|now)\b",
    re.IGNORECASE,
)


_HOW_MANY = re.compile(r"\bhow many\s+((?:[\w-]+\s*){1,3})", re.IGNORECASE)


def counted_noun(question: str) -> str:
    """What "how many" counts ("How many US Presidents…": "Presidents"), or "" if unclear."""
    match = _HOW_MANY.search(question)
    following = match.group(1).split() if match else []
    # The counted noun is plural: the first word of the next three that looks it.
    return next((w for w in following if len(w) > 3 and w.lower().endswith("s")), "")


def is_negated(text: str) -> bool:
    """Whether the text holds a negation (not, never, n't…)."""
    return bool(_NEGATION.search(text))


def answer_kind(question: str) -> str:
    """ "number", "date", "name" (a person or place) or "" (no kind checked), from the
    question's wording."""
    q = question.strip()
    if _NUMBER_QUESTION.match(q):
        return "number"
    if _WHEN_QUESTION.match(q):
        return "date"
    if _PERSON_QUESTION.search(q) or _PLACE_QUESTION.search(q):
        return "name"
    return ""


def holds_kind(kind: str, sentence: str, question: str, context: str = "") -> bool:
    """Whether the sentence holds an answer of that kind that the question does not already.

    A name may open the sentence when `context` (its passage) writes that word capitalised
    inside a sentence too ("Bowman was…" after "…named Isiah Bowman"; not "Three years…").
    """
    if kind == "number":
        return bool(_NUMBER.search(_without(sentence, question)))
    if kind == "date":
        return bool(_DATE_WORD.search(_without(sentence, question)))
    if kind == "name":
        asked = {w.lower() for w in words(question)}
        tokens = words(sentence)
        if tokens and _named_inside(tokens[0], context) and tokens[0].lower() not in asked:
            return True
        return any(w[0].isupper() and w.lower() not in asked for w in tokens[1:])
    return True


def _named_inside(word: str, context: str) -> bool:
    return word[:1].isupper() and re.search(rf"\w[ \t]+{re.escape(word)}\b", context) is not None


def _without(sentence: str, question: str) -> str:
    # A number the question already states ("in 1191") is not the answer.
    for token in set(re.findall(r"\d[\d,.]*", question)):
        sentence = sentence.replace(token, " ")
    return sentence


# Thousands groups have three digits: "May 20,1908" is 20 and 1908, not 201908.
_DIGITS = re.compile(r"\d+(?:,\d{3}(?!\d))*(?:\.\d+)*")


def _numbers(text: str) -> set[str]:
    # "4,000" is "4000"; "0.300" is ".300" (a batting average written either way): "300".
    return {n.replace(",", "").removeprefix("0.") for n in _DIGITS.findall(text)}


# "over 100 years", "about 40 people": a bound or an estimate, not a figure to find as such.
_APPROXIMATE = re.compile(
    r"\b(?:over|more than|less than|fewer than|about|around|nearly|almost|at least|"
    r"at most|roughly|approximately|some)\s+\d[\d,.]*",
    re.IGNORECASE,
)


def numbers_missing(question: str, text: str) -> list[str]:
    """The numbers the question states ("in the 1930's", "10th century") that the text lacks.

    Digits only: number words ("one problem", "two resources") are often not quantities.
    Approximate ones ("over 100 years") are not asked to be found as written.
    """
    return sorted(_numbers(_APPROXIMATE.sub(" ", question)) - _numbers(text))


# Prefixes that turn a word into its opposite (unsuccessful, dislike, non-violent), and
# prefix pairs that do (overrepresented / underrepresented, accelerate / decelerate).
_NEGATING_PREFIXES = ("un", "in", "im", "dis", "non")
_OPPOSED_PREFIXES = (("over", "under"), ("ac", "de"), ("in", "ex"), ("max", "min"))
_MIN_ROOT = 5  # shorter roots collide ("form" / "inform")


def _opposed(a: str, b: str) -> bool:
    """Whether two stems differ by a prefix that reverses the meaning."""
    for x, y in ((a, b), (b, a)):
        if any(x == p + y for p in _NEGATING_PREFIXES) and len(y) >= _MIN_ROOT:
            return True
        for p, q in _OPPOSED_PREFIXES:
            root = x[len(p) :]
            if x.startswith(p) and y == q + root and len(root) >= _MIN_ROOT:
                return True
    return False


def opposite_in(question: str, missing: Collection[str], text: str) -> tuple[str, str] | None:
    """A question word the text lacks (its stem in `missing`) whose opposite the text says
    instead ("decelerate": "accelerate"), as (question word, text word); else None."""
    asked = {stem(w): w for w in words(question) if stem(w) in missing}
    said = {stem(w): w for w in words(text)}
    for q_stem, q_word in asked.items():
        for t_stem, t_word in said.items():
            if _opposed(q_stem, t_stem):
                return q_word, t_word
    return None
