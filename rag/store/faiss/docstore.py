"""The chunk store: llama-index's KVDocumentStore over one SQLite file, read in place.

llama-index's SimpleDocumentStore is one JSON file, parsed whole at load and held as
Python dicts (100k chunks: 189 MiB of JSON; see bench/results). No SQLite docstore is
packaged for llama-index (DuckDB, Postgres, Redis, Mongo are), so this is the small
`BaseKVStore` those packages implement, over the standard library's sqlite3. A loaded
index reads its rows on demand from the persisted file, opened read-only; the first write
copies it into a private temporary database (SQLite deletes it on close), so a crash
mid-ingest never touches the persisted index (rag.store.faiss.corpus swaps in complete copies).
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from llama_index.core.schema import BaseNode
from llama_index.core.storage.docstore.keyval_docstore import KVDocumentStore
from llama_index.core.storage.docstore.types import RefDocInfo
from llama_index.core.storage.docstore.utils import doc_to_json, json_to_doc
from llama_index.core.storage.kvstore.types import DEFAULT_COLLECTION, BaseKVStore

DOCSTORE_FILE = "docstore.sqlite"
# A rowid table: WITHOUT ROWID stores these multi-KB values in the key's B-tree, 1.6× larger.
_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS kv (collection TEXT NOT NULL, key TEXT NOT NULL, "
    "value TEXT NOT NULL, PRIMARY KEY (collection, key))"
)


class SqliteKVStore(BaseKVStore):
    """Collections of JSON values by key, in one SQLite database."""

    def __init__(self, path: Path | None = None) -> None:
        # "" is SQLite's private temporary database: on disk, deleted when closed.
        if path is None:
            self._conn = sqlite3.connect("", check_same_thread=False)
            self._conn.execute(_SCHEMA)
        else:
            self._conn = sqlite3.connect(
                f"{path.resolve().as_uri()}?mode=ro", uri=True, check_same_thread=False
            )
            self._conn.execute("SELECT count(*) FROM kv LIMIT 1")  # fail now if not ours
        self._read_only = path is not None
        self._lock = threading.Lock()  # the UI asks from several threads

    @contextmanager
    def _writing(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            if self._read_only:
                private = sqlite3.connect("", check_same_thread=False)
                self._conn.backup(private)
                self._conn.close()
                self._conn, self._read_only = private, False
            with self._conn:  # one transaction
                yield self._conn

    def put(self, key: str, val: dict, collection: str = DEFAULT_COLLECTION) -> None:
        self.put_all([(key, val)], collection=collection)

    def put_all(
        self,
        kv_pairs: list[tuple[str, dict]],
        collection: str = DEFAULT_COLLECTION,
        batch_size: int = 1,
    ) -> None:
        rows = [(collection, key, json.dumps(val)) for key, val in kv_pairs]
        with self._writing() as conn:
            conn.executemany("INSERT OR REPLACE INTO kv VALUES (?, ?, ?)", rows)

    def get(self, key: str, collection: str = DEFAULT_COLLECTION) -> dict | None:
        with self._lock:
            row = self._conn.execute(
                "SELECT value FROM kv WHERE collection = ? AND key = ?", (collection, key)
            ).fetchone()
        return json.loads(row[0]) if row else None

    def get_all(self, collection: str = DEFAULT_COLLECTION) -> dict[str, dict]:
        with self._lock:
            rows = self._conn.execute(
                "SELECT key, value FROM kv WHERE collection = ?", (collection,)
            ).fetchall()
        return {key: json.loads(value) for key, value in rows}

    def batches(
        self, collection: str = DEFAULT_COLLECTION, size: int = 10_000
    ) -> Iterator[list[tuple[str, dict]]]:
        """Every value, `size` at a time, in key order (`get_all`'s: it reads the key index)."""
        after = ""
        while True:
            with self._lock:
                rows = self._conn.execute(
                    "SELECT key, value FROM kv WHERE collection = ? AND key > ? "
                    "ORDER BY key LIMIT ?",
                    (collection, after, size),
                ).fetchall()
            if not rows:
                return
            after = rows[-1][0]
            yield [(key, json.loads(value)) for key, value in rows]

    def where(self, collection: str, json_path: str, values: Sequence[str]) -> dict[str, dict]:
        """The entries whose JSON value holds one of `values` at `json_path` ("$.a.b"),
        looked for by SQLite (each value parsed in C, not as a dict in Python)."""
        found: dict[str, dict] = {}
        for start in range(0, len(values), 500):  # under SQLite's limit on parameters
            part = list(values[start : start + 500])
            query = (
                "SELECT key, value FROM kv WHERE collection = ? AND json_extract(value, ?) "
                f"IN ({', '.join('?' * len(part))})"
            )
            with self._lock:
                rows = self._conn.execute(query, (collection, json_path, *part)).fetchall()
            found |= {key: json.loads(value) for key, value in rows}
        return found

    def keys(self, collection: str = DEFAULT_COLLECTION) -> set[str]:
        """The keys alone: what the consistency check needs, without parsing any value."""
        with self._lock:
            rows = self._conn.execute("SELECT key FROM kv WHERE collection = ?", (collection,))
            return {key for (key,) in rows}

    def delete(self, key: str, collection: str = DEFAULT_COLLECTION) -> bool:
        with self._writing() as conn:
            done = conn.execute(
                "DELETE FROM kv WHERE collection = ? AND key = ?", (collection, key)
            )
        return done.rowcount > 0

    def save(self, path: Path) -> None:
        """Write a complete copy of the database to `path`."""
        target = sqlite3.connect(path)
        try:
            with self._lock:
                self._conn.backup(target)
        finally:
            target.close()

    # llama-index's async API, served synchronously: sqlite3 calls take microseconds.
    async def aput(self, key: str, val: dict, collection: str = DEFAULT_COLLECTION) -> None:
        self.put(key, val, collection)

    async def aget(self, key: str, collection: str = DEFAULT_COLLECTION) -> dict | None:
        return self.get(key, collection)

    async def aget_all(self, collection: str = DEFAULT_COLLECTION) -> dict[str, dict]:
        return self.get_all(collection)

    async def adelete(self, key: str, collection: str = DEFAULT_COLLECTION) -> bool:
        return self.delete(key, collection)


class SqliteDocumentStore(KVDocumentStore):
    """llama-index's key-value docstore over SqliteKVStore, persisted as `docstore.sqlite`."""

    def __init__(self, kvstore: SqliteKVStore, **kwargs: Any) -> None:
        super().__init__(kvstore, **kwargs)
        self._sqlite = kvstore

    @classmethod
    def open(cls, index_dir: Path) -> SqliteDocumentStore:
        return cls(SqliteKVStore(index_dir / DOCSTORE_FILE))

    @classmethod
    def empty(cls) -> SqliteDocumentStore:
        return cls(SqliteKVStore())

    def add_documents(
        self,
        docs: Sequence[BaseNode],
        allow_update: bool = True,
        batch_size: int | None = None,
        store_text: bool = True,
    ) -> None:
        """llama-index's `add_documents` (the same rows) in one pass: each source document's
        entry is read and written once. Its version serialises that entry, with every chunk
        id so far, once per chunk, and merges the id lists pairwise: quadratic in a
        document's chunks (a 10 MB web page of 12,000 chunks took over 7 minutes)."""
        nodes: list[tuple[str, dict]] = []
        metadata: list[tuple[str, dict]] = []
        documents: dict[str, tuple[RefDocInfo, set[str]]] = {}
        for node in docs:
            if not allow_update and self.document_exists(node.node_id):
                raise ValueError(f"node_id {node.node_id} already exists.")
            if store_text:
                nodes.append((node.node_id, doc_to_json(node)))
            row: dict[str, Any] = {"doc_hash": node.hash}
            source = node.ref_doc_id if node.source_node is not None else None
            if source:
                if source not in documents:
                    info = self.get_ref_doc_info(source) or RefDocInfo()
                    documents[source] = (info, set(info.node_ids))
                info, known = documents[source]
                if node.node_id not in known:
                    known.add(node.node_id)
                    info.node_ids.append(node.node_id)
                if not info.metadata:
                    info.metadata = node.metadata or {}
                row["ref_doc_id"] = source
            metadata.append((node.node_id, row))
        size = batch_size or self._batch_size
        self._kvstore.put_all(nodes, collection=self._node_collection, batch_size=size)
        self._kvstore.put_all(metadata, collection=self._metadata_collection, batch_size=size)
        entries = [(source, info.to_dict()) for source, (info, _) in documents.items()]
        self._kvstore.put_all(entries, collection=self._ref_doc_collection, batch_size=size)

    def ref_docs_with(self, key: str, values: Sequence[str]) -> dict[str, RefDocInfo]:
        """The source documents whose metadata `key` is one of `values` (84k documents: ~0.2 s,
        against ~2.4 s for `get_all_ref_doc_info`)."""
        rows = self._sqlite.where(self._ref_doc_collection, f"$.metadata.{key}", values)
        return {doc_id: self._remove_legacy_info(info) for doc_id, info in rows.items()}

    def node_ids(self) -> set[str]:
        return self._sqlite.keys(self._node_collection)

    def node_batches(self, size: int = 10_000) -> Iterator[list[BaseNode]]:
        """Every chunk, built as a node `size` at a time (`docs` builds all of them at once:
        ~10 GiB at 1M chunks)."""
        for rows in self._sqlite.batches(self._node_collection, size):
            yield [json_to_doc(value) for _, value in rows]

    def persist(self, persist_path: str = "", fs: Any = None) -> None:
        """Called by StorageContext.persist with `<dir>/docstore.json`: written beside it."""
        self._sqlite.save(Path(persist_path).parent / DOCSTORE_FILE)
