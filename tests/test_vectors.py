"""The vector index kind: flat or IVF by size, on real vectors of the packaged model."""

from __future__ import annotations

from pathlib import Path

import faiss
import numpy as np
import pytest

from rag import RagEngine, Settings
from rag.embedding import embed_texts, load_embed_model
from rag.store.faiss.vectors import (
    VectorIndexPolicy,
    build_flat,
    build_ivf,
    flat_index,
    list_count,
    rebuild_as,
)
from tests.conftest import BRIDGE_DOCS as DOCS
from tests.conftest import write_files as _write


@pytest.mark.slow
@pytest.mark.parametrize(
    ("kind", "threshold", "expected"),
    [
        ("auto", 3, "ivf"),
        ("auto", 1000, "flat"),
        ("flat", 3, "flat"),
        ("ivf", 1000, "ivf"),
    ],
)
def test_the_index_kind_follows_the_setting_and_the_threshold(tmp_path, kind, threshold, expected):
    settings = Settings(data_dir=tmp_path / "data", index_kind=kind, index_threshold=threshold)
    RagEngine(settings).ingest([_write(tmp_path / "docs", DOCS)])
    assert RagEngine(settings).load_index().vector_index_kind == expected


@pytest.mark.slow
def test_ivf_keeps_ids_through_replace_delete_and_reload(tmp_path):
    corpus = _write(tmp_path / "docs", DOCS)
    settings = Settings(data_dir=tmp_path / "data", index_kind="ivf", ivf_nprobe=3, top_k=1)
    engine = RagEngine(settings)
    engine.ingest([corpus])
    _write(corpus, {"ayn-rand.txt": "Ayn Rand\n\nShe wrote Zyxxqorp, a novel about quokkas."})
    engine.ingest([corpus])
    engine.delete(corpus / "greene-king.txt")
    reloaded = RagEngine(settings)  # loading runs the FAISS/docstore consistency check
    index = reloaded.load_index()
    store = faiss.extract_index_ivf(index.vector_store.client)
    assert index.vector_index_kind == "ivf" and store.nprobe == 3
    assert store.ntotal == index.chunk_count == len(index.index.docstore.docs)
    top = reloaded.ask("Zyxxqorp").retrieved[0]
    assert Path(top.source).name == "ayn-rand.txt" and "Zyxxqorp" in top.text
    assert "Greene King" not in " ".join(p.text for p in reloaded.ask("British brewer").retrieved)
    # Re-adding after the delete takes fresh ids; the vectors read back are the chunks' own.
    reloaded.ingest([corpus / "greene-king.txt"])
    again = RagEngine(settings).load_index()
    ids = list(again.index.docstore.docs)
    vectors = again.chunk_vectors(ids)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1, atol=1e-3)
    assert [c for c, _ in again.nearest(vectors[0], 1)] == [ids[0]]


@pytest.mark.slow
def test_ivf_search_matches_exact_search_on_real_text_vectors(seed_corpus):
    words = " ".join(f.read_text(encoding="utf-8") for f in seed_corpus.iterdir()).split()
    windows = [" ".join(words[i : i + 12]) for i in range(0, len(words), 5)]  # ~160 passages
    embedded = embed_texts(load_embed_model(None, 32), windows, show_progress=False)
    vectors = np.asarray(embedded, dtype=np.float32)
    ids = np.arange(1000, 1000 + len(vectors), dtype=np.int64)  # not positions: ids are kept
    flat = flat_index(vectors.shape[1])
    flat.add_with_ids(vectors, ids)
    # The IVF index stores float16: exact search over the same rounded vectors is the truth.
    rounded = flat_index(vectors.shape[1])
    rounded.add_with_ids(vectors.astype(np.float16).astype(np.float32), ids)
    _, exact = rounded.search(vectors, 10)
    nlist = list_count(len(vectors))
    assert nlist > 1  # otherwise IVF would be exact search by construction
    # nprobe ≥ lists: every list is scanned, so the top 10 are exact.
    _, every_list = build_ivf(flat, ids, VectorIndexPolicy(nprobe=nlist)).search(vectors, 10)
    assert (every_list == exact).all()
    # One list: a stored vector is still its own nearest (it sits in its nearest list).
    _, one_list = build_ivf(flat, ids, VectorIndexPolicy(nprobe=1)).search(vectors, 1)
    assert (one_list[:, 0] == exact[:, 0]).all()


def test_ivf_is_retrained_once_it_outgrows_its_lists_and_flat_on_request():
    policy = VectorIndexPolicy(kind="auto", threshold=10)
    flat = flat_index(4)
    flat.add_with_ids(np.eye(4, dtype=np.float32).repeat(5, axis=0), np.arange(20))
    assert rebuild_as(flat, policy, trained_on=0) == "ivf"
    ivf = build_ivf(flat, np.arange(20), policy)
    assert rebuild_as(ivf, policy, trained_on=20) is None
    assert rebuild_as(ivf, policy, trained_on=4) == "ivf"
    assert rebuild_as(ivf, VectorIndexPolicy(kind="auto", threshold=100), 20) is None
    assert rebuild_as(ivf, VectorIndexPolicy(kind="flat"), trained_on=20) == "flat"
    back = build_flat(ivf, np.arange(20))
    assert (back.reconstruct_batch(np.arange(20)) == flat.reconstruct_batch(np.arange(20))).all()
