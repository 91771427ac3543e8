"""What retrieval knows of the chunks besides their vectors, persisted beside the index.

BM25 over the chunks and their sentences (rag.store.bm25), and each chunk's document and title
(for the title links of rag.links). Built from every chunk when the index is written,
so loading an index reads a few files instead of building every chunk as a node again
(at 100k chunks: ~16 s to build the nodes, ~36 s to index them; at 1M, far past what a
load may take). Indexes written before it existed are loaded as before: it is built from
their chunks on first use.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from llama_index.core.schema import BaseNode
from llama_index.core.storage.docstore.types import BaseDocumentStore

from rag.store.bm25 import Bm25Builder, Bm25Scorer
from rag.store.faiss.docstore import SqliteDocumentStore
from rag.store.sentence_vectors import SentenceStore

_FOLDER, _CHUNKS_FILE = "lexical", "chunks.json"


@dataclass(frozen=True)
class LexicalIndex:
    """BM25 of the chunks, in the order of `chunk_ids`, and their documents' titles."""

    chunk_ids: list[str]
    chunk_docs: list[str]  # each chunk's document id, in the order of `chunk_ids`
    titles: dict[str, str]  # document id → title (chunks carry their document's title)
    bm25: Bm25Scorer | None  # None: no chunks

    @classmethod
    def build(cls, docstore: BaseDocumentStore, sentences: SentenceStore) -> LexicalIndex:
        """From every chunk of the docstore, read a batch at a time (seconds per 10k)."""
        bm25 = Bm25Builder(sentences)
        docs: list[str] = []
        titles: dict[str, str] = {}
        for nodes in _node_batches(docstore):
            bm25.add(nodes)
            for node in nodes:
                docs.append(node.ref_doc_id or "")
                titles[docs[-1]] = node.metadata.get("title", "")
        return cls(bm25.chunk_ids, docs, titles, bm25.finish())

    def save(self, index_dir: Path) -> None:
        folder = index_dir / _FOLDER
        folder.mkdir()
        chunks = {"chunk_ids": self.chunk_ids, "chunk_docs": self.chunk_docs}
        (folder / _CHUNKS_FILE).write_text(json.dumps(chunks | {"titles": self.titles}))
        if self.bm25 is not None:
            self.bm25.save(folder / "bm25")

    @classmethod
    def load(cls, index_dir: Path) -> LexicalIndex | None:
        """What `save` wrote in `index_dir`; None for an index written before it existed."""
        folder = index_dir / _FOLDER
        if not folder.is_dir():
            return None
        chunks = json.loads((folder / _CHUNKS_FILE).read_text())
        bm25 = Bm25Scorer.load(folder / "bm25") if chunks["chunk_ids"] else None
        # One string per id (JSON parses each occurrence as its own: ~0.2 GiB at 1M chunks):
        # chunk ids interned as the FAISS id map's, documents as the titles' keys.
        titles: dict[str, str] = chunks["titles"]
        same_doc = {doc: doc for doc in titles}
        docs = [same_doc.get(doc, doc) for doc in chunks.pop("chunk_docs")]
        del same_doc
        chunk_ids = [sys.intern(c) for c in chunks.pop("chunk_ids")]
        return cls(chunk_ids, docs, titles, bm25)

    def matches(self, chunk_ids: set[str], sentences: SentenceStore) -> bool:
        """Whether this describes exactly these chunks and their sentences."""
        return (
            self.describes(len(chunk_ids))
            and set(self.chunk_ids) == chunk_ids
            and (self.bm25 is None or self.bm25.sentence_count == sentences.sentence_count)
        )

    def describes(self, chunk_count: int) -> bool:
        """Whether its parts agree and count `chunk_count` chunks (a check without them)."""
        if self.bm25 is None:
            return chunk_count == 0 and not self.chunk_ids
        return self.bm25.chunk_count == len(self.chunk_ids) == len(self.chunk_docs) == chunk_count


def _node_batches(docstore: BaseDocumentStore, size: int = 10_000) -> Iterator[list[BaseNode]]:
    """The docstore's chunks as nodes, `size` at a time where the store can (SQLite)."""
    if isinstance(docstore, SqliteDocumentStore):
        yield from docstore.node_batches(size)
        return
    nodes = list(docstore.docs.values())
    for start in range(0, len(nodes), size):
        yield nodes[start : start + size]
