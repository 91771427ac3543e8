"""A llama-index embedding running the int8 ONNX MiniLM: no torch at query time.

Same recipe as the sentence-transformers model it was exported from: the model folder's own
fast tokenizer (truncated at its max_seq_length word-pieces), mean pooling over the real
tokens, L2 normalisation. Two onnxruntime sessions: ingest uses every core, single
queries one thread, since threads spinning under CPU contention make a query slow (DESIGN.md).
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any

import numpy as np
from llama_index.core.base.embeddings.base import BaseEmbedding
from pydantic import PrivateAttr

from rag.errors import ModelMissingError
from rag.onnx_model import build_quantized_model

logger = logging.getLogger(__name__)

# Bumped when the same model and text give other vectors: caches keyed on it re-embed.
# 2: one text per run (1: padded batches, whose other texts changed a text's vector).
VECTORS_VERSION = 2


class OnnxEmbedding(BaseEmbedding):
    """Mean-pooled, normalised MiniLM vectors from an int8 ONNX export."""

    model_path: str
    onnx_path: str
    batch_threads: int = 0  # 0: one per core
    pool_sentences: bool = (
        True  # sentence vectors from the chunk's pass (rag.store.sentence_vectors)
    )

    _tokenizer: Any = PrivateAttr()
    _sessions: dict[int, Any] = PrivateAttr(default_factory=dict)

    def __init__(self, **data: Any) -> None:
        super().__init__(**data)
        self._tokenizer = _load_tokenizer(Path(self.model_path))

    @classmethod
    def class_name(cls) -> str:
        return "OnnxEmbedding"

    def _session(self, threads: int):
        """The onnxruntime session with `threads` intra-op threads, loaded on first use."""
        if threads not in self._sessions:
            self._sessions[threads] = open_session(
                Path(self.onnx_path), Path(self.model_path), threads
            )
        return self._sessions[threads]

    def embed(self, texts: list[str], threads: int) -> np.ndarray:
        """Unit vectors for `texts` (one row each; none for none)."""
        vectors = [_mean_unit(hidden) for _, hidden in self._run(texts, threads)]
        return np.vstack(vectors) if vectors else np.zeros((0, 0), np.float32)

    def embed_with_spans(
        self, texts: list[str], spans: list[list[tuple[int, int]]], threads: int
    ) -> tuple[np.ndarray, list[np.ndarray | None]]:
        """Each text's vector, and each of its char spans' vector pooled from the same pass.

        A span's vector is the mean of the text's output tokens inside it ("late chunking"):
        contextual, and free, where embedding each sentence again would cost a second pass
        over the same words. None for a span with no token left after truncation.
        """
        text_vectors, span_vectors = [], []
        for (encoding, hidden), text_spans in zip(self._run(texts, threads), spans, strict=True):
            text_vectors.append(_mean_unit(hidden))
            starts = np.array([a for a, _ in encoding.offsets])
            ends = np.array([b for _, b in encoding.offsets])
            real = np.array(encoding.special_tokens_mask) == 0
            for a, b in text_spans:
                inside = real & (starts >= a) & (ends <= b) & (ends > starts)
                span_vectors.append(_mean_unit(hidden[inside]) if inside.any() else None)
        return np.vstack(text_vectors), span_vectors

    def _run(self, texts: list[str], threads: int) -> list[tuple[Any, np.ndarray]]:
        """Each text's tokenizer encoding and the model's last hidden states for it.

        One text per run, never a padded batch: the int8 model quantises its activations
        with one scale per run (DynamicQuantizeLinear), so a batch's other texts and its
        padding would change a text's vector (cosine down to 0.975 against the text alone),
        and the same chunk would get another vector in another ingest or store. It is
        faster on CPU too: 256 chunks in 4.3 s, against 5.7 s in batches of 32 (2 cores).
        """
        session = self._session(threads)
        runs = []
        for encoding in self._tokenizer.encode_batch(texts):
            ids = np.array([encoding.ids], dtype=np.int64)
            (hidden,) = session.run(
                None,
                {
                    "input_ids": ids,
                    "attention_mask": np.ones_like(ids),
                    "token_type_ids": np.zeros_like(ids),
                },
            )
            runs.append((encoding, hidden[0]))
        return runs

    @property
    def ingest_threads(self) -> int:
        return self.batch_threads or os.cpu_count() or 1

    def _get_query_embedding(self, query: str) -> list[float]:
        return self.embed([query], threads=1)[0].tolist()

    def _get_text_embedding(self, text: str) -> list[float]:
        return self.embed([text], threads=1)[0].tolist()

    def _get_text_embeddings(self, texts: list[str]) -> list[list[float]]:
        return self.embed(texts, threads=self.ingest_threads).tolist()

    async def _aget_query_embedding(self, query: str) -> list[float]:
        return self._get_query_embedding(query)

    async def _aget_text_embedding(self, text: str) -> list[float]:
        return self._get_text_embedding(text)


def _mean_unit(hidden: np.ndarray) -> np.ndarray:
    """The mean of token states (the model's pooling), L2-normalised."""
    pooled = hidden.mean(axis=0)
    return pooled / max(float(np.linalg.norm(pooled)), 1e-12)


def _load_tokenizer(model_path: Path):
    """The folder's tokenizer.json, truncating at the model's max_seq_length."""
    from tokenizers import Tokenizer

    try:
        tokenizer = Tokenizer.from_file(str(model_path / "tokenizer.json"))
        config = json.loads((model_path / "sentence_bert_config.json").read_text())
        pooling = json.loads((model_path / "1_Pooling" / "config.json").read_text())
    except Exception as err:  # OSError, JSON or the tokenizers library's own errors
        raise ModelMissingError(
            f"{model_path} lacks a readable tokenizer.json, sentence_bert_config.json or "
            f"1_Pooling/config.json ({err}); the ONNX backend needs all three. "
            "Set RAG_EMBED_BACKEND=torch for other model folders."
        ) from err
    if not pooling.get("pooling_mode_mean_tokens"):
        raise ModelMissingError(
            f"{model_path} does not use mean pooling; the ONNX backend only implements that. "
            "Set RAG_EMBED_BACKEND=torch."
        )
    tokenizer.enable_truncation(max_length=int(config.get("max_seq_length", 256)))
    tokenizer.no_padding()  # tokenizer.json may ask for it; each text runs alone (_run)
    return tokenizer


def open_session(onnx_path: Path, model_path: Path, threads: int):
    """An onnxruntime session on the cached model; (re)built when missing or unreadable."""
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    # Threads that spin waiting for work steal the CPU from everything else (DESIGN.md).
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    if not onnx_path.is_file():
        build_quantized_model(model_path, onnx_path)
    try:
        return onnxruntime.InferenceSession(
            str(onnx_path), options, providers=["CPUExecutionProvider"]
        )
    except Exception as err:  # onnxruntime raises its own Fail/InvalidProtobuf types
        logger.warning("The cached ONNX model %s is unreadable (%s): rebuilding it", onnx_path, err)
    build_quantized_model(model_path, onnx_path)
    return onnxruntime.InferenceSession(str(onnx_path), options, providers=["CPUExecutionProvider"])
