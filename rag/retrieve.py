"""Hybrid retrieval: dense ⊕ BM25 at chunk and sentence level, then a title-linked second hop.

Why not llama-index's QueryFusionRetriever: it fuses whole ranked lists (RRF or min-max
scores), while this ranking also needs features of chunks outside each retriever's top k
(their best sentence, and the documents a top passage links to). Those are computed here,
for the candidates only, so a query stays a few milliseconds at 10k chunks.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import faiss
import numpy as np
from llama_index.core.schema import NodeWithScore

from rag.config import Settings
from rag.links import TitleLinker
from rag.reading.chunks import vector_spans
from rag.store.corpus import Corpus
from rag.types import Passage

if TYPE_CHECKING:
    from llama_index.core.vector_stores.types import MetadataFilters

    from rag.filters import ChunkFilter

# Retrieval modes a user can pick (the UI's settings drawer): overrides of the fusion settings.
RETRIEVAL_MODES: dict[str, dict[str, float]] = {
    "hybrid": {},
    "dense": {"weight_bm25": 0, "weight_sentence_bm25": 0, "title_boost": 0, "hop_parents": 0},
    "keyword": {"weight_dense": 0, "weight_sentence_dense": 0, "title_boost": 0, "hop_parents": 0},
}


@dataclass(frozen=True)
class _Query:
    """What one query knows about every chunk, and the scales that normalise it to [0, 1]."""

    vector: np.ndarray
    dense: dict[int, float]  # FAISS's top candidates: position → cosine
    dense_floor: float  # the cosine of FAISS's last candidate: maps to 0
    bm25: np.ndarray  # every chunk
    sentence_bm25: np.ndarray  # every chunk's best sentence
    allowed: ChunkFilter | None = None  # a metadata filter's chunks (None: all)

    def admit(self, positions: set[int]) -> set[int]:
        """The positions the metadata filter admits."""
        return positions if self.allowed is None else self.allowed.admits(positions)


@dataclass(frozen=True)
class FusionSignals:
    """A query's first-round candidates: chunk ids, each one's normalised dense, BM25,
    sentence dense and sentence BM25 signals (rows), and whether the question names its
    document (those get `Settings.title_boost`)."""

    chunk_ids: list[str]
    signals: np.ndarray  # (candidates, 4), in `fusion_weights` order
    named: np.ndarray


class Retriever:
    """Ranks the chunks of one Corpus for a query; rebuild it when the corpus changes."""

    def __init__(self, corpus: Corpus, settings: Settings) -> None:
        self.corpus = corpus
        self.settings = settings
        # One query at a time: waking FAISS's OpenMP threads costs more than searching 10k
        # vectors (1.1 ms on one thread, 4.4 ms on two, measured on 2 busy cores). Exact
        # search of far larger flat indexes would want the threads back.
        faiss.omp_set_num_threads(1)
        lexical = corpus.lexical_index()  # BM25 and titles: persisted with the index
        self._bm25 = lexical.bm25
        self._chunk_ids = lexical.chunk_ids
        self._position = {chunk_id: i for i, chunk_id in enumerate(self._chunk_ids)}
        self._chunk_doc = lexical.chunk_docs
        self._doc_chunks = _DocChunks(self._chunk_doc)
        self._links_of: dict[int, set[str]] = {}
        self._linker = TitleLinker(lexical.titles.items())
        # Each chunk's metadata, for metadata filters: read on the first filtered question
        # (a load builds no chunk any more: rag.store.lexical).
        self._chunk_metadata: list[dict] | None = None
        self._filters: dict[str, ChunkFilter] = {}

    def retrieve(
        self,
        query: str,
        k: int,
        mode: str = "hybrid",
        filters: MetadataFilters | None = None,
    ) -> tuple[list[Passage], dict[str, float]]:
        """The k best passages (score: cosine to the query) and the ms spent per stage.

        `filters`: only chunks whose metadata matches (rag.filters); NoMatchingDocumentError
        when no chunk does.
        """
        started = time.perf_counter()
        vector = self.corpus.embed_model.get_query_embedding(query)
        embed_ms = (time.perf_counter() - started) * 1000
        passages, timings = self.search(query, np.asarray(vector, np.float32), k, mode, filters)
        return passages, {"embed": embed_ms} | timings

    def search(
        self,
        query: str,
        vector: np.ndarray,
        k: int,
        mode: str = "hybrid",
        filters: MetadataFilters | None = None,
    ) -> tuple[list[Passage], dict[str, float]]:
        """`retrieve` with the query already embedded (evals reuse one embedding per question)."""
        if self._bm25 is None:
            return [], {}
        times = [time.perf_counter()]
        q = self._query(query, vector, self._chunk_filter(filters), times)
        if q is None:
            return [], {}
        ranked = self._rank(query, q, k, self._mode_settings(mode))
        # On a shared store a chunk deleted since the snapshot is left out: fewer passages.
        nodes = self.corpus.nodes([c for c, _ in ranked])
        by_id = {node.node_id: node for node in nodes}
        kept = [(by_id[c], score) for c, score in ranked if c in by_id]
        # A shared store fetches sentence vectors per query: these passages' in one round trip.
        self.corpus.chunk_vectors([node.node_id for node, _ in kept])
        passages = [
            self._with_unit_cosines(
                Passage.from_node(NodeWithScore(node=node, score=score), rank), vector
            )
            for rank, (node, score) in enumerate(kept, start=1)
        ]
        times.append(time.perf_counter())
        stages = ("dense", "bm25", "fusion")
        timings = {s: (b - a) * 1000 for s, a, b in zip(stages, times[:-1], times[1:], strict=True)}
        timings["search"] = (times[-1] - times[0]) * 1000
        return passages, timings

    def _query(
        self, query: str, vector: np.ndarray, allowed: ChunkFilter | None, times: list[float]
    ) -> _Query | None:
        """The dense candidates and every chunk's BM25 (a time appended after each); None
        for an empty index, or when a filter's chunks were all deleted since the snapshot."""
        if self._bm25 is None:
            return None
        found = self.corpus.nearest(vector, self.settings.fusion_candidates, allowed)
        dense = {self._position[c]: float(s) for c, s in found}
        if allowed is not None and not dense:
            return None
        times.append(time.perf_counter())
        bm25, sentence_bm25 = self._bm25.scores(query)
        if allowed is not None:  # filtered out: no keyword match either
            bm25, sentence_bm25 = bm25 * allowed.mask, sentence_bm25 * allowed.mask
        times.append(time.perf_counter())
        return _Query(vector, dense, min(dense.values(), default=0.0), bm25, sentence_bm25, allowed)

    def fusion_signals(self, query: str, vector: np.ndarray) -> FusionSignals:
        """The first round's candidates with the four normalised signals the fusion weighs:
        what `evals/fusion_fit.py` fits the weights on."""
        q = self._query(query, vector, None, [])
        if q is None:
            return FusionSignals([], np.zeros((0, 4), np.float32), np.zeros(0, bool))
        first, named, cosines, sentence_cosines, scale = self._first_round(query, q)
        return FusionSignals(
            [self._chunk_ids[p] for p in first],
            np.array(
                [scale.signals(p, cosines[p], sentence_cosines[p]) for p in first], np.float32
            ).reshape(-1, 4),
            np.array([p in named for p in first], bool),
        )

    def _with_unit_cosines(self, passage: Passage, vector: np.ndarray) -> Passage:
        """The passage with each unit's cosine to the query, from the stored sentence vectors."""
        spans = vector_spans(passage.text, passage.units)
        vectors = self.corpus.sentence_vectors(passage.chunk_id)
        if len(vectors) != len(spans):  # an index written before units were stored
            return passage
        cosine = dict(zip(spans, (vectors.astype(np.float32) @ vector).tolist(), strict=True))
        cosines = tuple(cosine.get((u.start, u.end), math.nan) for u in passage.units)
        return replace(passage, unit_cosines=cosines)

    def opening(self, doc_id: str, count: int = 2) -> list[Passage]:
        """The first `count` chunks of a document, in order: where it says what it is."""
        ids = [self._chunk_ids[p] for p in self._doc_chunks[doc_id]]
        nodes = self.corpus.nodes(ids)
        nodes = sorted(nodes, key=lambda n: getattr(n, "start_char_idx", None) or 0)[:count]
        return [
            Passage.from_node(NodeWithScore(node=node, score=0.0), rank)
            for rank, node in enumerate(nodes, start=1)
        ]

    def _mode_settings(self, mode: str) -> Settings:
        """The fusion settings of a retrieval mode (read per query: evals swap `settings`)."""
        overrides = RETRIEVAL_MODES[mode]
        return self.settings.model_copy(update=overrides) if overrides else self.settings

    def _rank(self, query: str, q: _Query, k: int, s: Settings) -> list[tuple[str, float]]:
        """The k best chunk ids and their scores.

        Fused first-round scores, raised by the question's titles and by second-hop links,
        then scaled so the first carries the best cosine among the candidates: the order is
        the fusion's, and the top score keeps meaning what `Settings.min_score` gates.
        """
        first, named, cosines, sentence_cosines, scale = self._first_round(query, q)
        score = {p: scale.fuse(p, cosines[p], sentence_cosines[p], s) for p in first}
        for p in named:
            score[p] += s.title_boost
        # Second hop: the documents named in the best passages of the first round, scored
        # by the passage that names them as much as by the question (iterative retrieval).
        parents = self._best_per_document(score, s.hop_parents)
        links = self._links(parents)
        linked = {
            (parent, p)
            for parent in parents
            for doc in links[parent]
            for p in q.admit(set(self._doc_chunks[doc]))
        }
        new = sorted({p for _, p in linked} - set(score))
        new_cosines, new_sentence_cosines = self._cosines(new, q.vector)
        cosines |= new_cosines
        for p in new:
            score[p] = scale.fuse(p, new_cosines[p], new_sentence_cosines[p], s)
        hopped = dict(score)
        for parent, p in linked:
            via = s.hop_weight * score[parent] + (1 - s.hop_weight) * score[p]
            hopped[p] = max(hopped[p], via)
        ranked = sorted(hopped, key=lambda p: (-hopped[p], p))[:k]
        top = hopped[ranked[0]]
        unit = max(max(cosines.values()), 0.0) / top if top > 0 else 0.0
        return [(self._chunk_ids[p], hopped[p] * unit) for p in ranked]

    def _first_round(
        self, query: str, q: _Query
    ) -> tuple[list[int], set[int], dict[int, float], dict[int, float], _Scale]:
        """The candidates (dense, BM25 and the chunks of documents the question names), the
        named ones, their chunk and best-sentence cosines, and the scale of this query."""
        n = min(self.settings.fusion_candidates, len(self._chunk_ids))
        first = set(q.dense) | set(np.argpartition(-q.bm25, n - 1)[:n].tolist())
        named = q.admit({p for doc in self._linker.linked(query) for p in self._doc_chunks[doc]})
        candidates = sorted(q.admit(first | named))
        cosines, sentence_cosines = self._cosines(candidates, q.vector)
        return candidates, named, cosines, sentence_cosines, _Scale(q, sentence_cosines)

    def _cosines(
        self, positions: list[int], vector: np.ndarray
    ) -> tuple[dict[int, float], dict[int, float]]:
        """Each chunk's cosine to the query, and its best sentence's."""
        ids = [self._chunk_ids[p] for p in positions]
        chunk = self.corpus.chunk_vectors(ids) @ vector
        per_chunk = [self.corpus.sentence_vectors(c) for c in ids]
        counts = np.array([len(v) for v in per_chunk])
        best = np.full(len(ids), -1.0)
        if counts.sum():
            sentence = np.concatenate(per_chunk).astype(np.float32) @ vector
            starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
            has = counts > 0
            best[has] = np.maximum.reduceat(sentence, starts[has])
        return dict(zip(positions, chunk.tolist(), strict=True)), dict(
            zip(positions, best.tolist(), strict=True)
        )

    def _best_per_document(self, score: dict[int, float], count: int) -> list[int]:
        best: dict[str, int] = {}
        if count == 0:
            return []
        for p in sorted(score, key=lambda p: -score[p]):
            best.setdefault(self._chunk_doc[p], p)
            if len(best) == count:
                break
        return list(best.values())

    # --- Metadata filters (rag.filters): evaluated once per filter and corpus version ---

    def _chunk_filter(self, filters: MetadataFilters | None) -> ChunkFilter | None:
        if filters is None or not filters.filters:
            return None
        from rag.filters import select_chunks  # only when filtering: keeps `rag ask` lean

        key = filters.model_dump_json()
        if key not in self._filters:
            if len(self._filters) >= 32:  # a few filters in use at a time: forget the oldest
                self._filters.pop(next(iter(self._filters)), None)
            self._filters[key] = select_chunks(filters, self._chunk_ids, self._metadata())
        return self._filters[key]

    def _metadata(self) -> list[dict]:
        """Each chunk's metadata, in chunk order (read for every chunk once: seconds at 100k)."""
        if self._chunk_metadata is None:
            self._chunk_metadata = self.corpus.chunk_metadata(self._chunk_ids)
        return self._chunk_metadata

    def _links(self, positions: list[int]) -> dict[int, set[str]]:
        """The other documents each chunk names; chunks not seen yet are read in one call.

        Memoised: chunks do not change under us (a write makes a new retriever); a chunk
        deleted from a shared store since the snapshot names none.
        """
        new = [p for p in positions if p not in self._links_of]
        if new:
            ids = [self._chunk_ids[p] for p in new]
            nodes = self.corpus.nodes(ids)
            text = {node.node_id: node.get_content() for node in nodes}
            for p, chunk_id in zip(new, ids, strict=True):
                named = self._linker.linked(text[chunk_id]) if chunk_id in text else set()
                self._links_of[p] = named - {self._chunk_doc[p]}
        return {p: self._links_of[p] for p in positions}


