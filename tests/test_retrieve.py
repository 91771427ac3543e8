"""Hybrid retrieval on real text: the packaged model, real FAISS, real bm25s, tiny corpora."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from rag import RagEngine, RagError, Settings
from rag.answer.ranking import title_core
from rag.links import TitleLinker, title_key, without_disambiguation
from rag.retrieve import Retriever, fusion_weights
from rag.store.faiss.corpus import FaissCorpus
from tests.conftest import BRIDGE_DOCS as DOCS
from tests.conftest import write_files as _write

# The bridge question of BRIDGE_DOCS: its answer is in a document only the first one names.
BRIDGE = "What food is sold by the company that one of Daniel Greene's sitters founded?"


@pytest.mark.parametrize(
    ("title", "named_as"),
    [
        ("Dave Thomas (businessman)", "Dave Thomas"),
        ("Raymond (community), Wisconsin", "Raymond, Wisconsin"),  # before a comma too
        ("Ritual wine server (guang), Indianapolis", "Ritual wine server, Indianapolis"),
        ("(I Can't Make It) Another Day", "(I Can't Make It) Another Day"),  # its own words
        ("Waterford, New York", "Waterford, New York"),
    ],
)
def test_one_rule_drops_a_titles_disambiguation_for_every_reader(title, named_as):
    """Links, hops and ranking read titles through this one function; their three copies
    disagreed on the brackets before a comma and on those that open a title."""
    assert without_disambiguation(title) == named_as
    assert title_core(title) == title_core(named_as)
    assert title_key(title) == title_key(named_as)


def test_title_keys_drop_the_disambiguation_and_case():
    assert title_key("Dave Thomas (businessman)") == "dave thomas"
    assert title_key("Wendy's") == "wendy s"


def test_titles_link_whole_words_only_and_skip_stopword_titles():
    linker = TitleLinker([("a", "Dave Thomas (businessman)"), ("b", "The Who"), ("c", "Rand")])
    assert linker.linked("sitters include Ayn Rand and Dave Thomas.") == {"a", "c"}
    assert linker.linked("The Who played; Randall and Dave Thomason came.") == set()


@pytest.mark.slow
def test_the_second_hop_brings_the_document_named_in_the_first(tmp_path):
    corpus = _write(tmp_path / "docs", DOCS)
    # Five documents squash the normalised scores; a heavier hop weight makes the link count.
    engine = RagEngine(Settings(data_dir=tmp_path / "data", top_k=2, hop_weight=0.8))
    engine.ingest([corpus])
    sources = [Path(p.source).name for p in engine.ask(BRIDGE).retrieved]
    assert sources == ["daniel-greene.txt", "dave-thomas.txt"]
    without = RagEngine(Settings(data_dir=tmp_path / "data", top_k=2, hop_parents=0))
    assert "dave-thomas.txt" not in [Path(p.source).name for p in without.ask(BRIDGE).retrieved]
    # The ablation swaps the settings of one built retriever: the swap must take effect.
    retriever = Retriever(engine.load_index(), engine.settings)
    retriever.settings = without.settings
    assert "dave-thomas.txt" not in [Path(p.source).name for p in retriever.retrieve(BRIDGE, 2)[0]]


@pytest.mark.slow
def test_ranks_by_fusion_and_the_top_score_is_the_best_cosine(tmp_path):
    corpus = _write(tmp_path / "docs", DOCS)
    engine = RagEngine(Settings(data_dir=tmp_path / "data", top_k=5))
    engine.ingest([corpus])
    answer = engine.ask("Which brewer was founded in 1799?")
    assert Path(answer.retrieved[0].source).name == "greene-king.txt"
    scores = [p.score for p in answer.retrieved]
    assert scores == sorted(scores, reverse=True)
    index = engine.load_index()
    vector = engine.embed_model.get_query_embedding("Which brewer was founded in 1799?")
    cosines = index.chunk_vectors(list(index.index.docstore.docs)) @ vector
    assert scores[0] == pytest.approx(float(cosines.max()), abs=1e-5)
    assert set(answer.timings_ms) >= {"embed", "dense", "bm25", "fusion", "search", "total"}


@pytest.mark.slow
def test_bm25_and_sentences_follow_a_replaced_document(tmp_path):
    corpus = _write(tmp_path / "docs", DOCS)
    settings = Settings(data_dir=tmp_path / "data", top_k=1)
    engine = RagEngine(settings)
    engine.ingest([corpus])
    assert Path(engine.ask("Atlas Shrugged").retrieved[0].source).name == "ayn-rand.txt"
    _write(corpus, {"ayn-rand.txt": "Ayn Rand\n\nShe wrote Zyxxqorp, a novel about quokkas."})
    engine.ingest([corpus])
    top = engine.ask("Zyxxqorp").retrieved[0]
    assert Path(top.source).name == "ayn-rand.txt" and "Zyxxqorp" in top.text
    reloaded = RagEngine(settings)
    assert "Atlas" not in " ".join(p.text for p in reloaded.ask("Atlas Shrugged").retrieved)
    index = reloaded.load_index()
    assert index.sentences.chunk_ids == set(index.index.docstore.docs)
    chunk_id = reloaded.ask("Zyxxqorp").retrieved[0].chunk_id  # the title line and a sentence
    assert len(index.sentences.spans[chunk_id]) == len(index.sentences.vectors[chunk_id]) == 2


@pytest.mark.slow
@pytest.mark.parametrize(
    "missing", ["sentence_vectors.npy", "sentence_chunks.npy", "sentence_spans.npy"]
)
def test_an_index_without_its_sentences_is_reported_corrupt(tmp_path, missing):
    corpus = _write(tmp_path / "docs", DOCS)
    settings = Settings(data_dir=tmp_path / "data")
    RagEngine(settings).ingest([corpus])
    (settings.index_dir / missing).unlink()
    with pytest.raises(Exception, match="unreadable"):
        FaissCorpus.load(settings.index_dir, RagEngine(settings).embed_model, "all-MiniLM-L6-v2")


@pytest.mark.slow
def test_dense_and_keyword_modes_rank_by_their_own_signal(tmp_path):
    corpus = _write(tmp_path / "docs", DOCS)
    engine = RagEngine(Settings(data_dir=tmp_path / "data", top_k=5))
    engine.ingest([corpus])
    question = "Which philosopher wrote Atlas Shrugged?"
    index = engine.load_index()
    vector = engine.embed_model.get_query_embedding(question)
    ids = list(index.index.docstore.docs)
    cosine = dict(zip(ids, (index.chunk_vectors(ids) @ vector).tolist(), strict=True))
    dense = engine.ask(question, mode="dense").retrieved
    assert [p.chunk_id for p in dense] == sorted(ids, key=lambda c: -cosine[c])
    keyword = engine.ask(question, mode="keyword").retrieved
    assert Path(keyword[0].source).name == "ayn-rand.txt"
    with pytest.raises(RagError, match="hybrid, dense, keyword"):
        engine.ask(question, mode="psychic")


@pytest.mark.slow
def test_fusion_signals_weighted_as_the_settings_give_the_retrievers_order(tmp_path):
    """What evals/fusion_fit.py fits on must be what the retriever fuses: with no title
    named and no second hop, the weighted signals order the chunks as `search` does, for
    the default weights and for each signal alone."""
    corpus = _write(tmp_path / "docs", DOCS)
    settings = Settings(data_dir=tmp_path / "data", hop_parents=0, title_boost=0)
    engine = RagEngine(settings)
    engine.ingest([corpus])
    retriever = engine.retriever()
    names = ("weight_dense", "weight_bm25", "weight_sentence_dense", "weight_sentence_bm25")
    alone = [{n: float(n == name) for n in names} for name in names]
    for question in ("Which brewer was founded in 1799?", "Who painted portraits in oil?"):
        vector = engine.embed([question])[0]
        fused = retriever.fusion_signals(question, vector)
        assert fused.signals.shape == (len(fused.chunk_ids), 4)
        assert ((fused.signals >= 0) & (fused.signals <= 1 + 1e-6)).all()
        for weights in [{}, *alone]:
            retriever.settings = settings.model_copy(update=weights)
            score = fused.signals @ np.asarray(fusion_weights(retriever.settings))
            order = [fused.chunk_ids[i] for i in np.lexsort((np.arange(len(score)), -score))]
            passages, _ = retriever.search(question, vector, len(order))
            assert [p.chunk_id for p in passages] == order, weights
