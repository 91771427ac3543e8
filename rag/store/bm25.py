"""BM25 over term frequencies kept in segments, with the corpus's statistics taken at query time.

The tokens and scores are llama-index's BM25Retriever's: bm25s's tokenizer with English
stopwords and stemmer, and bm25s's default scoring (Lucene's BM25, k1 = 1.5, b = 0.75), to
the last bit of a float32. Not bm25s's index itself: it stores each posting's finished
score, with the corpus's IDF and mean length baked in, so adding one chunk changes every
posting and the whole index is built again (~50 s at 100k chunks on 2 cores). As in
Lucene, `Postings` keep term frequencies and lengths, which never change once written, and
`Bm25Scorer` takes the document frequencies and the mean length over every segment's live
documents when it scores (rag.store.lexical keeps the segments).
"""

from __future__ import annotations

import itertools
import json
import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import Stemmer

from rag.imports import without_optional
from rag.store.packed import DiskArray

# bm25s imports scipy.sparse if it can, for a CSC backend it does not use by default (nor
# here): ~0.25 s of a cold `rag ask`.
with without_optional("scipy.sparse"):
    import bm25s

# bm25s sets its own logger to DEBUG on import: every index build would print a line.
logging.getLogger("bm25s").setLevel(logging.WARNING)

K1, B = 1.5, 0.75  # bm25s's defaults, as BM25Retriever uses it
_STEMMER = Stemmer.Stemmer("english")


def tokenize(texts: list[str]) -> bm25s.tokenization.Tokenized:
    """Token ids per text and their vocabulary, as BM25Retriever tokenizes."""
    return bm25s.tokenize(texts, stopwords="en", stemmer=_STEMMER, show_progress=False)


def query_tokens(query: str) -> list[str]:
    """The query's tokens, repeats kept (bm25s counts a repeated word once per repeat)."""
    tokens = bm25s.tokenize(
        [query], stopwords="en", stemmer=_STEMMER, return_ids=False, show_progress=False
    )
    return tokens[0]


@dataclass(frozen=True)
class Postings:
    """Some documents' term frequencies by token (a CSC matrix) and their lengths in tokens.

    Persisted as `NAME_vocab.json` (tokens in id order) and four .npy files; a loaded one
    reads a token's documents and frequencies from disk when a query asks (DiskArray).
    """

    vocab: dict[str, int]
    indptr: np.ndarray  # int64, len(vocab) + 1: where each token's postings start
    docs: np.ndarray | DiskArray  # int32: each posting's document
    tfs: np.ndarray | DiskArray  # float32: how often the token stands in it
    lengths: np.ndarray  # int32: each document's token count

    @property
    def count(self) -> int:
        return len(self.lengths)

    @classmethod
    def of_texts(cls, texts: list[str]) -> Postings:
        tokenized = tokenize(texts)
        lengths = np.fromiter(map(len, tokenized.ids), np.int64, len(tokenized.ids))
        total = int(lengths.sum())
        tokens = np.fromiter(itertools.chain.from_iterable(tokenized.ids), np.int64, total)
        docs = np.repeat(np.arange(len(texts), dtype=np.int64), lengths)
        # One key per (token, document), sorted by token then document: its count is the
        # term frequency.
        keys, tfs = np.unique(tokens * max(len(texts), 1) + docs, return_counts=True)
        token_ids, doc_ids = np.divmod(keys, max(len(texts), 1))
        vocab = sorted(tokenized.vocab, key=tokenized.vocab.__getitem__)
        return _csc(vocab, token_ids.astype(np.int32), doc_ids.astype(np.int32), tfs, lengths)

    @classmethod
    def merged(cls, parts: Sequence[tuple[Postings, np.ndarray]]) -> Postings:
        """The kept documents of each part (a bool per document), numbered in order."""
        vocab: dict[str, int] = {}
        tokens, docs, tfs, lengths = [], [], [], []
        first = 0  # the merged number of this part's first kept document
        for part, keep in parts:
            renumbered = (np.cumsum(keep) - 1 + first).astype(np.int32)
            ours = np.array([vocab.setdefault(t, len(vocab)) for t in part.vocab], np.int32)
            part_docs = np.asarray(part.docs)
            kept = keep[part_docs]
            tokens.append(np.repeat(ours, np.diff(part.indptr))[kept])
            docs.append(renumbered[part_docs[kept]])
            tfs.append(np.asarray(part.tfs)[kept])
            lengths.append(part.lengths[keep])
            first += int(keep.sum())
        return _csc(list(vocab), *map(_joined, (tokens, docs, tfs, lengths)))

    def find(self, token: str) -> tuple[np.ndarray, np.ndarray] | None:
        """The documents holding `token` and its frequency in each; None if none does."""
        token_id = self.vocab.get(token)
        if token_id is None:
            return None
        start, stop = int(self.indptr[token_id]), int(self.indptr[token_id + 1])
        return np.asarray(self.docs[start:stop]), np.asarray(self.tfs[start:stop])

    def save(self, folder: Path, name: str) -> None:
        (folder / f"{name}_vocab.json").write_text(json.dumps(list(self.vocab)))
        for field in ("indptr", "docs", "tfs", "lengths"):
            np.save(folder / f"{name}_{field}.npy", np.asarray(getattr(self, field)))

    @classmethod
    def load(cls, folder: Path, name: str) -> Postings:
        tokens = json.loads((folder / f"{name}_vocab.json").read_text())
        indptr, lengths = (np.load(folder / f"{name}_{f}.npy") for f in ("indptr", "lengths"))
        docs, tfs = (DiskArray(folder / f"{name}_{f}.npy") for f in ("docs", "tfs"))
        if len(indptr) != len(tokens) + 1 or not len(docs) == len(tfs) == int(indptr[-1]):
            raise ValueError(f"{folder.name}/{name}: postings and vocabulary disagree")
        return cls({t: i for i, t in enumerate(tokens)}, indptr, docs, tfs, lengths)


