"""BM25 over the chunks and over their sentences: built at ingest, persisted, memory-mapped.

Built from the chunks when the index is written (rag.lexical), saved with bm25s beside it
and memory-mapped when it is loaded, so a load reads it instead of rebuilding it from every
chunk (~52 s at 100k chunks on 2 cores). An index changed in memory and not yet persisted
builds it again, so it can never disagree with FAISS and the docstore.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import Stemmer
from llama_index.core.schema import BaseNode

from rag.imports import without_optional
from rag.sentences import SentenceStore, sentence_texts

# bm25s imports scipy.sparse if it can, for a CSC backend it does not use by default (nor
# here): ~0.25 s of a cold `rag ask`.
with without_optional("scipy.sparse"):
    import bm25s
    from llama_index.retrievers.bm25 import BM25Retriever

# bm25s sets its own logger to DEBUG on import: every index build would print a line.
logging.getLogger("bm25s").setLevel(logging.WARNING)

_CHUNKS_DIR, _SENTENCES_DIR, _OWNERS_FILE = "chunks", "sentences", "sentence_owners.npy"


class Bm25Scorer:
    """Every chunk's BM25 score for a query, and the score of its best sentence."""

    def __init__(
        self, chunks: BM25Retriever, sentences: bm25s.BM25 | None, sentence_owner: np.ndarray
    ) -> None:
        """`sentence_owner`: each sentence's chunk, as a position in the chunk index."""
        self._stemmer = Stemmer.Stemmer("english")
        self._chunks = chunks
        self._sentences = sentences
        self._sentence_owner = sentence_owner

    @classmethod
    def build(
        cls, nodes: Sequence[BaseNode], sentences: SentenceStore
    ) -> tuple[Bm25Scorer, list[str]]:
        """The scorer over `nodes`, and the chunk ids in the order its scores come in."""
        # llama-index's retriever builds the chunk index (title + text, stemmed, no
        # stopwords); we read all its scores instead of its top k, because fusion and the
        # second hop need the scores of chunks outside BM25's own top k.
        chunks = BM25Retriever.from_defaults(nodes=list(nodes), stemmer=Stemmer.Stemmer("english"))
        chunk_ids = [entry["node_id"] for entry in chunks.corpus]
        position = {chunk_id: i for i, chunk_id in enumerate(chunk_ids)}
        texts: list[str] = []
        owners: list[int] = []
        for node in nodes:
            spans = sentences.spans.get(node.node_id, [])
            texts += sentence_texts(node.metadata.get("title", ""), node.get_content(), spans)
            owners += [position[node.node_id]] * len(spans)
        sentence_index = None
        if texts:
            sentence_index = bm25s.BM25()
            tokens = bm25s.tokenize(
                texts, stopwords="en", stemmer=chunks.stemmer, show_progress=False
            )
            sentence_index.index(tokens, show_progress=False)
        return cls(chunks, sentence_index, np.array(owners, dtype=np.int64)), chunk_ids

    def save(self, folder: Path) -> None:
        """The two bm25s indexes and the sentences' chunks, without the corpus (the docstore
        has it)."""
        folder.mkdir(parents=True, exist_ok=True)
        self._chunks.bm25.save(str(folder / _CHUNKS_DIR))
        if self._sentences is not None:
            self._sentences.save(str(folder / _SENTENCES_DIR))
        np.save(folder / _OWNERS_FILE, self._sentence_owner)

    @classmethod
    def load(cls, folder: Path) -> Bm25Scorer:
        """What `save` wrote, its score arrays memory-mapped."""
        chunks = BM25Retriever(existing_bm25=_load_mapped(folder / _CHUNKS_DIR))
        owners = np.load(folder / _OWNERS_FILE)
        sentences = _load_mapped(folder / _SENTENCES_DIR) if len(owners) else None
        return cls(chunks, sentences, owners)

    @property
    def chunk_count(self) -> int:
        return int(self._chunks.bm25.scores["num_docs"])

    @property
    def sentence_count(self) -> int:
        return len(self._sentence_owner)

    def _query_tokens(self, query: str) -> list[str]:
        tokens = bm25s.tokenize(
            [query], stopwords="en", stemmer=self._stemmer, return_ids=False, show_progress=False
        )
        return tokens[0]

    def scores(self, query: str) -> tuple[np.ndarray, np.ndarray]:
        """BM25 of each chunk (in the chunk index's order) and of each chunk's best sentence."""
        tokens = self._query_tokens(query)
        chunk = self._chunks.bm25.get_scores(tokens)
        best_sentence = np.zeros(self.chunk_count, dtype=np.float32)
        if self._sentences is not None and tokens:
            np.maximum.at(best_sentence, self._sentence_owner, self._sentences.get_scores(tokens))
        return chunk, best_sentence


def _load_mapped(folder: Path) -> bm25s.BM25:
    """A saved bm25s index with its score arrays mapped read-only, as plain ndarrays
    (np.memmap's subclass hooks would run on every array a query computes from them)."""
    index = bm25s.BM25.load(str(folder), mmap=True)
    index.scores = {
        key: np.asarray(value) if isinstance(value, np.ndarray) else value
        for key, value in index.scores.items()
    }
    return index
