"""Quotations and their speakers, on the seed article and on sentences shaped like it."""

import pytest

from rag.answer.attribution import attributions
from tests.conftest import SEED_FILE

SEED_TEXT = SEED_FILE.read_text(encoding="utf-8")


def _speakers(text: str) -> list[tuple[str | None, str]]:
    """(speaker, shown span) of every quotation."""
    return [
        (a.speaker.text if a.speaker else None, text[a.start : a.end]) for a in attributions(text)
    ]


def test_every_quotation_of_the_seed_article_has_its_speaker():
    speakers = [s for s, _ in _speakers(SEED_TEXT)]
    assert speakers == [
        "President Trump",
        "Ukrainian President Volodymyr Selenskyj",
        "General Valery Gerasimov",
        "British Prime Minister Keir Starmer",
        "Putin",
        "Dmitri Peskov",
        None,  # "they stated": the sentence before names no one in full
    ]


def test_the_speaker_before_the_quote_even_past_an_apposition():
    (speaker, shown), *_ = [s for s in _speakers(SEED_TEXT) if s[0] == "Dmitri Peskov"]
    assert shown.startswith("Dmitri Peskov, spokesperson for the Kremlin, indicated")
    assert shown.endswith("“First, we must have all details of the offer.”")


def test_the_speaker_after_the_quote():
    text = "“We must defeat the enemy in Kursk,” Putin asserted, reflecting a stance."
    assert _speakers(text) == [("Putin", text)]


def test_the_speaker_in_the_next_short_sentence():
    text = "Talks stalled. “We will not move. Not one step.” Putin asserted. Later, talks resumed."
    assert _speakers(text) == [("Putin", "“We will not move. Not one step.” Putin asserted.")]


def test_a_pronoun_speaker_is_the_full_name_in_the_sentence_before():
    text = (
        "Ukrainian President Volodymyr Selenskyj considered the proposal. "
        "He elaborated, “We must move toward peace,” underscoring the need for pressure."
    )
    [(speaker, shown)] = _speakers(text)
    assert speaker == "Ukrainian President Volodymyr Selenskyj"
    assert shown == text  # both sentences: the one naming him and the one quoting him


def test_a_multi_sentence_quote_is_shown_whole():
    text = 'Marco Rubio said: "Sanctions matter. They will stay. We are firm." Then he left.'
    [(speaker, shown)] = _speakers(text)
    assert speaker == "Marco Rubio"
    assert shown.startswith('Marco Rubio said: "Sanctions matter.')
    assert 'We are firm."' in shown


def test_a_nested_quote_stays_inside_its_quotation():
    text = "Keir Starmer warned: “They call it ‘a pause’, but it is a retreat.” The talks went on."
    [attribution] = attributions(text)
    assert attribution.speaker is not None and attribution.speaker.text == "Keir Starmer"
    assert text[attribution.quote_start : attribution.quote_end] == (
        "“They call it ‘a pause’, but it is a retreat.”"
    )


@pytest.mark.parametrize(
    "text",
    [
        "Reports indicate the significant fall of Sudscha.",
        "Western leaders are getting involved. Nobody is quoted here at all.",
    ],
)
def test_text_without_quotation_marks_has_no_attributions(text):
    assert attributions(text) == []


def test_straight_and_curly_quotes_both_count():
    curly = "Anna Lee said, “Go now.”"
    straight = 'Anna Lee said, "Go now."'
    assert _speakers(curly)[0][0] == _speakers(straight)[0][0] == "Anna Lee"
