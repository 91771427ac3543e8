"""The whole path on the real model and a real FAISS index persisted on disk."""

import json
import os
import shutil
import subprocess
import sys

import pytest

from rag import (
    DocumentNotFoundError,
    IndexCorruptError,
    IndexMissingError,
    RagEngine,
    RagError,
    Settings,
)
from rag.loaders import read_source_text
from tests.conftest import ROOT

pytestmark = pytest.mark.slow

PESKOV_QUOTE = "First, we must have all details of the offer."
SEED_NAME = "ukraine-russia-ceasefire-2025-03-13.txt"


def _assert_citations_verbatim(answer):
    for citation in answer.citations:
        assert read_source_text(citation.source)[citation.start : citation.end] == citation.quote


def test_a_reloaded_index_answers_with_the_quote_verbatim_in_the_file(seed_engine):
    answer = seed_engine.ask("What did Peskov say?")
    assert not answer.refused
    assert PESKOV_QUOTE in answer.text
    assert answer.citations and PESKOV_QUOTE in answer.citations[0].quote
    assert answer.citations[0].source.endswith("ukraine-russia-ceasefire-2025-03-13.txt")
    _assert_citations_verbatim(answer)
    assert set(answer.timings_ms) >= {"embed", "search", "synthesize", "total"}


def test_retrieved_passages_are_verbatim_spans_of_their_files(seed_engine):
    answer = seed_engine.ask("Who confirmed talking to his Russian counterpart?")
    assert len(answer.retrieved) == seed_engine.settings.top_k
    assert [p.rank for p in answer.retrieved] == list(range(1, len(answer.retrieved) + 1))
    scores = [p.score for p in answer.retrieved]
    assert scores == sorted(scores, reverse=True)
    for passage in answer.retrieved:
        assert read_source_text(passage.source)[passage.start : passage.end] == passage.text
    assert "Waltz" in answer.text


def test_an_unanswerable_question_is_refused_but_keeps_related_passages(seed_engine):
    answer = seed_engine.ask("Who won the 2022 FIFA World Cup?")
    assert answer.refused and answer.citations == []
    assert answer.text.startswith("The documents don't say")
    assert answer.retrieved


@pytest.mark.parametrize("question", ["the of and", "?", "...", "Is it?"])
@pytest.mark.parametrize("mode", ["hybrid", "keyword", "dense"])
def test_a_question_of_stopwords_or_punctuation_is_refused(seed_engine, question, mode):
    # Nothing is left for BM25 once stopwords and punctuation are dropped.
    answer = seed_engine.ask(question, mode=mode)
    assert answer.refused and answer.citations == []
    assert answer.text.startswith("The documents don't say")


@pytest.mark.parametrize("k", [0, -1, 51])
def test_a_passage_count_out_of_range_is_a_clear_error(seed_engine, k):
    with pytest.raises(RagError, match="Passages to retrieve must be 1 to 50"):
        seed_engine.ask("What did Peskov say?", k=k)


def test_a_follow_up_searches_with_the_previous_names(seed_engine):
    first = seed_engine.ask("What did Trump say?")
    second = seed_engine.ask("Whose cooperation did he hope for?", history=[first.query])
    assert "Trump" in second.query and second.query != second.question
    assert "Putin" in second.text
    _assert_citations_verbatim(second)


def _seed_plus_note(tmp_path, seed_corpus, note_text):
    """A corpus of the seed and one note, and settings for a fresh data dir."""
    corpus = tmp_path / "corpus"
    shutil.copytree(seed_corpus, corpus)
    note = corpus / "notes.md"
    note.write_text(note_text)
    return corpus, note, Settings(data_dir=tmp_path / "data")


def test_ingest_skips_unchanged_replaces_changed_and_keeps_the_rest(tmp_path, seed_corpus):
    corpus, extra, settings = _seed_plus_note(
        tmp_path, seed_corpus, "# Team notes\n\nThe meeting with Lindqvist is on Friday.\n"
    )

    first = RagEngine(settings).ingest([corpus])
    assert sorted(first.outcomes.values()) == ["added", "added"]
    again = RagEngine(settings).ingest([corpus])
    assert sorted(again.outcomes.values()) == ["unchanged", "unchanged"]
    assert again.chunks == first.chunks

    extra.write_text("# Team notes\n\nThe meeting with Lindqvist moved to Monday.\n")
    engine = RagEngine(settings)
    changed = engine.ingest([corpus])
    assert changed.outcomes[str(extra.resolve())] == "replaced"
    assert changed.chunks == first.chunks
    reloaded = RagEngine(settings)
    assert "Monday" in reloaded.ask("When is the meeting with Lindqvist?").text
    assert PESKOV_QUOTE in reloaded.ask("What did Peskov say?").text
    assert {d.chunks > 0 for d in reloaded.documents()} == {True}


