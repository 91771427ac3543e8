"""Per-chunk sentence vectors and spans, stored beside the FAISS index.

A chunk of 200 tokens is one vector, and a question about one of its sentences competes
with everything else the chunk says; scoring a chunk by its best sentence (dense and BM25)
finds the sentence that answers. Only candidates' sentences are scored at query time, so
no second ANN index is needed. The vectors are float16 (10k chunks: ~60k sentences, ~45 MiB;
1M chunks: ~5M sentences, ~3.7 GiB) and memory-mapped when loaded, so only the candidates'
sentences are read into memory: a query touches ~100 chunks' rows, not the whole file.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
from llama_index.core.base.embeddings.base import BaseEmbedding
from llama_index.core.schema import BaseNode, MetadataMode

from rag.embedding import embed_texts
from rag.onnx_embedding import OnnxEmbedding
from rag.text import sentence_spans

_VECTORS_FILE = "sentence_vectors.npy"
_SPANS_FILE = "sentence_spans.json"


def sentence_texts(title: str, text: str, spans: Sequence[tuple[int, int]]) -> list[str]:
    """What is embedded and BM25-indexed for each sentence: the title gives it its subject."""
    return [f"{title}: {text[start:end]}" for start, end in spans]


def _spans_of(node: BaseNode) -> list[tuple[int, int]]:
    text = node.get_content()
    return [(a, b) for a, b in sentence_spans(text) if text[a:b].strip()]


def _spans_in_embedded(
    embedded: str, content: str, spans: list[tuple[int, int]]
) -> list[tuple[int, int]]:
    """The spans moved past the metadata header that precedes the content in `embedded`.

    Empty spans (so each sentence is embedded on its own) should a metadata template not
    put the content last.
    """
    if not embedded.endswith(content):
        return [(0, 0)] * len(spans)
    shift = len(embedded) - len(content)
    return [(a + shift, b + shift) for a, b in spans]


def _embed_pooled(
    nodes: Sequence[BaseNode],
    spans: dict[str, list[tuple[int, int]]],
    model: OnnxEmbedding,
    show_progress: bool,
) -> list[np.ndarray | None]:
    """Embed each chunk (setting its `embedding`) and pool its sentences from the same pass.

    Batches hold chunks of similar length (less padding). The chunk is embedded with its
    metadata header, so a sentence's span is shifted past it. None: a sentence truncated away.
    """
    texts = [node.get_content(metadata_mode=MetadataMode.EMBED) for node in nodes]
    shifted = [
        _spans_in_embedded(text, node.get_content(), spans[node.node_id])
        for node, text in zip(nodes, texts, strict=True)
    ]
    per_node: list[list[np.ndarray | None]] = [[] for _ in nodes]
    order = sorted(range(len(nodes)), key=lambda i: len(texts[i]))
    batches = range(0, len(order), model.embed_batch_size)
    if show_progress:
        from tqdm.auto import tqdm

        batches = tqdm(batches, desc="Embedding chunks and sentences")
    for start in batches:
        batch = order[start : start + model.embed_batch_size]
        chunk_vectors, sentence_vectors = model.embed_with_spans(
            [texts[i] for i in batch], [shifted[i] for i in batch], model.ingest_threads
        )
        position = 0
        for i, vector in zip(batch, chunk_vectors, strict=True):
            nodes[i].embedding = vector.tolist()
            count = len(shifted[i])
            per_node[i] = sentence_vectors[position : position + count]
            position += count
    return [vector for vectors in per_node for vector in vectors]


class SentenceStore:
    """chunk id → its sentences' char spans (in the chunk text) and unit vectors."""

    def __init__(
        self,
        spans: dict[str, list[tuple[int, int]]] | None = None,
        vectors: dict[str, np.ndarray] | None = None,
    ) -> None:
        self.spans = spans or {}
        self.vectors = vectors or {}

    @property
    def chunk_ids(self) -> set[str]:
        return set(self.spans)

    def add(
        self, nodes: Sequence[BaseNode], embed_model: BaseEmbedding, show_progress: bool
    ) -> None:
        """Split each chunk into sentences and embed them.

        With an ONNX model that pools sentences, the chunks are embedded here too, in the
        same pass (their `embedding` is set); otherwise each sentence is embedded on its own.
        """
        for node in nodes:
            self.spans[node.node_id] = _spans_of(node)
        if isinstance(embed_model, OnnxEmbedding) and embed_model.pool_sentences:
            pooled = _embed_pooled(nodes, self.spans, embed_model, show_progress)
        else:
            pooled = [None] * sum(len(self.spans[node.node_id]) for node in nodes)
        missing = [i for i, v in enumerate(pooled) if v is None]
        texts = [
            text
            for node in nodes
            for text in sentence_texts(
                node.metadata.get("title", ""), node.get_content(), self.spans[node.node_id]
            )
        ]
        embedded = embed_texts(embed_model, [texts[i] for i in missing], show_progress)
        for i, vector in zip(missing, embedded, strict=True):
            pooled[i] = np.asarray(vector, dtype=np.float32)
        filled = [v for v in pooled if v is not None]  # all of them by now
        vectors = np.stack(filled).astype(np.float16) if filled else np.zeros((0, 0), np.float16)
        start = 0
        for node in nodes:
            count = len(self.spans[node.node_id])
            self.vectors[node.node_id] = vectors[start : start + count]
            start += count

    def delete(self, chunk_ids: Iterable[str]) -> None:
        """Forget these chunks' sentences."""
        for chunk_id in chunk_ids:
            self.spans.pop(chunk_id, None)
            self.vectors.pop(chunk_id, None)

    def persist(self, folder: Path) -> None:
        """Write all vectors as one float16 matrix, and the spans, in chunk id order."""
        ids = sorted(self.spans)
        arrays = [self.vectors[i] for i in ids if len(self.vectors[i])]
        np.save(folder / _VECTORS_FILE, np.concatenate(arrays) if arrays else np.zeros((0, 0)))
        (folder / _SPANS_FILE).write_text(json.dumps({i: self.spans[i] for i in ids}))

    @classmethod
    def load(cls, folder: Path) -> SentenceStore:
        """What `persist` wrote (vectors memory-mapped); ValueError when the files disagree."""
        spans_json = json.loads((folder / _SPANS_FILE).read_text())
        # Read-only map: `persist` writes a new file and `add` keeps new rows in memory.
        # A plain ndarray view of the map: np.memmap's subclass hooks would run on each
        # of the per-chunk slices below and on every array computed from them.
        matrix = np.asarray(np.load(folder / _VECTORS_FILE, mmap_mode="r"))
        spans: dict[str, list[tuple[int, int]]] = {}
        vectors: dict[str, np.ndarray] = {}
        start = 0
        for chunk_id, chunk_spans in spans_json.items():
            spans[chunk_id] = [(a, b) for a, b in chunk_spans]
            vectors[chunk_id] = matrix[start : start + len(chunk_spans)]
            start += len(chunk_spans)
        if start != len(matrix):
            raise ValueError(f"{len(matrix)} sentence vectors for {start} sentences")
        return cls(spans, vectors)
