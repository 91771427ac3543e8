"""Follow-up questions carry the names of the earlier turns."""

from rag.answer.conversation import condense


def test_a_follow_up_without_names_inherits_the_previous_names():
    assert condense("Who does he speak for?", ["What did Peskov say?"]) == (
        "Who does he speak for? (Peskov)"
    )


def test_names_carry_through_several_follow_ups():
    first = condense("What did Trump say?", [])
    second = condense("Whose cooperation did he hope for?", [first])
    third = condense("Why?", [first, second])
    assert "Trump" in second and "Trump" in third


def test_a_question_with_its_own_name_is_kept_as_is():
    assert condense("And what did Putin say?", ["What did Trump say?"]) == (
        "And what did Putin say?"
    )


def test_the_first_question_is_unchanged():
    assert condense("Who does he speak for?", []) == "Who does he speak for?"
