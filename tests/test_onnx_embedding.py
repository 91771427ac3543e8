"""The int8 ONNX backend: same vectors as the torch model, a self-healing cache, no torch at ask."""

from __future__ import annotations

import json
import logging
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

from rag import IndexCorruptError, ModelMissingError, RagEngine, Settings
from rag.embedding import default_model_path, embed_texts, load_embed_model
from rag.onnx_embedding import OnnxEmbedding, open_session
from rag.onnx_model import build_quantized_model, cached_model_path, weights_file
from rag.store.sentence_vectors import _spans_in_embedded
from rag.text import sentence_spans
from tests.conftest import ROOT, SEED_FILE

pytestmark = pytest.mark.slow


def _seed_paragraphs() -> list[str]:
    return [line.strip() for line in SEED_FILE.read_text().splitlines() if line.strip()]


@pytest.fixture(scope="module")
def onnx_model() -> OnnxEmbedding:
    model = load_embed_model(None, 32, "onnx", Settings().model_cache_dir)
    assert isinstance(model, OnnxEmbedding)
    return model


def test_onnx_vectors_agree_with_the_torch_model_on_real_text(onnx_model):
    paragraphs = _seed_paragraphs()
    sentences = [p[a:b] for p in paragraphs for a, b in sentence_spans(p)]
    texts = paragraphs + sentences + ["What did Peskov say?"]
    torch_model = load_embed_model(None, 32, "torch")
    ours = np.array(embed_texts(onnx_model, texts, show_progress=False))
    reference = np.array(embed_texts(torch_model, texts, show_progress=False))
    cosines = (ours * reference).sum(axis=1)
    assert np.allclose(np.linalg.norm(ours, axis=1), 1.0, atol=1e-5)
    # int8 weights: DESIGN.md measured >= 0.99 on long chunks; a few short texts land just below.
    assert cosines.mean() >= 0.99, cosines
    assert cosines.min() >= 0.98, cosines
    query = np.array(onnx_model.get_query_embedding("What did Peskov say?"))
    assert float(query @ reference[-1]) >= 0.99


def test_a_texts_vector_does_not_depend_on_the_texts_embedded_with_it(onnx_model):
    """The int8 model scales its activations per run: one text per run keeps a chunk's
    vector the same in every ingest and store (batched, cosines fell to 0.975)."""
    paragraphs = _seed_paragraphs()
    alone = np.vstack([onnx_model.embed([p], threads=1) for p in paragraphs])
    together = onnx_model.embed(paragraphs, threads=2)
    reversed_ = onnx_model.embed(paragraphs[::-1], threads=2)[::-1]
    np.testing.assert_allclose(together, alone, atol=1e-5)
    np.testing.assert_allclose(reversed_, alone, atol=1e-5)
    spans = [sentence_spans(p) for p in paragraphs]
    pooled, sentence_vectors = onnx_model.embed_with_spans(paragraphs, spans, threads=2)
    np.testing.assert_allclose(pooled, alone, atol=1e-5)
    _, first_alone = onnx_model.embed_with_spans(paragraphs[:1], spans[:1], threads=1)
    for ours, reference in zip(sentence_vectors, first_alone, strict=False):
        np.testing.assert_allclose(ours, reference, atol=1e-5)


def test_pooled_spans_match_the_text_and_their_own_sentences(onnx_model):
    text = _seed_paragraphs()[1]
    spans = sentence_spans(text)
    vectors, span_vectors = onnx_model.embed_with_spans(
        [text], [[(0, len(text)), *spans]], threads=1
    )
    # The whole text's span leaves out only [CLS] and [SEP], which the text vector includes.
    assert float(span_vectors[0] @ vectors[0]) >= 0.99
    separate = np.array(embed_texts(onnx_model, [text[a:b] for a, b in spans], False))
    pooled = np.array(span_vectors[1:])
    # Each sentence's pooled vector is closest to that same sentence embedded on its own.
    assert list((pooled @ separate.T).argmax(axis=1)) == list(range(len(spans)))


