"""Follow-up questions become standalone queries carrying the earlier turns' names."""

import pytest

from rag.answer.conversation import condense
from rag.loaders import read_source_text


@pytest.mark.parametrize(
    ("question", "previous", "standalone"),
    [
        ("Who does he speak for?", "What did Peskov say?", "Who does Peskov speak for?"),
        # The name, not its possessive ("Who does Putin's speak for?" before one run rule).
        ("Who does he speak for?", "What did Putin's spokesman say?", "Who does Putin speak for?"),
        ("Who does he speak for?", "What did Putin’s aide say?", "Who does Putin speak for?"),
        ("What did he count?", "What did O'Brien say?", "What did O'Brien count?"),
        ("What did his spokesman say?", "What did Putin say?", "What did Putin’s spokesman say?"),
        ("And what did Putin say?", "What did Trump say?", "What did Putin say?"),
        (
            "What about the sanctions?",
            "What did Rubio say about Kursk?",
            "What did Rubio say about the sanctions?",
        ),
        ("Why?", "What did Trump say?", "Why? (Trump)"),
        (
            "Whose cooperation did he hope for?",
            "What did Vladimir Putin say about Kursk?",
            "Whose cooperation did Vladimir Putin hope for?",
        ),
    ],
)
def test_a_follow_up_becomes_standalone(question, previous, standalone):
    assert condense(question, [previous]) == standalone


def test_names_carry_through_several_follow_ups():
    first = condense("What did Trump say?", [])
    second = condense("Whose cooperation did he hope for?", [first])
    third = condense("Why?", [first, second])
    assert "Trump" in second and "Trump" in third


def test_the_first_question_is_unchanged():
    assert condense("Who does he speak for?", []) == "Who does he speak for?"


@pytest.mark.slow
def test_a_three_turn_conversation_on_the_real_index(seed_engine):
    history: list[str] = []
    answers = []
    for turn in ["What did Peskov say?", "Who does he speak for?", "And what did Putin say?"]:
        answers.append(seed_engine.ask(turn, history=history))
        history.append(answers[-1].query)
    first, second, third = answers
    assert "First, we must have all details of the offer." in first.text
    assert second.query == "Who does Peskov speak for?"
    assert "spokesperson for the Kremlin" in second.text
    assert third.query == "What did Putin say?"
    assert "“We must defeat the enemy in Kursk and completely liberate the area,” Putin" in (
        third.text
    )
    for answer in answers:
        assert not answer.refused
        for citation in answer.citations:
            assert read_source_text(citation.source)[citation.start : citation.end] == (
                citation.quote
            )