def test_a_file_read_by_an_older_reader_is_read_again(tmp_path, seed_corpus, monkeypatch):
    # After an upgrade that reads documents differently, unchanged bytes are no reason to
    # keep the old reading: the next ingest replaces them, once.
    corpus, extra, settings = _seed_plus_note(
        tmp_path, seed_corpus, "# Team notes\n\nThe meeting with Lindqvist is on Friday.\n"
    )
    monkeypatch.setattr("rag.loaders.SPLITTER_VERSION", -1)
    RagEngine(settings).ingest([corpus])
    monkeypatch.undo()
    upgraded = RagEngine(settings).ingest([corpus])
    assert sorted(upgraded.outcomes.values()) == ["replaced", "replaced"]
    assert sorted(RagEngine(settings).ingest([corpus]).outcomes.values()) == [
        "unchanged",
        "unchanged",
    ]
    assert PESKOV_QUOTE in RagEngine(settings).ask("What did Peskov say?").text


def test_asking_without_an_index_says_how_to_build_one(tmp_path):
    with pytest.raises(IndexMissingError, match="rag ingest"):
        RagEngine(Settings(data_dir=tmp_path / "empty")).ask("What did Peskov say?")


def test_nothing_indexed_yet_lists_no_documents_but_a_corrupt_index_is_an_error(
    tmp_path, seed_settings
):
    assert RagEngine(Settings(data_dir=tmp_path / "empty")).documents() == []
    data = tmp_path / "data"
    shutil.copytree(seed_settings.data_dir, data)
    (data / "index" / "rag_index.json").write_text("{not json")
    with pytest.raises(IndexCorruptError, match="rag ingest"):
        RagEngine(Settings(data_dir=data)).documents()


@pytest.mark.parametrize("victim", ["docstore.sqlite", "default__vector_store.json", "id_map.json"])
def test_a_corrupt_index_file_is_reported_not_replaced(tmp_path, seed_settings, victim):
    data = tmp_path / "data"
    shutil.copytree(seed_settings.data_dir, data)
    broken = data / "index" / victim
    broken.write_bytes(broken.read_bytes()[:100])
    with pytest.raises(IndexCorruptError, match="rag ingest") as raised:
        RagEngine(Settings(data_dir=data)).ask("What did Peskov say?")
    assert str(data / "index") in str(raised.value)
    assert len(broken.read_bytes()) == 100  # left as it was for the user to inspect


def test_an_index_built_with_another_model_is_refused(tmp_path, seed_settings):
    data = tmp_path / "data"
    shutil.copytree(seed_settings.data_dir, data)
    meta_path = data / "index" / "rag_index.json"
    meta = json.loads(meta_path.read_text())
    meta["embed_model"] = "some-other-model"
    meta_path.write_text(json.dumps(meta))
    with pytest.raises(IndexCorruptError, match="some-other-model"):
        RagEngine(Settings(data_dir=data)).ask("What did Peskov say?")


def test_ingest_and_ask_never_touch_the_network(tmp_path, seed_corpus, no_network):
    engine = RagEngine(Settings(data_dir=tmp_path / "data"))
    engine.ingest([seed_corpus])
    assert PESKOV_QUOTE in engine.ask("What did Peskov say?").text


def test_ingest_and_ask_work_in_a_process_without_network(tmp_path, seed_corpus):
    """A fresh process in a network namespace with no interfaces up, and no offline env vars."""
    assert shutil.which("unshare"), "util-linux `unshare` is needed for this test"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "TRANSFORMERS_"))}
    env.pop("TIKTOKEN_CACHE_DIR", None)
    env["RAG_DATA_DIR"] = str(tmp_path / "data")
    rag = [sys.executable, "-m", "rag.cli"]
    offline = ["unshare", "--net", "--map-root-user"]
    subprocess.run([*offline, *rag, "ingest", str(seed_corpus)], env=env, check=True, cwd=ROOT)
    asked = subprocess.run(
        [*offline, *rag, "ask", "What did Peskov say?", "--json"],
        env=env,
        check=True,
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert PESKOV_QUOTE in json.loads(asked.stdout)["text"]


def test_deleting_a_document_removes_its_chunks_everywhere(tmp_path, seed_corpus):
    corpus, note, settings = _seed_plus_note(
        tmp_path, seed_corpus, "# Note\n\nThe Lindqvist meeting is on Friday in Tromsø.\n"
    )
    engine = RagEngine(settings)
    total = engine.ingest([corpus]).chunks
    removed = engine.delete(note)
    assert removed.source == str(note.resolve()) and removed.chunks >= 1
    reloaded = RagEngine(settings)  # loading runs the FAISS/docstore consistency check
    assert [d.source for d in reloaded.documents()] == [str((corpus / SEED_NAME).resolve())]
    assert sum(d.chunks for d in reloaded.documents()) == total - removed.chunks
    assert reloaded.ask("When is the Lindqvist meeting?").refused
    assert note.exists()  # the file itself is the user's
    with pytest.raises(DocumentNotFoundError, match="rag docs"):
        reloaded.delete(note)
    # Re-adding after a delete reuses no FAISS id still in use.
    assert reloaded.ingest([note]).outcomes == {str(note.resolve()): "added"}
    assert "Friday" in RagEngine(settings).ask("When is the Lindqvist meeting?").text
