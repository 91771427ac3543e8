"""BM25 over the chunks and over their sentences: built at ingest, persisted, memory-mapped.

Built a batch of chunks at a time (`Bm25Builder`), keeping only their token ids: llama-index's
BM25Retriever.from_defaults takes every node at once, ~10 GiB of nodes and token lists at 1M
chunks. The tokens and scores are those it makes (bm25s, English stopwords and stemmer).

Built from the chunks when the index is written (rag.store.lexical), saved with bm25s beside it
and memory-mapped when it is loaded, so a load reads it instead of rebuilding it from every
chunk (~52 s at 100k chunks on 2 cores). An index changed in memory and not yet persisted
builds it again, so it can never disagree with FAISS and the docstore.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import Stemmer
from llama_index.core.schema import BaseNode

from rag.imports import without_optional
from rag.reading.chunks import embed_text, sentence_texts
from rag.store.packed import DiskArray
from rag.store.sentence_vectors import SentenceStore

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
        best_sentence = np.zeros(self.chunk_count, dtype=np.float32)
        if not tokens:  # only stopwords or punctuation ("the of and", "?"): no keyword matches
            return np.zeros(self.chunk_count, dtype=np.float32), best_sentence
        chunk = self._chunks.bm25.get_scores(tokens)
        if self._sentences is not None:
            np.maximum.at(best_sentence, self._sentence_owner, self._sentences.get_scores(tokens))
        return chunk, best_sentence


def _load_mapped(folder: Path) -> bm25s.BM25:
    """A saved bm25s index whose postings are read from disk per query token.

    bm25s's scoring reads a token's postings as `data[start:end]` and `indices[start:end]`;
    those two arrays (nearly all of the index) are DiskArrays, which read just that slice:
    memory-mapped, the pages a query touches stayed in the process (at 1M chunks most of
    the 1.2 GiB after a few hundred questions). `indptr` (one entry per token) stays mapped,
    as a plain ndarray (np.memmap's subclass hooks would run on every array computed from it).
    """
    index = bm25s.BM25.load(str(folder), mmap=True)
    index.scores = {
        key: np.asarray(value) if isinstance(value, np.ndarray) else value
        for key, value in index.scores.items()
    }
    # bm25s 0.3's file names (pinned in pyproject.toml; its `load` takes them as defaults).
    index.scores["data"] = DiskArray(folder / "data.csc.index.npy")
    index.scores["indices"] = DiskArray(folder / "indices.csc.index.npy")
    return index


class _TokenIds:
    """Documents' token ids over one vocabulary, stored flat: what `bm25s.BM25.index` reads
    as its `ids` and `vocab` (a Python list per document is made only while it is read)."""

    def __init__(self) -> None:
        self.vocab: dict[str, int] = {}
        self._parts: list[np.ndarray] = []
        self._lengths: list[np.ndarray] = []
        self._flat = np.zeros(0, np.int32)
        self._offsets = np.zeros(1, np.int64)

    def add(self, texts: list[str], stemmer: Stemmer.Stemmer) -> None:
        """Tokenize as BM25Retriever does, renumbered from the batch's vocabulary to ours."""
        batch = bm25s.tokenize(texts, stopwords="en", stemmer=stemmer, show_progress=False)
        ours = np.zeros(len(batch.vocab), np.int32)
        for token, local in batch.vocab.items():
            ours[local] = self.vocab.setdefault(token, len(self.vocab))
        self._parts += [ours[np.asarray(doc, np.int64)] for doc in batch.ids if doc]
        self._lengths.append(np.fromiter(map(len, batch.ids), np.int64, len(batch.ids)))

    def index(self) -> bm25s.BM25:
        self._flat = np.concatenate(self._parts) if self._parts else self._flat
        self._offsets = np.concatenate([[0], np.cumsum(np.concatenate(self._lengths))])
        self._parts = []
        words = bool(self.vocab)
        if not words:  # no word of 2+ letters anywhere ("x x x"): bm25s needs one token
            self.vocab[""] = 0  # the token bm25s adds for empty documents; no query has it
        built = bm25s.BM25()
        with np.errstate(invalid="ignore" if not words else "warn"):  # 0/0: mean length 0
            built.index(self, show_progress=False)
        self._flat = np.zeros(0, np.int32)
        return built

    @property
    def ids(self) -> _TokenIds:
        return self

    def __len__(self) -> int:
        return len(self._offsets) - 1

    def __iter__(self) -> Iterator[list[int]]:
        bounds = self._offsets.tolist()
        for start, stop in zip(bounds[:-1], bounds[1:], strict=True):
            yield self._flat[start:stop].tolist()


class Bm25Builder:
    """The scorer built from the chunks given a batch at a time, in the order given."""

    def __init__(self, sentences: SentenceStore) -> None:
        self._sentences = sentences
        self._stemmer = Stemmer.Stemmer("english")
        self._chunk_tokens = _TokenIds()
        self._sentence_tokens = _TokenIds()
        self._owners: list[np.ndarray] = []
        self.chunk_ids: list[str] = []

    def add(self, nodes: Sequence[BaseNode]) -> None:
        # llama-index's retriever indexes the chunk with its metadata header (title); we read
        # all its scores instead of its top k, because fusion and the second hop need the
        # scores of chunks outside BM25's own top k.
        texts = [embed_text(node) for node in nodes]
        self._chunk_tokens.add(texts, self._stemmer)
        sentence_texts_: list[str] = []
        for node in nodes:
            spans = self._sentences.spans.get(node.node_id, [])
            title = node.metadata.get("title", "")
            sentence_texts_ += sentence_texts(title, node.get_content(), node.metadata, spans)
            self._owners.append(np.full(len(spans), len(self.chunk_ids), np.int64))
            self.chunk_ids.append(node.node_id)
        if sentence_texts_:
            self._sentence_tokens.add(sentence_texts_, self._stemmer)

    def finish(self) -> Bm25Scorer | None:
        """The scorer (None: no chunks were added)."""
        if not self.chunk_ids:
            return None
        chunks = BM25Retriever(existing_bm25=self._chunk_tokens.index(), stemmer=self._stemmer)
        owners = np.concatenate(self._owners)
        sentences = self._sentence_tokens.index() if len(owners) else None
        return Bm25Scorer(chunks, sentences, owners)
