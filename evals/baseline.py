"""llama-index's default pipeline over the same documents, as the retrieval baseline.

VectorStoreIndex.from_documents with its default transformations (SentenceSplitter, 1024
tokens, overlap 200), the same embedding model, the in-memory SimpleVectorStore and dense
top-k retrieval: what a llama-index tutorial builds. Persisted beside the eval index so a
second run does not re-embed.
"""

from __future__ import annotations

from pathlib import Path

from llama_index.core import (
    SimpleDirectoryReader,
    StorageContext,
    VectorStoreIndex,
    load_index_from_storage,
)

from rag.engine import RagEngine

BASELINES = ("llamaindex-default",)


class LlamaIndexDefault:
    """Question → the texts of the top-k passages of llama-index's default index."""

    def __init__(self, engine: RagEngine, show_progress: bool = False) -> None:
        persist_dir = engine.settings.data_dir / "baseline-llamaindex-default"
        embed_model = engine.embed_model
        if (persist_dir / "docstore.json").is_file():
            storage = StorageContext.from_defaults(persist_dir=str(persist_dir))
            self._index = load_index_from_storage(storage, embed_model=embed_model)
        else:
            files = [Path(d.source) for d in engine.documents()]
            documents = SimpleDirectoryReader(input_files=files).load_data()
            self._index = VectorStoreIndex.from_documents(
                documents, embed_model=embed_model, show_progress=show_progress
            )
            self._index.storage_context.persist(persist_dir=str(persist_dir))

    def __call__(self, question: str, k: int) -> list[str]:
        hits = self._index.as_retriever(similarity_top_k=k).retrieve(question)
        return [hit.node.get_content() for hit in hits]