def test_a_corrupt_cached_model_is_rebuilt(tmp_path, caplog):
    model_path = default_model_path()
    target = cached_model_path(tmp_path, "0" * 64)
    build_quantized_model(model_path, target)  # the missing case: built on first use
    assert target.is_file() and not list(tmp_path.glob(".build-*"))
    target.write_bytes(target.read_bytes()[:1000])  # a truncated file
    with caplog.at_level(logging.WARNING):
        session = open_session(target, model_path, threads=1)
    assert "unreadable" in caplog.text and "rebuilding" in caplog.text
    assert [i.name for i in session.get_inputs()] == [
        "input_ids",
        "attention_mask",
        "token_type_ids",
    ]
    weights_file(target).unlink()  # the weights beside it gone: rebuilt as well
    assert open_session(target, model_path, threads=1).get_inputs()[0].name == "input_ids"
    assert weights_file(target).is_file()


def test_a_model_that_cannot_be_exported_is_a_clear_error(tmp_path):
    broken = tmp_path / "model"
    shutil.copytree(default_model_path(), broken)
    (broken / "model.safetensors").write_bytes(b"not weights")
    with pytest.raises(ModelMissingError, match="RAG_EMBED_BACKEND=torch"):
        build_quantized_model(broken, tmp_path / "cache" / "model.onnx")
    assert not (tmp_path / "cache" / "model.onnx").exists()


# Seconds of import each, none of them needed by an extractive answer from the FAISS store:
# the torch model, the UI, the LLM client, scipy (nltk and bm25s use it only if it is
# there), pandas, the PostgreSQL store and its drivers, tiktoken (only ingest splits text).
# sqlalchemy is not among them: llama-index-core imports it (its chat memory) either way.
_UNNEEDED_AT_ASK = (
    "torch",
    "sentence_transformers",
    "transformers",
    "gradio",
    "openai",
    "llama_index.llms.openai_like",
    "scipy",
    "sklearn",
    "pandas",
    "pgvector",
    "psycopg2",
    "asyncpg",
    "llama_index.vector_stores.postgres",
    "rag.store.pg",
    "tiktoken",
)


def test_a_cold_ask_imports_no_torch_ui_llm_client_or_scipy(seed_settings):
    """Run in a fresh interpreter: this test process has imported everything already."""
    code = (
        "import json, sys\n"
        "from rag.cli import app\n"
        "app(['ask', 'What did Peskov say?'], standalone_mode=False)\n"
        "print(json.dumps(sorted(sys.modules)))\n"
    )
    env = os.environ | {"RAG_DATA_DIR": str(seed_settings.data_dir), "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert "all details of the offer" in done.stdout
    loaded = set(json.loads(done.stdout.strip().splitlines()[-1]))
    assert "llama_index.core" in loaded  # the list is the asking process's
    imported = [
        name
        for name in _UNNEEDED_AT_ASK
        if any(m == name or m.startswith(name + ".") for m in loaded)
    ]
    assert imported == []


def test_an_index_is_refused_by_the_other_backend(seed_settings):
    torch_settings = seed_settings.model_copy(update={"embed_backend": "torch"})
    with pytest.raises(IndexCorruptError, match="built with the onnx embedding backend"):
        RagEngine(torch_settings).ask("What did Peskov say?")


def test_the_cache_is_keyed_by_the_weights_and_onnxruntime(tmp_path):
    import onnxruntime

    path = cached_model_path(tmp_path, "ab" * 32)
    assert path.parent == tmp_path
    assert "abababab" in path.name and onnxruntime.__version__ in path.name


def test_sentence_spans_are_moved_past_the_embedded_metadata_header():
    embedded = "title: T\n\nAb. Cd."
    assert _spans_in_embedded(embedded, "Ab. Cd.", [(0, 3), (4, 7)]) == [(10, 13), (14, 17)]
    assert embedded[10:13] == "Ab."
    # Content not last (another metadata template): no span, each sentence embedded alone.
    assert _spans_in_embedded("Ab. Cd.\n\ntitle: T", "Ab. Cd.", [(0, 3)]) == [(0, 0)]
