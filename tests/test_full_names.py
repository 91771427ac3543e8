""" "Who…?" answered by a surname: the answer leads with the sentence that holds the answer
and brings the sentence that introduces the person in full (real SQuAD text, ingested)."""

import pytest

from rag.answer.question import holds_kind
from rag.config import Settings
from rag.engine import RagEngine

ARTICLE = "squad-v2/corpus/squad2-13-imperialism.txt"
INTRODUCED = "was a geographer named Isiah Bowman."
QUESTION = "Who was the director of the American Geographical Society in 1914?"


@pytest.fixture(scope="module")
def engine(tmp_path_factory, datasets) -> RagEngine:
    """The article's paragraph on Bowman, as it stands in the corpus, ingested."""
    text = (datasets / ARTICLE).read_text(encoding="utf-8")
    paragraph = next(p for p in text.split("\n\n") if INTRODUCED in p)
    root = tmp_path_factory.mktemp("bowman")
    (root / "corpus").mkdir()
    (root / "corpus" / "american-empire.txt").write_text(f"American Empire\n\n{paragraph}\n")
    engine = RagEngine(Settings(data_dir=root / "data"))
    engine.ingest([root / "corpus"])
    return engine


@pytest.mark.slow
def test_who_answered_by_a_surname_brings_the_full_name_and_leads_with_the_answer(engine):
    answer = engine.ask(QUESTION)
    assert not answer.refused
    assert answer.text.startswith("Bowman was the director of the American Geographical Society")
    assert "Isiah Bowman" in answer.text
    # Adjacent sentences of one passage are quoted (and cited) as one span.
    assert "Isiah Bowman. Bowman was the director" in answer.citations[0].quote


def test_a_name_may_open_the_sentence_when_the_passage_writes_it_inside_one():
    context = "One key figure was a geographer named Isiah Bowman. Bowman was the director."
    sentence = "Bowman was the director."
    assert holds_kind("name", sentence, QUESTION, context)
    assert not holds_kind("name", sentence, QUESTION)  # no passage: the opening word is no name
    assert not holds_kind("name", "Three years later he left.", QUESTION, "Three years later.")
