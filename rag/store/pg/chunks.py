"""The chunks of a PostgreSQL store read on demand: a llama-index docstore over the chunks table.

A serving instance whose BM25 and titles come from the store (rag.store.lexical, stored by the
writer) needs a chunk's text for the k passages it returns and for the hop parents whose
text names other documents: a few rows per question, read by id. Loading every chunk into
an in-memory docstore at start instead took most of an instance's start (10k chunks: 2-3 s;
100k: ~20 s, peaking at 1.4 GiB; bench/results/NOTES.md) and held every text in memory.

This is llama-index's `KVDocumentStore` over a read-only key-value store whose values are
the chunks table's rows, as PGVectorStore writes them (text + `node_to_metadata_dict`).
The last few hundred chunks read are kept: a question's passages are mostly among the hop
parents it has just read, and each read costs a round trip or three (connection check,
query, rollback: ~1.5 ms; ~5 ms of a 25 ms question at 10k chunks without the cache). A
kept chunk is one of the snapshot's version, so returning it after another instance deleted
it is what that version says; the engine starts a new snapshot (and docstore) at its next
question anyway. A chunk not kept and deleted since is left out.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence

from llama_index.core.schema import BaseNode
from llama_index.core.storage.docstore.keyval_docstore import KVDocumentStore
from llama_index.core.storage.docstore.utils import doc_to_json, json_to_doc
from llama_index.core.storage.kvstore.types import DEFAULT_COLLECTION, BaseKVStore

# chunk ids → the nodes of those still stored (and known to the reader's snapshot)
ChunkReader = Callable[[Sequence[str]], dict[str, BaseNode]]


class _ChunkRows(BaseKVStore):
    """The docstore's node collection, read from PostgreSQL; nothing else is kept here.

    Document hashes and ref-doc lists live in the store's documents table (rag.store.pg.corpus), and
    writes go through `PgCorpus.write`, one transaction per document: this store only reads.
    """

    def __init__(self, read: ChunkReader, cache_size: int = 512) -> None:
        self._read = read
        self.collection = DEFAULT_COLLECTION  # set to the docstore's node collection
        self._cache: OrderedDict[str, dict] = OrderedDict()  # the most recently read
        self._cache_size = cache_size
        self._lock = threading.Lock()  # the UI answers several questions at once

    def get_many(self, keys: Sequence[str]) -> dict[str, dict]:
        with self._lock:
            found = {key: self._cache[key] for key in keys if key in self._cache}
            for key in found:
                self._cache.move_to_end(key)
        missing = [key for key in dict.fromkeys(keys) if key not in found]
        if missing:
            read = {key: doc_to_json(node) for key, node in self._read(missing).items()}
            with self._lock:
                self._cache.update(read)
                while len(self._cache) > self._cache_size:
                    self._cache.popitem(last=False)
            found |= read
        return found

    def get(self, key: str, collection: str = DEFAULT_COLLECTION) -> dict | None:
        if collection != self.collection:
            return None
        return self.get_many([key]).get(key)

    def get_all(self, collection: str = DEFAULT_COLLECTION) -> dict[str, dict]:
        raise NotImplementedError(
            "Reading every chunk is what this docstore avoids; read them by id."
        )

    def put(self, key: str, val: dict, collection: str = DEFAULT_COLLECTION) -> None:
        raise NotImplementedError("Read-only: PgCorpus.write writes chunks.")

    def delete(self, key: str, collection: str = DEFAULT_COLLECTION) -> bool:
        raise NotImplementedError("Read-only: PgCorpus.delete deletes chunks.")

    async def aget(self, key: str, collection: str = DEFAULT_COLLECTION) -> dict | None:
        return self.get(key, collection)

    async def aget_all(self, collection: str = DEFAULT_COLLECTION) -> dict[str, dict]:
        return self.get_all(collection)

    async def aput(self, key: str, val: dict, collection: str = DEFAULT_COLLECTION) -> None:
        self.put(key, val, collection)

    async def adelete(self, key: str, collection: str = DEFAULT_COLLECTION) -> bool:
        return self.delete(key, collection)


class PgDocumentStore(KVDocumentStore):
    """llama-index's key-value docstore over the chunks table, read by node id."""

    def __init__(self, read: ChunkReader) -> None:
        self._rows = _ChunkRows(read)
        super().__init__(self._rows)
        self._rows.collection = self._node_collection

    def get_nodes(self, node_ids: list[str], raise_error: bool = True) -> list[BaseNode]:
        """The nodes in one query (the base class asks one id at a time).

        With `raise_error=False` a chunk deleted since the snapshot is left out.
        """
        found = self._rows.get_many(node_ids)
        missing = [i for i in node_ids if i not in found]
        if missing and raise_error:
            raise ValueError(f"doc_id {missing[0]} not found.")
        return [json_to_doc(found[i]) for i in node_ids if i in found]