def _joined(arrays: list[np.ndarray]) -> np.ndarray:
    return np.concatenate(arrays) if arrays else np.zeros(0, np.int32)


def _csc(
    vocab: list[str], tokens: np.ndarray, docs: np.ndarray, tfs: np.ndarray, lengths: np.ndarray
) -> Postings:
    """Postings from (token, document, frequency) triples whose documents ascend within each
    token (so they do in each part of a merge, and the parts follow each other), without the
    tokens no posting uses (a merge drops the deleted documents' words).

    int32 and a stable sort by token only: at 1M chunks a merge holds ~10^8 postings, and
    sorting (token, document) pairs as int64 took gigabytes more."""
    counts = np.bincount(tokens, minlength=len(vocab))
    used = np.flatnonzero(counts)
    order = np.argsort(tokens, kind="stable")  # runs of ascending tokens, one per part
    indptr = np.zeros(len(used) + 1, np.int64)
    np.cumsum(counts[used], out=indptr[1:])
    return Postings(
        {vocab[t]: i for i, t in enumerate(used.tolist())},
        indptr,
        docs[order].astype(np.int32),
        tfs[order].astype(np.float32),
        lengths.astype(np.int32),
    )


@dataclass(frozen=True)
class ScoredPart:
    """One segment as the scorer reads it: its chunks' and sentences' postings, each
    sentence's chunk, and which chunks are live (None: all)."""

    chunks: Postings
    sentences: Postings
    owners: np.ndarray  # each sentence's chunk, numbered within the segment
    live: np.ndarray | None


class _Level:
    """BM25 over one kind of document (chunks or sentences) spread over several postings."""

    def __init__(self, postings: list[Postings], live: list[np.ndarray | None]) -> None:
        self._postings = postings
        self._live = live
        lengths = [
            p.lengths if m is None else p.lengths[m] for p, m in zip(postings, live, strict=True)
        ]
        self.count = sum(map(len, lengths))
        total = sum(int(n.sum()) for n in lengths)
        mean = total / self.count if total else 1.0  # no tokens at all: no postings either
        # Lucene's length normalisation of each document, in float64 as bm25s computes it
        # (its mean length is a float64 scalar); ~40 MiB for 5M sentences at 1M chunks.
        self._norms = [K1 * ((1 - B) + B * p.lengths.astype(np.float64) / mean) for p in postings]

    def scores(self, tokens: list[str]) -> tuple[list[np.ndarray], list[list[np.ndarray]]]:
        """Each postings' documents' BM25 (dead ones too: the caller drops them), and the
        documents each token matched there (a document once per token it holds)."""
        scores = [np.zeros(p.count, np.float32) for p in self._postings]
        matched: list[list[np.ndarray]] = [[] for _ in self._postings]
        found: dict[str, list[tuple[np.ndarray, np.ndarray] | None]] = {}
        for token in tokens:  # in order, a repeat added again: bm25s's float32 sums
            hits = found.setdefault(token, [p.find(token) for p in self._postings])
            df = sum(
                len(hit[0]) if live is None else int(live[hit[0]].sum())
                for hit, live in zip(hits, self._live, strict=True)
                if hit is not None
            )
            if not df:
                continue
            idf = np.float32(math.log(1 + (self.count - df + 0.5) / (df + 0.5)))
            for score, hit, norms, docs_matched in zip(
                scores, hits, self._norms, matched, strict=True
            ):
                if hit is not None:
                    docs, tfs = hit
                    # bm25s stores each posting's score in float32 and sums those.
                    score[docs] += (idf * (tfs / (norms[docs] + tfs))).astype(np.float32)
                    docs_matched.append(docs)
        return scores, matched


class Bm25Scorer:
    """Every live chunk's BM25 score for a query, and the score of its best sentence, in
    the order of the segments and of their chunks."""

    def __init__(self, parts: list[ScoredPart]) -> None:
        self._parts = parts
        self._chunks = _Level([p.chunks for p in parts], [p.live for p in parts])
        sentence_live = [None if p.live is None else p.live[p.owners] for p in parts]
        self._sentences = _Level([p.sentences for p in parts], sentence_live)

    @property
    def chunk_count(self) -> int:
        return self._chunks.count

    @property
    def sentence_count(self) -> int:
        return self._sentences.count

    def scores(self, query: str) -> tuple[np.ndarray, np.ndarray]:
        """BM25 of each live chunk and of each one's best sentence."""
        tokens = query_tokens(query)  # none: only stopwords or punctuation ("the of", "?")
        chunks, _ = self._chunks.scores(tokens)
        best = [np.zeros(p.chunks.count, np.float32) for p in self._parts]
        sentences, matched = self._sentences.scores(tokens)
        for part, part_sentences, part_matched, part_best in zip(
            self._parts, sentences, matched, best, strict=True
        ):
            if part_matched:  # only the sentences a token matched: ~60k of 500k at 100k chunks
                docs = np.concatenate(part_matched)
                np.maximum.at(part_best, part.owners[docs], part_sentences[docs])
        return self._live(chunks), self._live(best)

    def _live(self, per_part: list[np.ndarray]) -> np.ndarray:
        live = [
            s if p.live is None else s[p.live] for s, p in zip(per_part, self._parts, strict=True)
        ]
        return np.concatenate(live) if live else np.zeros(0, np.float32)
