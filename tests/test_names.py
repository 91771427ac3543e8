"""Names resolved across spellings, titles and appositions, on the seed article."""

import pytest

from rag.answer.conversation import condense
from rag.answer.matching import name_spelling
from rag.answer.names import PERSON_PRONOUNS, best_matching, name_mentions, surname
from rag.text import content_terms, sentence_spans, stem
from tests.conftest import SEED_FILE

SEED_TEXT = SEED_FILE.read_text(encoding="utf-8")
MENTIONS = [m for a, b in sentence_spans(SEED_TEXT) for m in name_mentions(SEED_TEXT[a:b])]
VOCABULARY = frozenset(content_terms(SEED_TEXT))


def _who(description: str) -> set[str]:
    """The surnames of the people a description of someone resolves to."""
    return {surname(m) for m in best_matching(MENTIONS, content_terms(description))}


@pytest.mark.parametrize(
    ("asked", "written"),
    [
        ("Sudzha", "sudscha"),
        ("Zelensky", "selenskyj"),
        ("Peskov", "peskov"),
        ("Gerasimow", "gerasimov"),
    ],
)
def test_transliterations_find_the_spelling_of_the_text(asked, written):
    assert name_spelling(stem(asked), VOCABULARY) == written


@pytest.mark.parametrize("absent", ["Macron", "Merkel", "Sochi"])
def test_names_the_text_lacks_are_not_matched_to_lookalikes(absent):
    assert name_spelling(stem(absent), VOCABULARY) is None


@pytest.mark.parametrize(
    ("description", "person"),
    [
        ("Peskov", "peskov"),
        ("Dmitri Peskov", "peskov"),
        ("the Kremlin spokesman", "peskov"),  # the apposition "spokesperson for the Kremlin"
        ("the British Prime Minister", "starmer"),  # the title written before the name
        ("Keir Starmer", "starmer"),
        ("the Ukrainian military chief", "syrskyj"),  # "the … chief, Oleksandr Syrskyj"
        ("Valery Gerasimov", "gerasimov"),
    ],
)
def test_a_person_resolves_by_surname_full_name_title_or_apposition(description, person):
    assert person in _who(description)


def test_a_description_matching_too_little_resolves_to_no_one():
    assert _who("the Chinese foreign minister of trade") == set()


@pytest.mark.parametrize("pronoun", sorted(PERSON_PRONOUNS | {"it", "we", "i", "you"}))
def test_a_capitalised_pronoun_opens_no_name(pronoun):
    """One pronoun list for names and follow-ups: "Him", "Them" and "Hers" opened names
    here while the follow-up resolver knew them as pronouns."""
    text = f"{pronoun.capitalize()} Keir Starmer praised."
    assert [m.text for m in name_mentions(text)] == ["Keir Starmer"]


@pytest.mark.parametrize("pronoun", sorted(PERSON_PRONOUNS))
def test_every_person_pronoun_of_a_follow_up_takes_the_earlier_name(pronoun):
    standalone = condense(f"Why did {pronoun} agree?", ["What did Peskov say?"])
    assert "Peskov" in standalone and f" {pronoun} " not in standalone
