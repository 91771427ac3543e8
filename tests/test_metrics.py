"""Eval scoring on hand-computed examples."""

import math

import pytest

from evals.metrics import (
    case_passed,
    citation_metrics,
    expected_recall,
    hit_curve,
    is_yes_no,
    normalize,
    phrase_found,
    retrieval_metrics,
    sources_cited,
)
from rag.loaders import read_source_text


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


EVIDENCE = ["alpha beta", "gamma  delta"]


def test_retrieval_metrics_on_a_hand_computed_ranking():
    passages = ["nothing here", "x gamma\ndelta y", "zzz", "alpha beta and more", "alpha beta"]
    m = retrieval_metrics(passages, EVIDENCE)
    assert m["hit@1"] == 0.0
    assert m["hit@3"] == 1.0 and m["hit@5"] == 1.0 and m["hit@10"] == 1.0
    assert m["evidence_recall@10"] == 1.0
    assert m["full_recall@10"] == 1.0
    assert m["mrr@10"] == pytest.approx(1 / 2)
    # gains at ranks 2 and 4; the ideal finds both snippets at ranks 1 and 2
    ideal = 1 + 1 / math.log2(3)
    assert m["ndcg@10"] == pytest.approx((1 / math.log2(3) + 1 / math.log2(5)) / ideal)


def test_retrieval_metrics_when_only_part_of_the_evidence_is_found():
    m = retrieval_metrics(["alpha beta"], EVIDENCE)
    assert m["hit@1"] == 1.0 and m["mrr@10"] == 1.0
    assert m["evidence_recall@10"] == 0.5
    assert m["full_recall@10"] == 0.0
    assert m["ndcg@10"] == pytest.approx(1 / (1 + 1 / math.log2(3)))


def test_retrieval_metrics_only_look_at_the_top_k():
    passages = ["no"] * 10 + ["alpha beta gamma delta"]
    m = retrieval_metrics(passages, EVIDENCE)
    assert m["hit@10"] == 0.0 and m["mrr@10"] == 0.0 and m["ndcg@10"] == 0.0
    assert hit_curve(["no", "alpha beta"], EVIDENCE) == [0.0] + [1.0] * 9


def test_citation_precision_and_validity():
    source = "Intro. alpha beta is here. Outro."
    citations = [
        {"source": "f", "start": 7, "end": 26, "quote": "alpha beta is here.", "passage": source},
        {"source": "f", "start": 0, "end": 5, "quote": "Wrong", "passage": "Intro only"},
    ]
    m = citation_metrics(citations, EVIDENCE, lambda path: source)
    assert m == {"citation_validity": 0.5, "citation_precision": 0.5, "fragment_rate": 1.0}

    assert citation_metrics([], EVIDENCE, lambda path: source) == {}
    assert "citation_precision" not in citation_metrics(citations, [], lambda path: source)


def test_sources_cited_is_the_share_of_source_files_some_citation_points_into():
    citations = [{"source": "/corpus/a.txt"}, {"source": "/corpus/a.txt"}, {"source": "/x/c.txt"}]
    assert sources_cited(["a.txt", "b.txt"], citations) == 0.5
    assert sources_cited(["a.txt", "c.txt"], citations) == 1.0
    assert sources_cited(["b.txt"], []) == 0.0


@pytest.mark.parametrize(
    ("expect", "yes_no"),
    [(["yes"], True), (["No."], True), (["Nobel"], False), ([], False), (["yes", "Oslo"], False)],
)
def test_is_yes_no(expect, yes_no):
    assert is_yes_no(expect) is yes_no


def test_a_citation_whose_file_is_gone_is_invalid_not_a_crash(tmp_path):
    citation = {"source": str(tmp_path / "gone.txt"), "start": 0, "end": 5, "quote": "Intro"}
    assert citation_metrics([citation], [], read_source_text) == {
        "citation_validity": 0.0,
        "fragment_rate": 0.0,
    }


_WRAPPED = (
    "Why do threads show?\n\n\tThe 2.4.xx kernel does not provide proper support for\n"
    "\tgrouping threads by process.  Hacks exist.\n\n* `libnss_mdns4.so.2`\n* IPv6 only\n\n"
    "    ps -o pid,user:19,comm\n"
)


@pytest.mark.parametrize(
    ("quote", "fragment"),
    [
        (_WRAPPED[23:106], False),  # the whole sentence across its wrapped line
        ("Hacks exist.", False),
        ("The 2.4.xx kernel does not provide proper support for", True),  # a wrapped line
        ("grouping threads by process.", True),  # the line after a wrap
        ("Why do threads show?", True),  # a question quoted as an answer
        ("`libnss_mdns4.so.2`", False),  # a list item is whole without a full stop
        ("IPv6 only", False),
        ("ps -o pid,user:19,comm", False),  # a code block
    ],
)  # fmt: skip
def test_a_fragment_is_a_piece_of_a_sentence_or_a_question(quote, fragment):
    start = _WRAPPED.index(quote)
    citation = {"source": "faq.md", "start": start, "end": start + len(quote), "quote": quote}
    assert citation_metrics([citation], [], lambda path: _WRAPPED)["fragment_rate"] == fragment
