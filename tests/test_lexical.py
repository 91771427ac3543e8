"""BM25 and titles persisted with the index: loaded as built, rebuilt for older indexes."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from rag import IndexCorruptError, RagEngine, Settings
from rag.store.lexical import LexicalIndex
from tests.conftest import BRIDGE_DOCS as DOCS
from tests.conftest import write_files

pytestmark = pytest.mark.slow

QUESTIONS = (
    "What food is sold by the company that one of Daniel Greene's sitters founded?",
    "Atlas Shrugged",
    "brewer founded in 1799",
    "no such words zyxxqorp",
)


@pytest.fixture(scope="module")
def bridge_settings(tmp_path_factory) -> Settings:
    """A real index of the bridge documents, persisted once for the module."""
    folder = tmp_path_factory.mktemp("bridge")
    settings = Settings(data_dir=folder / "data", top_k=3)
    RagEngine(settings).ingest([write_files(folder / "docs", DOCS)])
    return settings


def _answers(settings: Settings) -> list[list[tuple[str, float]]]:
    engine = RagEngine(settings)
    return [[(p.chunk_id, p.score) for p in engine.ask(q).retrieved] for q in QUESTIONS]


def test_a_loaded_index_reads_bm25_and_titles_as_they_were_built(bridge_settings):
    index = RagEngine(bridge_settings).load_index()
    loaded = index._lexical
    assert loaded is not None  # read from disk, not built from the chunks
    built = LexicalIndex.build(index.index.docstore, index.sentences)
    assert loaded.chunk_ids == built.chunk_ids and loaded.chunk_docs == built.chunk_docs
    assert loaded.titles == built.titles and "Dave Thomas (businessman)" in loaded.titles.values()
    assert loaded.bm25 is not None and built.bm25 is not None
    for question in QUESTIONS:
        chunks, sentences = loaded.bm25.scores(question)
        chunks_built, sentences_built = built.bm25.scores(question)
        np.testing.assert_allclose(chunks, chunks_built, rtol=1e-6)
        np.testing.assert_allclose(sentences, sentences_built, rtol=1e-6)
    assert loaded.bm25.scores("Atlas Shrugged")[0].max() > 0


def test_an_index_written_before_it_existed_answers_the_same(bridge_settings, tmp_path):
    older = bridge_settings.model_copy(update={"data_dir": tmp_path / "data"})
    shutil.copytree(bridge_settings.index_dir, older.index_dir)
    shutil.rmtree(older.index_dir / "lexical")
    assert RagEngine(older).load_index()._lexical is None  # built from the chunks on use
    assert _answers(older) == _answers(bridge_settings)


def test_bm25_that_disagrees_with_the_chunks_is_reported(bridge_settings, tmp_path):
    broken = bridge_settings.model_copy(update={"data_dir": tmp_path / "data"})
    shutil.copytree(bridge_settings.index_dir, broken.index_dir)
    chunks_file = broken.index_dir / "lexical" / "chunks.json"
    chunks = json.loads(chunks_file.read_text())
    chunks["chunk_ids"][0] = "a chunk that is not in the docstore"
    chunks_file.write_text(json.dumps(chunks))
    with pytest.raises(IndexCorruptError, match="inconsistent"):
        RagEngine(broken).ask("Atlas Shrugged")


def test_a_corpus_without_one_word_for_bm25_is_indexed_and_grows(tmp_path):
    """Tokens of one letter only ("x x x"): bm25s had no vocabulary and the ingest crashed."""
    settings = Settings(data_dir=tmp_path / "data")
    docs = write_files(tmp_path / "docs", {"x.txt": "x x x\n", "signs.txt": "- + = !\n"})
    report = RagEngine(settings).ingest([docs])
    assert report.count("added") == 2, report.rejected
    loaded = RagEngine(settings).load_index()._lexical
    assert loaded is not None and loaded.bm25 is not None
    chunks, sentences = loaded.bm25.scores("x x x")
    assert not chunks.any() and not sentences.any()  # no keyword matches; nothing breaks
    otters = write_files(tmp_path / "more", {"otters.txt": "Sea otters hold hands.\n"})
    RagEngine(settings).ingest([otters])
    answer = RagEngine(settings).ask("Do sea otters hold hands?")
    assert answer.citations and answer.citations[0].quote == "Sea otters hold hands."
