"""Scoring of one answer against its labelled case."""

from __future__ import annotations

import re
import unicodedata

_NOT_WORD = re.compile(r"[\W_]+")


def normalize(text: str) -> str:
    """Lower case, accents folded, punctuation and whitespace differences removed."""
    folded = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return _NOT_WORD.sub(" ", folded.lower()).strip()


def phrase_found(expected: str, answer_text: str) -> bool:
    """Whether one `expect` entry occurs in the answer; `a|b` accepts either alternative."""
    haystack = f" {normalize(answer_text)} "
    return any(f" {normalize(alt)} " in haystack for alt in expected.split("|") if alt.strip())


def expected_recall(expect: list[str], answer_text: str) -> float:
    """Share of `expect` entries the answer contains (1.0 when nothing is expected)."""
    if not expect:
        return 1.0
    return sum(phrase_found(e, answer_text) for e in expect) / len(expect)


def case_passed(case: dict, answer: dict) -> bool:
    """Answerable: not refused and every expected phrase present. Unanswerable: refused."""
    if not case.get("answerable", True):
        return bool(answer["refused"])
    return not answer["refused"] and expected_recall(case.get("expect", []), answer["text"]) == 1.0