class _DocChunks:
    """Each document's chunk positions, in arrays: a dict of lists took ~0.2 GiB at 1M chunks."""

    def __init__(self, chunk_docs: list[str]) -> None:
        encoded = np.array([d.encode() for d in chunk_docs], dtype=np.bytes_)
        self._docs, doc_of_chunk = np.unique(encoded, return_inverse=True)  # docs sorted
        self._chunks = np.argsort(doc_of_chunk, kind="stable")  # grouped by document
        self._starts = np.searchsorted(doc_of_chunk[self._chunks], np.arange(len(self._docs) + 1))

    def __getitem__(self, doc_id: str) -> list[int]:
        """The document's chunk positions, in chunk order ([] for an unknown document)."""
        key = doc_id.encode()
        i = int(np.searchsorted(self._docs, key))
        if i == len(self._docs) or self._docs[i] != key:
            return []
        return self._chunks[self._starts[i] : self._starts[i + 1]].tolist()


class _Scale:
    """Maps each signal to [0, 1] for one query, so the fusion weights are comparable."""

    def __init__(self, q: _Query, sentence_cosines: dict[int, float]) -> None:
        self._q = q
        top_dense = max(q.dense.values(), default=1.0)
        self._dense = (q.dense_floor, max(top_dense - q.dense_floor, 1e-9))
        self._bm25 = max(float(q.bm25.max()), 1e-9)
        self._sentence_bm25 = max(float(q.sentence_bm25.max()), 1e-9)
        low, high = min(sentence_cosines.values()), max(sentence_cosines.values())
        self._sentence = (low, max(high - low, 1e-9))

    def signals(self, p: int, cosine: float, sentence_cosine: float) -> tuple[float, ...]:
        """Dense, BM25, sentence dense and sentence BM25, each in [0, 1]."""
        return (
            max(0.0, (cosine - self._dense[0]) / self._dense[1]),
            float(self._q.bm25[p]) / self._bm25,
            max(0.0, (sentence_cosine - self._sentence[0]) / self._sentence[1]),
            float(self._q.sentence_bm25[p]) / self._sentence_bm25,
        )

    def fuse(self, p: int, cosine: float, sentence_cosine: float, s: Settings) -> float:
        """The weighted sum of the four normalised signals (weights sum to one)."""
        weights = fusion_weights(s)
        parts = zip(weights, self.signals(p, cosine, sentence_cosine), strict=True)
        return sum(w * x for w, x in parts) / max(sum(weights), 1e-9)


def fusion_weights(s: Settings) -> tuple[float, float, float, float]:
    """The weights of `_Scale.signals`, in its order."""
    return (s.weight_dense, s.weight_bm25, s.weight_sentence_dense, s.weight_sentence_bm25)
