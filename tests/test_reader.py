"""The reader: its shipped weights, its training, the answer phrase, and what it changes in
answers (refusals, confidence, the three states), on the seed article."""

import hashlib
import json
import math
import shutil

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rag import RagEngine, Settings
from rag.cli import render
from rag.errors import ModelMissingError
from rag.loaders import read_source_text
from rag.reader.dataset import build_examples, load_questions
from rag.reader.features import FEATURES
from rag.reader.model import load_reader, weights_path
from rag.reader.span import answer_phrase
from rag.reader.train import fit, main, predict


def _shipped() -> dict:
    return json.loads(weights_path().read_text())


def test_the_shipped_weights_load_and_match_their_sha256():
    path = weights_path()
    expected = path.with_name(path.name + ".sha256").read_text().split()[0]
    assert hashlib.sha256(path.read_bytes()).hexdigest() == expected
    reader = load_reader()
    assert len(reader.coef) == len(FEATURES) == len(_shipped()["features"])
    assert 0 < reader.refuse_below < reader.confirm_above < 1


def test_damaged_weights_are_refused_with_what_to_do(tmp_path):
    copy = tmp_path / "reader.json"
    shutil.copy(weights_path(), copy)
    shutil.copy(weights_path().with_name("reader.json.sha256"), tmp_path)
    copy.write_text(copy.read_text().replace('"intercept": ', '"intercept": 1'))
    with pytest.raises(ModelMissingError, match="damaged.*rag.reader.train"):
        load_reader(copy)
    (tmp_path / "reader.json.sha256").unlink()
    with pytest.raises(ModelMissingError, match="missing"):
        load_reader(copy)


def test_the_shipped_reader_beats_the_rules_out_of_fold():
    """Its cross-validated numbers on train (paragraphs held out), as it was shipped with."""
    metrics = _shipped()["cross_validation"]["metrics"]
    assert metrics["answerability_auc"] >= 0.70
    assert metrics["reader_top_holds_answer"] > metrics["rules_top_holds_answer"] + 0.02
    assert metrics["false_refusal_rate"] <= 0.03
    assert metrics["ece"] <= 0.06
    curve = _shipped()["cross_validation"]["learning_curve"]
    assert curve["0.25"]["answerability_auc"] < curve["1.0"]["answerability_auc"]


@pytest.mark.parametrize(
    ("question", "sentence", "phrase"),
    [
        (
            "When were the Normans in Normandy?",
            "The Normans were the people who in the 10th and 11th centuries gave their name "
            "to Normandy, a region in France.",
            "10th and 11th centuries",
        ),
        (
            "In what country is Normandy located?",
            "Normandy is a region in France.",
            "France",
        ),
        (
            "Who was the Norse leader?",
            "They were descended from Norse raiders from Denmark, Iceland and Norway who, "
            "under their leader Rollo, agreed to swear fealty.",
            "Rollo",
        ),
        ("How many people died?", "The fire killed 3,000 people in two days.", "3,000 people"),
        ("What does lsof stand for?", "Its name stands for LiSt Open Files.", "LiSt Open Files"),
    ],
)
def test_the_answer_phrase_is_what_the_question_asks_for(question, sentence, phrase):
    found = answer_phrase(question, sentence)
    assert found is not None and sentence[found[0] : found[1]] == phrase


_WORDS = st.text(alphabet="abcXYZ019 ,.-", min_size=0, max_size=80)


@settings(max_examples=200, deadline=None)
@given(question=_WORDS, sentence=_WORDS)
def test_an_answer_phrase_is_always_inside_its_sentence(question, sentence):
    found = answer_phrase(question + "?", sentence)
    if found is not None:
        assert 0 <= found[0] < found[1] <= len(sentence)
        assert sentence[found[0] : found[1]].strip() == sentence[found[0] : found[1]]


@pytest.fixture(scope="module")
def squad_slice(tmp_path_factory, datasets):
    """Two SQuAD articles and their training questions."""
    squad = datasets / "squad-v2"
    root = tmp_path_factory.mktemp("reader-train")
    names = ["squad2-07-packet-switching.txt", "squad2-05-1973-oil-crisis.txt"]
    (root / "corpus").mkdir()
    for name in names:
        shutil.copy(squad / "corpus" / name, root / "corpus" / name)
    lines = [
        line
        for line in (squad / "train.jsonl").read_text().splitlines()
        if json.loads(line)["source_ids"][0] in names
    ]
    (root / "train.jsonl").write_text("\n".join(lines) + "\n")
    return root


