"""The chunk vectors in FAISS, by chunk id: llama-index's FAISS map store, made fit to keep.

Everything that touches the FAISS index itself is here; `FaissCorpus` uses it by chunk id.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import faiss
import numpy as np
from llama_index.core.schema import BaseNode
from llama_index.vector_stores.faiss import FaissMapVectorStore, FaissVectorStore

from rag.filters import ChunkFilter
from rag.store.faiss.vectors import (
    VectorIndexPolicy,
    build_flat,
    build_ivf,
    configure,
    is_ivf,
    rebuild_as,
)

ID_MAP_FILE = "id_map.json"  # llama-index's FaissMapVectorStore writes it


class FaissIdMapStore(FaissMapVectorStore):
    """FaissMapVectorStore with ids that stay unique after deletes, and batched adds.

    Upstream numbers a new vector `ntotal`, which after a delete repeats an id still in use.
    The FAISS index is an IndexIDMap2 over a flat index, or an IVF index (rag.store.faiss.vectors).
    """

    def __init__(self, faiss_index: Any) -> None:
        if not is_ivf(faiss_index):
            super().__init__(faiss_index=faiss_index)
            return
        # Upstream accepts only IndexIDMap(2) wrappers; an IVF index maps ids itself.
        FaissVectorStore.__init__(self, faiss_index=faiss_index)
        self._node_id_to_faiss_id_map = {}
        self._faiss_id_to_node_id_map = {}

    def add(self, nodes: Sequence[BaseNode], **add_kwargs: Any) -> list[str]:
        if not nodes:
            return []
        first = max(self._faiss_id_to_node_id_map, default=-1) + 1
        ids = np.arange(first, first + len(nodes), dtype=np.int64)
        vectors = np.array([node.get_embedding() for node in nodes], dtype="float32")
        self._faiss_index.add_with_ids(vectors, ids)
        for faiss_id, node in zip(ids.tolist(), nodes, strict=True):
            self._node_id_to_faiss_id_map[node.node_id] = faiss_id
            self._faiss_id_to_node_id_map[faiss_id] = node.node_id
        return [node.node_id for node in nodes]

    @classmethod
    def from_persist_path(cls, persist_path: str, fs: Any = None) -> FaissIdMapStore:
        """llama-index's, with one string per node id: its two maps each held a copy (and
        the parsed file a third while both were built: ~0.3 GiB at 1M chunks)."""
        store = cls(faiss_index=faiss.read_index(persist_path))
        id_map = json.loads((Path(persist_path).parent / ID_MAP_FILE).read_text())
        # Interned: the index struct and the lexical index hold the same ids (rag.store.lexical).
        to_faiss = {
            sys.intern(node_id): int(i) for node_id, i in id_map["node_id_to_faiss_id_map"].items()
        }
        if len(id_map.pop("faiss_id_to_node_id_map")) != len(to_faiss):
            raise ValueError(f"{ID_MAP_FILE}: its two maps differ in size")
        del id_map
        store._node_id_to_faiss_id_map = to_faiss
        store._faiss_id_to_node_id_map = {i: node_id for node_id, i in to_faiss.items()}
        return store

    @property
    def node_ids(self) -> set[str]:
        return set(self._node_id_to_faiss_id_map)

    @property
    def vector_count(self) -> int:
        """The vectors FAISS holds (equal to `len(node_ids)` in a consistent index)."""
        return self._faiss_index.ntotal

    @property
    def kind(self) -> str:
        """`flat` or `ivf`: what holds the chunk vectors now."""
        return "ivf" if is_ivf(self._faiss_index) else "flat"

    def configure(self, policy: VectorIndexPolicy) -> None:
        """Set the search parameters the policy asks for (IVF's nprobe)."""
        configure(self._faiss_index, policy)

    def fit(self, policy: VectorIndexPolicy, trained_on: int) -> int:
        """Rebuild as the kind the policy wants for this size: the count IVF was trained on."""
        current = self._faiss_index
        kind = rebuild_as(current, policy, trained_on)
        if kind is None:
            return trained_on
        ids = np.fromiter(
            self._faiss_id_to_node_id_map, np.int64, len(self._faiss_id_to_node_id_map)
        )
        if kind == "flat":
            self._faiss_index = build_flat(current, ids)
            return 0
        self._faiss_index = build_ivf(current, ids, policy)
        return len(ids)

    def vectors(self, chunk_ids: Sequence[str], dimension: int) -> np.ndarray:
        """The stored unit vectors of these chunks, one row each, read back from FAISS."""
        faiss_ids = self._node_id_to_faiss_id_map  # one pydantic attribute lookup
        ids = np.array([faiss_ids[c] for c in chunk_ids], np.int64)
        if not len(ids):
            return np.zeros((0, dimension), dtype=np.float32)
        return self._faiss_index.reconstruct_batch(ids)

    def nearest_among(
        self, vector: np.ndarray, k: int, allowed: ChunkFilter
    ) -> list[tuple[str, float]]:
        """The k nearest among the chunks a filter admits.

        llama-index's FAISS store takes no filters; FAISS searches an id subset natively.
        """
        index, to_node = self._faiss_index, self._faiss_id_to_node_id_map
        if "faiss" not in allowed.cache:  # the same filter object comes back each query
            ids = self._node_id_to_faiss_id_map
            wanted = np.sort(np.fromiter((ids[c] for c in allowed.chunk_ids), np.int64))
            allowed.cache["faiss"] = (wanted, faiss.IDSelectorBatch(wanted))
        wanted, selector = allowed.cache["faiss"]
        # faiss's type stubs lack the SWIG keyword arguments of SearchParameters.
        if is_ivf(index):
            nprobe = faiss.extract_index_ivf(index).nprobe
            params: faiss.SearchParameters = faiss.SearchParametersIVF(  # type: ignore[call-arg]
                sel=selector, nprobe=nprobe
            )
        else:
            params = faiss.SearchParameters(sel=selector)  # type: ignore[call-arg]
        query = vector.reshape(1, -1).astype(np.float32)
        scores, found = index.search(query, k, params=params)
        hits = [(int(i), float(s)) for i, s in zip(found[0], scores[0], strict=True) if i >= 0]
        if len(hits) < min(k, len(wanted)):  # IVF: the filter's chunks sit in unprobed lists
            exact = index.reconstruct_batch(wanted) @ vector
            top = np.argsort(-exact)[:k]
            hits = [(int(wanted[i]), float(exact[i])) for i in top]
        return [(to_node[i], s) for i, s in hits]
