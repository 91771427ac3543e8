"""Dense top-k retrieval over the FAISS index, timed per stage."""

from __future__ import annotations

import time

from llama_index.core import QueryBundle, VectorStoreIndex

from rag.types import Passage


class Retriever:
    """Embeds the query once, then asks llama-index's vector retriever for the top k."""

    def __init__(self, index: VectorStoreIndex) -> None:
        self._index = index

    def retrieve(self, query: str, k: int) -> tuple[list[Passage], dict[str, float]]:
        """The k passages nearest the query, and the ms spent embedding and searching."""
        started = time.perf_counter()
        embedding = self._index._embed_model.get_query_embedding(query)
        embedded = time.perf_counter()
        retriever = self._index.as_retriever(similarity_top_k=k)
        hits = retriever.retrieve(QueryBundle(query_str=query, embedding=embedding))
        searched = time.perf_counter()
        passages = [Passage.from_node(hit, rank) for rank, hit in enumerate(hits, start=1)]
        timings = {
            "embed": (embedded - started) * 1000,
            "search": (searched - embedded) * 1000,
        }
        return passages, timings
