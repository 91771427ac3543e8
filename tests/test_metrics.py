"""Eval scoring on hand-computed examples."""

import pytest

from evals.metrics import case_passed, expected_recall, normalize, phrase_found


def test_normalize_folds_case_accents_and_punctuation():
    assert normalize("  “Sudscha”,  Kursk!  Café ") == "sudscha kursk cafe"


@pytest.mark.parametrize(
    ("expected", "text", "found"),
    [
        ("all details of the offer", "“First, we must have ALL details of the offer.”", True),
        ("no sense in continuing|actively surrendered", "they actively surrendered.", True),
        ("Putin", "Vladimir Putin's visit", True),
        ("Put", "Vladimir Putin", False),  # whole words only
        ("resumed", "it has not been said", False),
    ],
)
def test_phrase_found(expected, text, found):
    assert phrase_found(expected, text) is found


def test_expected_recall_is_the_share_of_phrases_found():
    assert expected_recall(["a b", "c", "zzz"], "A b, c.") == pytest.approx(2 / 3)
    assert expected_recall([], "anything") == 1.0


def test_a_case_passes_when_answered_fully_or_refused_when_unanswerable():
    answered = {"refused": False, "text": "Waltz confirmed it [1]"}
    refused = {"refused": True, "text": "The documents don't say."}
    assert case_passed({"expect": ["Waltz"]}, answered)
    assert not case_passed({"expect": ["Waltz", "Rubio"]}, answered)
    assert not case_passed({"expect": ["Waltz"]}, refused)
    assert case_passed({"answerable": False}, refused)
    assert not case_passed({"answerable": False}, answered)
