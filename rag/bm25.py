"""BM25 over the chunks and over their sentences, rebuilt from the docstore on every change.

Built in memory when the index is loaded or changed, so it can never disagree with FAISS
and the docstore: ~5k chunks and ~28k sentences take ~4 s on a busy 2-core machine; past
~100k chunks that rebuild would need to become incremental or persisted.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

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


class Bm25Scorer:
    """Every chunk's BM25 score for a query, and the score of its best sentence."""

    def __init__(self, nodes: Sequence[BaseNode], sentences: SentenceStore) -> None:
        self._stemmer = Stemmer.Stemmer("english")
        # llama-index's retriever builds the chunk index (title + text, stemmed, no
        # stopwords); we read all its scores instead of its top k, because fusion and the
        # second hop need the scores of chunks outside BM25's own top k.
        self._chunks = BM25Retriever.from_defaults(nodes=list(nodes), stemmer=self._stemmer)
        self.chunk_ids = [entry["node_id"] for entry in self._chunks.corpus]
        position = {chunk_id: i for i, chunk_id in enumerate(self.chunk_ids)}
        texts: list[str] = []
        owners: list[int] = []
        for node in nodes:
            spans = sentences.spans.get(node.node_id, [])
            texts += sentence_texts(node.metadata.get("title", ""), node.get_content(), spans)
            owners += [position[node.node_id]] * len(spans)
        self._sentence_owner = np.array(owners, dtype=np.int64)
        self._sentences = bm25s.BM25()
        if texts:
            self._sentences.index(self._tokenize(texts, stopwords="en"), show_progress=False)

    def _tokenize(self, texts: list[str], stopwords: str | None = None):
        return bm25s.tokenize(
            texts, stopwords=stopwords, stemmer=self._stemmer, show_progress=False
        )

    def _query_tokens(self, query: str) -> list[str]:
        tokens = bm25s.tokenize(
            [query], stopwords="en", stemmer=self._stemmer, return_ids=False, show_progress=False
        )
        return tokens[0]

    def scores(self, query: str) -> tuple[np.ndarray, np.ndarray]:
        """BM25 of each chunk (in `chunk_ids` order) and of each chunk's best sentence."""
        tokens = self._query_tokens(query)
        chunk = self._chunks.bm25.get_scores(tokens)
        best_sentence = np.zeros(len(self.chunk_ids), dtype=np.float32)
        if len(self._sentence_owner) and tokens:
            np.maximum.at(best_sentence, self._sentence_owner, self._sentences.get_scores(tokens))
        return chunk, best_sentence
