"""Follow-up questions become standalone queries, without an LLM.

A pronoun takes the name the previous query was about ("Who does he speak for?" after
"What did Peskov say?" is "Who does Peskov speak for?"); "What about X?" asks the previous
question about X; a leading "And" is dropped; a follow-up that names no one and has no
pronoun carries the previous names in parentheses so retrieval still finds them.
"""

from __future__ import annotations

import re

from rag.answer.names import NAME_RUN, PERSON_PRONOUNS, POSSESSIVE_PRONOUNS
from rag.text import names_in, without_possessive

_LEADING_AND = re.compile(r"^(?:and|but|so|also)\s*,?\s+", re.IGNORECASE)
_WHAT_ABOUT = re.compile(r"^(?:what|how)\s+about\s+(.+?)\s*\??$", re.IGNORECASE)
_ABOUT_TAIL = re.compile(r"\s+(?:about|on|regarding)\s+.+$", re.IGNORECASE)
_PRONOUN = re.compile(rf"\b(?:{'|'.join(sorted(PERSON_PRONOUNS))})\b", re.IGNORECASE)


def _subject(query: str) -> str:
    """The first run of names in a query ("Vladimir Putin" in "What did Vladimir Putin say?",
    "Putin" in "What did Putin's spokesman say?")."""
    names = {without_possessive(name) for name in names_in(query)}
    for match in NAME_RUN.finditer(query):
        run = [w for w in match.group().rstrip(".").split() if w in names]
        if run:
            return " ".join(run)
    return ""


def condense(question: str, previous_queries: list[str]) -> str:
    """The standalone query for `question`, given the earlier turns' queries (oldest first)."""
    question = _LEADING_AND.sub("", question.strip())
    question = question[:1].upper() + question[1:]
    if not previous_queries:
        return question
    previous = previous_queries[-1]
    topic = _WHAT_ABOUT.match(question)
    if topic:
        frame = _ABOUT_TAIL.sub("", previous.rstrip(" ?"))
        return f"{frame} about {topic.group(1)}?"
    if names_in(question):
        return question
    subject = _subject(previous)
    if not subject:
        return question
    if _PRONOUN.search(question):
        return _PRONOUN.sub(lambda m: _replace(m.group(), subject), question, count=1)
    return f"{question} ({subject})"


def _replace(pronoun: str, subject: str) -> str:
    return f"{subject}’s" if pronoun.lower() in POSSESSIVE_PRONOUNS else subject
