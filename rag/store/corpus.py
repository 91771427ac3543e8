"""What the engine and the retriever need from a store, and nothing more."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    import numpy as np
    from llama_index.core import Document
    from llama_index.core.base.embeddings.base import BaseEmbedding
    from llama_index.core.node_parser import SentenceSplitter
    from llama_index.core.schema import BaseNode

    from rag.filters import ChunkFilter
    from rag.store.lexical import LexicalIndex


@dataclass(frozen=True)
class DocumentInfo:
    """One indexed document, as `rag docs` lists it."""

    doc_id: str
    source: str
    title: str
    chunks: int
    ingested: str  # ISO date and time of the last add or replace (UTC)


class Corpus(Protocol):
    """The chunks of one version of the documents, their vectors, BM25 and titles.

    Implemented by `rag.store.faiss.corpus.FaissCorpus` (files in the data dir) and
    `rag.store.pg.corpus.PgCorpus` (PostgreSQL + pgvector). Reads see one version; writes
    become visible to other readers at `persist`.
    """

    @property
    def embed_model(self) -> BaseEmbedding:
        """The model the chunk vectors were made with: queries must be embedded by it too."""
        ...

    @property
    def chunk_count(self) -> int: ...

    # Reads at query time.

    def nearest(
        self, vector: np.ndarray, k: int, allowed: ChunkFilter | None = None
    ) -> list[tuple[str, float]]:
        """The k chunk ids nearest the unit `vector`, with their cosines, best first;
        `allowed`: among the chunks a metadata filter admits only."""
        ...

    def chunk_vectors(self, chunk_ids: Sequence[str]) -> np.ndarray:
        """The chunks' unit vectors, one row each (zeros for a chunk deleted since)."""
        ...

    def sentence_vectors(self, chunk_id: str) -> np.ndarray:
        """The vectors of a chunk's sentences, one row per stored span (float16)."""
        ...

    def chunk_metadata(self, chunk_ids: Sequence[str]) -> list[dict]:
        """Each chunk's metadata, in the order of `chunk_ids` (metadata filters read it)."""
        ...

    def nodes(self, chunk_ids: Sequence[str]) -> list[BaseNode]:
        """The chunks of these ids that are still stored, text and metadata (no vectors)."""
        ...

    def lexical_index(self) -> LexicalIndex:
        """BM25 and titles of the chunks of this version."""
        ...

    def documents(self) -> list[DocumentInfo]:
        """The indexed documents, sorted by source path."""
        ...

    def stale(self) -> bool:
        """Whether another process or instance has written a newer version since."""
        ...

    # Writes.

    def upsert(
        self, documents: Sequence[Document], splitter: SentenceSplitter, show_progress: bool
    ) -> dict[str, str]:
        """Add new documents, replace changed ones, skip unchanged: doc_id → what happened."""
        ...

    def delete(self, doc_id: str) -> None:
        """Remove a document and its chunks."""
        ...

    def persist(self) -> None:
        """Make the writes so far durable and visible to every reader, with their BM25."""
        ...
