"""Per-chunk sentence vectors and spans, stored beside the chunks (FAISS or PostgreSQL).

A chunk of 200 tokens is one vector, and a question about one of its sentences competes
with everything else the chunk says; scoring a chunk by its best sentence (dense and BM25)
finds the sentence that answers. Only candidates' sentences are scored at query time, so
no second ANN index is needed. The vectors are float16 (10k chunks: ~60k sentences, ~45 MiB;
1M chunks: ~5M sentences, ~3.7 GiB) and stay on disk when loaded: a query reads its ~100
candidates' rows (rag.store.packed). The spans of a loaded index are numpy arrays too, not Python
lists (at 1M chunks ~5M tuples: ~0.8 GiB).
"""

from __future__ import annotations

from collections.abc import Iterable, MutableMapping, Sequence
from pathlib import Path

import numpy as np
from llama_index.core.base.embeddings.base import BaseEmbedding
from llama_index.core.schema import BaseNode

from rag.embedding import embed_texts
from rag.onnx_embedding import OnnxEmbedding
from rag.reading.chunks import embed_text, sentence_spans_of, sentence_texts
from rag.store.packed import PackedSentences, PackedSpans, PackedVectors, write_packed

Spans = Sequence[tuple[int, int]]


def _spans_of(node: BaseNode) -> list[tuple[int, int]]:
    return sentence_spans_of(node.get_content(), node.metadata)


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

    The batches only pace the progress bar (the model runs one text at a time:
    rag.onnx_embedding). The chunk is embedded with its metadata header, so a sentence's
    span is shifted past it. None: a sentence truncated away.
    """
    texts = [embed_text(node) for node in nodes]
    shifted = [
        _spans_in_embedded(text, node.get_content(), spans[node.node_id])
        for node, text in zip(nodes, texts, strict=True)
    ]
    per_node: list[list[np.ndarray | None]] = [[] for _ in nodes]
    batches = range(0, len(nodes), model.embed_batch_size)
    if show_progress:
        from tqdm.auto import tqdm

        batches = tqdm(batches, desc="Embedding chunks and sentences")
    for start in batches:
        batch = range(start, min(start + model.embed_batch_size, len(nodes)))
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


# A stored chunk whose vectors another chunk of the same content may take: the node (text
# and metadata), its vector, its sentences' spans and their vectors.
StoredChunk = tuple[BaseNode, np.ndarray, Spans, np.ndarray]


def reuse_vectors(
    nodes: Sequence[BaseNode], stored: Iterable[StoredChunk], sentences: SentenceStore
) -> list[BaseNode]:
    """Give each chunk that embeds the same text, with the same sentences, as a stored one
    that chunk's vectors; the chunks left to embed.

    A moved, renamed or copied file (the same bytes: its sha256) is cut into the same chunks
    again: seconds of embedding saved per hundred chunks. The embedded text holds the title,
    so a file whose title came from its old name is embedded again.
    """
    known = {
        (embed_text(node), tuple(map(tuple, spans))): (vector, sentence_vectors)
        for node, vector, spans, sentence_vectors in stored
    }
    if not known:  # the usual case: nothing to compare each chunk with
        return list(nodes)
    left = []
    for node in nodes:
        spans = _spans_of(node)
        found = known.get((embed_text(node), tuple(map(tuple, spans))))
        if found is None:
            left.append(node)
            continue
        node.embedding = np.asarray(found[0], np.float32).tolist()
        sentences.spans[node.node_id] = spans
        sentences.vectors[node.node_id] = np.asarray(found[1], np.float16)
    return left


def embed_chunks(
    nodes: Sequence[BaseNode], embed_model: BaseEmbedding, show_progress: bool
) -> None:
    """Embed the chunks not embedded yet, with a progress bar (insert_nodes embeds silently).

    Called after `SentenceStore.add`: a pooling ONNX model embeds the chunks in that pass.
    """
    rest = [node for node in nodes if node.embedding is None]
    vectors = embed_texts(embed_model, [embed_text(node) for node in rest], show_progress)
    for node, vector in zip(rest, vectors, strict=True):
        node.embedding = vector


class SentenceStore:
    """chunk id → its sentences' char spans (in the chunk text) and unit vectors.

    `spans` and `vectors` are mappings: plain dicts while built in memory, views over the
    persisted arrays (with this process's changes on top) once loaded.
    """

    def __init__(
        self,
        spans: MutableMapping[str, Spans] | None = None,
        vectors: MutableMapping[str, np.ndarray] | None = None,
    ) -> None:
        self.spans: MutableMapping[str, Spans] = spans if spans is not None else {}
        self.vectors: MutableMapping[str, np.ndarray] = vectors if vectors is not None else {}

    @property
    def chunk_ids(self) -> set[str]:
        return set(self.spans)

    @property
    def sentence_count(self) -> int:
        """All chunks' sentences (counted from the offsets once loaded, not chunk by chunk)."""
        if isinstance(self.spans, PackedSpans):
            return self.spans.sentence_count
        return sum(len(spans) for spans in self.spans.values())

    def add(
        self, nodes: Sequence[BaseNode], embed_model: BaseEmbedding, show_progress: bool
    ) -> None:
        """Split each chunk into sentences and embed them.

        With an ONNX model that pools sentences, the chunks are embedded here too, in the
        same pass (their `embedding` is set); otherwise each sentence is embedded on its own.
        """
        spans = {node.node_id: _spans_of(node) for node in nodes}
        self.spans.update(spans)
        if isinstance(embed_model, OnnxEmbedding) and embed_model.pool_sentences:
            pooled = _embed_pooled(nodes, spans, embed_model, show_progress)
        else:
            pooled = [None] * sum(len(spans[node.node_id]) for node in nodes)
        missing = [i for i, v in enumerate(pooled) if v is None]
        texts = [
            text
            for node in nodes
            for text in sentence_texts(
                node.metadata.get("title", ""),
                node.get_content(),
                node.metadata,
                spans[node.node_id],
            )
        ]
        embedded = embed_texts(embed_model, [texts[i] for i in missing], show_progress)
        for i, vector in zip(missing, embedded, strict=True):
            pooled[i] = np.asarray(vector, dtype=np.float32)
        filled = [v for v in pooled if v is not None]  # all of them by now
        vectors = np.stack(filled).astype(np.float16) if filled else np.zeros((0, 0), np.float16)
        start = 0
        for node in nodes:
            count = len(spans[node.node_id])
            self.vectors[node.node_id] = vectors[start : start + count]
            start += count

    def delete(self, chunk_ids: Iterable[str]) -> None:
        """Forget these chunks' sentences."""
        for chunk_id in chunk_ids:
            self.spans.pop(chunk_id, None)
            self.vectors.pop(chunk_id, None)

    def persist(self, folder: Path) -> None:
        """Write all vectors as one float16 matrix, and the spans, in chunk id order."""
        write_packed(folder, self.spans, self.vectors)

    @classmethod
    def load(cls, folder: Path) -> SentenceStore:
        """What `persist` wrote (or an older index's JSON spans); ValueError when the files
        disagree."""
        packed = PackedSentences.load(folder)
        return cls(PackedSpans(packed), PackedVectors(packed))