@pytest.mark.slow
def test_training_on_a_slice_lowers_the_loss_and_is_deterministic(squad_slice):
    engine = RagEngine(Settings(data_dir=squad_slice / "data"))
    engine.ingest([squad_slice / "corpus"])
    questions = load_questions(squad_slice / "train.jsonl")
    examples = build_examples(questions, lambda q: engine.retrieve(q, 10))
    labels = examples.labels
    assert labels.any() and not labels.all()
    prior = labels.mean()
    before = -np.mean(labels * math.log(prior) + (1 - labels) * math.log(1 - prior))
    weights = fit(examples.features, labels, 1.0)
    p = np.clip(predict(weights, examples.features), 1e-9, 1 - 1e-9)
    after = -np.mean(labels * np.log(p) + (1 - labels) * np.log(1 - p))
    assert after < 0.8 * before
    again = fit(examples.features, labels, 1.0)
    assert np.array_equal(again["coef"], weights["coef"])


@pytest.mark.slow
def test_the_training_command_writes_a_model_the_reader_loads(squad_slice):
    out = squad_slice / "model"
    args = ["--train", str(squad_slice / "train.jsonl"), "--corpus", str(squad_slice / "corpus")]
    args += ["--data-dir", str(squad_slice / "data"), "--out", str(out)]
    assert main(args) == 0
    reader = load_reader(out / "reader.json")
    assert 0 < reader.refuse_below < 1
    card = (out / "MODEL_CARD.md").read_text()
    assert hashlib.sha256((out / "reader.json").read_bytes()).hexdigest() in card
    first = (out / "reader.json").read_bytes()
    assert main(args) == 0
    assert (out / "reader.json").read_bytes() == first  # deterministic


@pytest.mark.slow
class TestOnTheSeedArticle:
    """The answers a new user asking about the seed article got wrong before the reader."""

    def test_a_birth_date_the_article_does_not_give_is_refused(self, seed_engine):
        assert seed_engine.ask("When was Peskov born?").refused

    def test_a_death_toll_the_article_does_not_give_is_refused(self, seed_engine):
        assert seed_engine.ask("How many people died in the war?").refused

    def test_an_unrelated_prize_is_refused_or_flagged(self, seed_engine):
        answer = seed_engine.ask("Who won the Nobel Peace Prize in 2025?")
        assert answer.refused or (answer.possibly_related and "Possibly related" in answer.notice)

    def test_what_putin_said_on_his_visit_is_his_quotation(self, seed_engine):
        answer = seed_engine.ask("What did Putin say during his visit to Kursk?")
        assert "We must defeat the enemy in Kursk" in answer.text
        assert "Putin asserted" in answer.text

    @pytest.mark.parametrize("question", ["Summarize the article.", "What is the article about?"])
    def test_what_the_article_is_about_is_its_opening(self, seed_engine, question):
        answer = seed_engine.ask(question)
        assert not answer.refused
        assert answer.text.startswith("Diplomatic Efforts Intensify Amid Ceasefire Hope")
        assert answer.citations[0].start == 0

    def test_when_the_article_was_published_is_its_dateline(self, seed_engine):
        answer = seed_engine.ask("When was the article published?")
        assert not answer.refused
        assert answer.answer_span is not None and answer.answer_span.text == "March 13, 2025"

    def test_a_sentence_is_never_cited_twice(self, seed_engine):
        answer = seed_engine.ask("What did the Chinese foreign minister say?")
        places = [(c.source, c.start) for c in answer.citations]
        assert len(places) == len(set(places))
        assert answer.text.count("China's foreign minister expressed hope") == 1

    @pytest.mark.parametrize(
        "question",
        [
            "Who is the U.S. National Security Advisor?",
            "When was the article published?",
            "How long is the proposed ceasefire?",
            "Which town did Russian forces capture?",
        ],
    )
    def test_an_answer_span_is_verbatim_and_confidence_is_a_probability(
        self, seed_engine, question
    ):
        answer = seed_engine.ask(question)
        assert not answer.refused
        span = answer.answer_span
        assert span is not None
        assert read_source_text(span.source)[span.start : span.end] == span.text
        assert any(c.start <= span.start < span.end <= c.end for c in answer.citations)
        data = answer.to_dict()
        assert data["answer_span"] == {
            "text": span.text,
            "source": span.source,
            "start": span.start,
            "end": span.end,
        }
        if answer.confidence is not None:
            assert 0 <= answer.confidence <= 1
        bold = render(answer, bold=True)
        assert f"\033[1m{' '.join(span.text.split())}\033[0m" in bold


def test_rendering_without_a_span_leaves_the_text_alone():
    from rag.types import Answer

    answer = Answer("q", "q", "Plain text. [1]", [], [])
    assert render(answer, bold=True).startswith("Plain text. [1]")
