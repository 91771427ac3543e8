"""Follow-up questions become standalone queries, without an LLM."""

from __future__ import annotations

from rag.text import names_in


def condense(question: str, previous_queries: list[str]) -> str:
    """A follow-up that names no one ("Who does he speak for?") inherits the last names used.

    `previous_queries` are the standalone queries of the earlier turns, oldest first, so a
    name carries through several follow-ups.
    """
    if names_in(question) or not previous_queries:
        return question
    carried = names_in(previous_queries[-1])
    if not carried:
        return question
    return f"{question} ({' '.join(dict.fromkeys(carried))})"
