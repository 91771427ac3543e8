"""The packaged model is found on disk and checked; nothing is downloaded."""

import hashlib

import pytest

from rag import ModelMissingError
from rag.embedding import (
    default_model_path,
    load_embed_model,
    verify_packaged_model,
    weights_sha256,
)


def test_the_packaged_minilm_is_the_upstream_file():
    path = default_model_path()
    assert (path / "model.safetensors").is_file()
    verify_packaged_model(path)  # raises on a checksum mismatch


def test_a_tampered_model_file_is_refused_with_the_hashes(tmp_path):
    (tmp_path / "model.safetensors").write_bytes(b"not the weights")
    with pytest.raises(ModelMissingError, match="expected 53aa5117"):
        verify_packaged_model(tmp_path)


def test_a_remembered_hash_is_reused_until_the_file_changes(tmp_path):
    """A cold start reads the 87 MiB weights once per file version, not once per process."""
    model, cache = tmp_path / "model", tmp_path / "cache"
    model.mkdir()
    weights = model / "model.safetensors"
    weights.write_bytes(b"first weights")
    first = weights_sha256.__wrapped__(model, cache)  # past the per-process memo
    assert first == hashlib.sha256(b"first weights").hexdigest()
    assert first in (cache / "weights-sha256.json").read_text()
    weights.write_bytes(b"other weights, longer")  # a new size: hashed again
    assert (
        weights_sha256.__wrapped__(model, cache) == hashlib.sha256(weights.read_bytes()).hexdigest()
    )


def test_a_remembered_hash_that_is_not_readable_is_computed_again(tmp_path):
    model, cache = tmp_path / "model", tmp_path / "cache"
    model.mkdir()
    (model / "model.safetensors").write_bytes(b"weights")
    cache.mkdir()
    (cache / "weights-sha256.json").write_text("[not the record")
    assert weights_sha256.__wrapped__(model, cache) == hashlib.sha256(b"weights").hexdigest()


def test_a_folder_that_is_not_a_model_is_refused(tmp_path):
    with pytest.raises(ModelMissingError, match="RAG_EMBED_MODEL"):
        load_embed_model(tmp_path, 32)


@pytest.mark.slow
def test_the_model_gives_unit_vectors_of_384_dimensions():
    model = load_embed_model(None, 32)
    vector = model.get_text_embedding("Peskov spoke for the Kremlin.")
    assert len(vector) == 384
    assert abs(sum(x * x for x in vector) - 1.0) < 1e-4
