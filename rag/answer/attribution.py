"""Quotations and who said them, as the text attributes them (no parser, no model).

A quotation is text between double quotes (curly, straight or guillemets); single quotes
inside it are nested and stay part of it. Its speaker is the name that opens the sentence
before a speech verb ("Peskov insisted, “…”"), the name right after it ("“…,” Putin
asserted"), a short next sentence that does so, or a pronoun ("He elaborated, “…”") that
points back to the last full name in the sentences before.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from rag.answer.names import NameMention, is_pronoun, name_mentions
from rag.text import sentence_spans, stem, words

SPEECH_VERBS = frozenset(
    stem(w)
    for w in (
        "say said says tell told state stated stating claim insist announce warn ask call "
        "speak spoke comment describe assert elaborate add note stress write wrote label "
        "declare explain urge reply argue promise vow indicate"
    ).split()
)
_QUOTE = re.compile(r"“[^“”]*”|\"[^\"]*\"|«[^«»]*»|„[^„“”]*[“”]")
# How many words may stand between a speaker and its verb ("Peskov, spokesperson for the
# Kremlin, insisted" needs six).
_VERB_REACH = 7
_BACK_SENTENCES = 2


@dataclass(frozen=True)
class Attribution:
    """A quotation, the span to show with it (its attribution included) and its speaker."""

    quote_start: int
    quote_end: int
    start: int
    end: int
    speaker: NameMention | None
    by_pronoun: bool


def _has_speech_verb(text: str) -> bool:
    return any(stem(w) in SPEECH_VERBS for w in words(text)[:_VERB_REACH])


def _blank_quotes(text: str) -> str:
    # Offsets stay put; a name inside a quotation is not its speaker.
    return _QUOTE.sub(lambda m: " " * len(m.group()), text)


def _speaker_in(
    text: str, a: int, b: int, quote_start: int, quote_end: int
) -> tuple[NameMention | None, bool]:
    """The speaker named between a and b (a sentence or two), or (None, True) for a pronoun."""
    outside = _blank_quotes(text[:b])[:b]
    mentions = [m for m in name_mentions(outside[a:b]) if True]
    mentions = [NameMention(m.start + a, m.end + a, m.text, m.terms) for m in mentions]
    before = [m for m in mentions if m.end <= quote_start]
    if before and _has_speech_verb(outside[before[0].end : quote_start]):
        return before[0], False
    tail = outside[quote_end:b]
    tail_words = words(tail)
    for m in mentions:
        right_after = m.start >= quote_end and not tail[: m.start - quote_end].strip(" ,.\t")
        if right_after and _has_speech_verb(outside[m.end : b]):
            return m, False
    if tail_words and is_pronoun(tail_words[0]) and _has_speech_verb(tail):
        return None, True
    head = words(outside[a:quote_start])
    if head and is_pronoun(head[0]) and _has_speech_verb(outside[a:quote_start]):
        return None, True
    near_verb = [m for m in mentions if _has_speech_verb(outside[m.end : b])]
    return (near_verb[0] if near_verb else None), False


def _last_full_name(text: str, spans: list[tuple[int, int]]) -> NameMention | None:
    for a, b in reversed(spans):
        named = [m for m in name_mentions(text[a:b]) if len(m.text.split()) >= 2]
        if named:
            m = named[-1]
            return NameMention(m.start + a, m.end + a, m.text, m.terms)
    return None


def attributions(text: str) -> list[Attribution]:
    """Every quotation of the text with its speaker (None where the text names none)."""
    spans = sentence_spans(text)
    found = []
    for match in _QUOTE.finditer(text):
        q0, q1 = match.span()
        first = next((i for i, (a, b) in enumerate(spans) if a <= q0 < b), None)
        last = next((i for i, (a, b) in enumerate(spans) if a < q1 <= b), first)
        if first is None or last is None:
            continue
        a, b = spans[first][0], spans[last][1]
        speaker, by_pronoun = _speaker_in(text, a, b, q0, q1)
        if speaker is None and not by_pronoun and last + 1 < len(spans):
            na, nb = spans[last + 1]
            next_words = words(text[na:nb])
            if len(next_words) <= 6:  # "Putin asserted." standing as its own sentence
                speaker, by_pronoun = _speaker_in(text, a, nb, q0, q1)
                if speaker or by_pronoun:
                    b = nb
        if by_pronoun:
            earlier = spans[max(0, first - _BACK_SENTENCES) : first]
            speaker = _last_full_name(text, earlier)
            if speaker is not None:
                a = min(a, next(sa for sa, sb in earlier if sa <= speaker.start < sb))
        found.append(Attribution(q0, q1, a, b, speaker, by_pronoun))
    return found
