"""What retrieval knows of the chunks besides their vectors, persisted beside the index.

BM25 over the chunks and their sentences (rag.bm25), and each chunk's document and title
(for the title links of rag.links). Built from every chunk when the index is written,
so loading an index reads a few files instead of building every chunk as a node again
(at 100k chunks: ~16 s to build the nodes, ~36 s to index them; at 1M, far past what a
load may take). Indexes written before it existed are loaded as before: it is built from
their chunks on first use.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from llama_index.core.storage.docstore.types import BaseDocumentStore

from rag.bm25 import Bm25Scorer
from rag.sentences import SentenceStore

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
        """From every chunk of the docstore (builds them all as nodes: seconds per 10k)."""
        nodes = list(docstore.docs.values())
        if not nodes:
            return cls([], [], {}, None)
        bm25, chunk_ids = Bm25Scorer.build(nodes, sentences)
        by_id = {node.node_id: node for node in nodes}
        docs = [by_id[c].ref_doc_id or "" for c in chunk_ids]
        titles = {
            doc: by_id[c].metadata.get("title", "") for c, doc in zip(chunk_ids, docs, strict=True)
        }
        return cls(chunk_ids, docs, titles, bm25)

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
        return cls(chunks["chunk_ids"], chunks["chunk_docs"], chunks["titles"], bm25)

    def matches(self, chunk_ids: set[str], sentences: SentenceStore) -> bool:
        """Whether this describes exactly these chunks and their sentences."""
        if self.bm25 is None:
            return not chunk_ids
        counts_match = self.bm25.chunk_count == len(self.chunk_ids) == len(self.chunk_docs)
        sentence_count = sum(len(spans) for spans in sentences.spans.values())
        return (
            counts_match
            and set(self.chunk_ids) == chunk_ids
            and self.bm25.sentence_count == sentence_count
        )
