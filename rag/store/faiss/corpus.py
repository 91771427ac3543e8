"""The FAISS store: chunks, vectors, sentences and BM25 in the data dir, swapped in whole.

A llama-index `VectorStoreIndex` over FAISS (rag.store.faiss.id_map), a SQLite docstore
(rag.store.faiss.docstore) and the index struct (rag.store.faiss.index_store), with the
sentence vectors (rag.store.sentence_vectors) and BM25 with the titles (rag.store.lexical)
beside them. A write is persisted as a complete copy and swapped in by renames
(rag.store.faiss.swap), so a reader in any process sees one version. What has not changed
is copied, not rebuilt: BM25's segments are hard-linked, the sentence vectors copied in runs
in the kernel (one file added to 100k chunks: ~1.7 s, against ~56 s rebuilding BM25).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import shutil
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from llama_index.core import Document, StorageContext, VectorStoreIndex, load_index_from_storage
from llama_index.core.base.embeddings.base import BaseEmbedding
from llama_index.core.node_parser import SentenceSplitter
from llama_index.core.schema import BaseNode
from llama_index.core.vector_stores.types import VectorStoreQuery

from rag.embedding import backend_of
from rag.errors import IndexCorruptError, IndexMissingError
from rag.reading.splitter import document_transformations
from rag.store.corpus import DocumentInfo
from rag.store.faiss.docstore import SqliteDocumentStore
from rag.store.faiss.id_map import FaissIdMapStore
from rag.store.faiss.index_store import IndexDictStore
from rag.store.faiss.swap import recover, recoverable, swap_in, swap_lock, sync_tree, version_stamp
from rag.store.faiss.vectors import VectorIndexPolicy, flat_index
from rag.store.lexical import LexicalIndex
from rag.store.sentence_vectors import (
    SentenceStore,
    StoredChunk,
    embed_chunks,
    reuse_vectors,
)

if TYPE_CHECKING:
    from rag.filters import ChunkFilter

logger = logging.getLogger(__name__)

# 2: sentence vectors and spans stored beside the chunks (rag.store.sentence_vectors).
# 3: chunks in docstore.sqlite (rag.store.faiss.docstore), not docstore.json.
# 4: sentence spans as arrays (rag.store.packed), not sentence_spans.json; format 3 still loads.
FORMAT_VERSION = 4
_READABLE_FORMATS = (3, 4)
_META_FILE = "rag_index.json"


class FaissCorpus:
    """The documents' chunks in FAISS + a docstore in one folder, with upsert by document."""

    # BM25 and titles of the chunks, kept in step with every write; None for an index
    # written before they were persisted (built from the chunks on first use).
    _lexical: LexicalIndex | None = None
    # Chunks deleted since BM25 was last read: dropped from it in one pass when it is next
    # read (each `LexicalIndex.without` scans every chunk id: 1,000 files removed by a sync
    # would scan them 1,000 times).
    _deleted: frozenset[str] = frozenset()
    # The version of `folder` this was loaded from or persisted as (None: not on disk yet).
    _version: tuple[int, int] | None = None

    def __init__(
        self,
        folder: Path,
        index: VectorStoreIndex,
        store: FaissIdMapStore,
        meta: dict,
        sentences: SentenceStore | None = None,
        policy: VectorIndexPolicy | None = None,
    ) -> None:
        self.folder = folder
        self.index = index
        self.vector_store = store
        self._meta = meta
        self._policy = policy or VectorIndexPolicy()
        store.configure(self._policy)
        self._ingested: dict[str, str] = meta.setdefault("ingested", {})
        self.sentences = sentences or SentenceStore()

    @classmethod
    def create(
        cls,
        folder: Path,
        embed_model: BaseEmbedding,
        model_name: str,
        policy: VectorIndexPolicy | None = None,
    ) -> FaissCorpus:
        """An empty index whose dimension is the model's, to be persisted in `folder`."""
        dim = len(embed_model.get_text_embedding("dimension probe"))
        store = FaissIdMapStore(faiss_index=flat_index(dim))
        storage = StorageContext.from_defaults(
            vector_store=store, docstore=SqliteDocumentStore.empty(), index_store=IndexDictStore()
        )
        index = VectorStoreIndex(
            nodes=[],
            storage_context=storage,
            embed_model=embed_model,
            transformations=document_transformations(),
        )
        meta = {"format": FORMAT_VERSION, "embed_model": model_name, "dimension": dim}
        meta["embed_backend"] = backend_of(embed_model)
        created = cls(folder, index, store, meta, policy=policy)
        created._lexical = LexicalIndex()
        return created

    @classmethod
    def load(
        cls,
        index_dir: Path,
        embed_model: BaseEmbedding,
        model_name: str,
        policy: VectorIndexPolicy | None = None,
    ) -> FaissCorpus:
        """The index persisted in `index_dir`; a clear error when missing, corrupt or foreign.

        Its files are opened under the swap lock, so a write in another process never makes
        this read half of one version and half of the next.
        """
        while True:
            require_index(index_dir)
            with swap_lock(index_dir, exclusive=False):
                if (index_dir / _META_FILE).is_file():  # else a crash left `.old`: recover
                    return cls._load_version(index_dir, embed_model, model_name, policy)

    @classmethod
    def _load_version(
        cls,
        index_dir: Path,
        embed_model: BaseEmbedding,
        model_name: str,
        policy: VectorIndexPolicy | None,
    ) -> FaissCorpus:
        rebuild = f"Delete {index_dir} and run `rag ingest DOCS` to rebuild it."
        unreadable = f"The index in {index_dir} is unreadable"
        try:
            meta = json.loads((index_dir / _META_FILE).read_text())
        except ValueError as err:
            raise IndexCorruptError(f"{unreadable} ({err}). {rebuild}") from err
        # Checked before the other files: an older format's files are not this one's.
        if meta.get("format") not in _READABLE_FORMATS and meta.get("embed_model") == model_name:
            raise IndexCorruptError(
                f"The index in {index_dir} was written in format {meta.get('format')}; this "
                f"version reads format {_READABLE_FORMATS[0]} to {FORMAT_VERSION}. {rebuild}"
            )
        if meta.get("embed_model") != model_name:
            raise IndexCorruptError(
                f"The index in {index_dir} was built with model {meta.get('embed_model')!r} "
                f"(format {meta.get('format')}), not {model_name!r} (format {FORMAT_VERSION}). "
                f"{rebuild}"
            )
        _check_backend(meta, backend_of(embed_model), index_dir)
        try:
            store = FaissIdMapStore.from_persist_dir(str(index_dir))
            storage = StorageContext.from_defaults(
                vector_store=store,
                docstore=SqliteDocumentStore.open(index_dir),
                index_store=IndexDictStore.from_persist_dir(str(index_dir)),
                persist_dir=str(index_dir),
            )
            index = load_index_from_storage(
                storage, embed_model=embed_model, transformations=document_transformations()
            )
            sentences = SentenceStore.load(index_dir)
            lexical = LexicalIndex.load(index_dir)
        except Exception as err:  # any unreadable file: json, faiss, sqlite or pydantic errors
            raise IndexCorruptError(f"{unreadable} ({err}). {rebuild}") from err
        loaded = cls(index_dir, index, store, meta, sentences, policy)  # type: ignore[arg-type]
        loaded._lexical = lexical
        loaded._check_consistency()
        loaded._version = version_stamp(index_dir, _META_FILE)
        return loaded

    def _check_consistency(self) -> None:
        """FAISS ids, the index's node list and the docstore must name the same chunks."""
        where = self.folder
        in_faiss = self.vector_store.node_ids
        in_index = set(self.index.index_struct.nodes_dict.values())
        docstore = self.index.docstore
        # The keys alone: `docstore.docs` would build every node object (seconds at 100k).
        in_docstore = (
            docstore.node_ids() if isinstance(docstore, SqliteDocumentStore) else set(docstore.docs)
        )
        same = in_faiss == in_index == in_docstore == self.sentences.chunk_ids
        lexical_same = self._lexical is None or self._lexical.matches(in_docstore, self.sentences)
        if not same or not lexical_same or self.vector_store.vector_count != len(in_faiss):
            raise IndexCorruptError(
                f"The index in {where} is inconsistent: {len(in_faiss)} vectors, "
                f"{len(in_index)} indexed chunks, {len(in_docstore)} stored chunks. "
                f"Delete {where} and run `rag ingest DOCS` to rebuild it."
            )

    def upsert(
        self, documents: Sequence[Document], splitter: SentenceSplitter, show_progress: bool
    ) -> dict[str, str]:
        """Add new documents, replace changed ones, skip unchanged: doc_id → what happened."""
        docstore = self.index.docstore
        outcome: dict[str, str] = {}
        changed: list[Document] = []
        for doc in documents:
            known_hash = docstore.get_document_hash(doc.doc_id)
            if known_hash == doc.hash:
                outcome[doc.doc_id] = "unchanged"
                continue
            if known_hash is not None:
                self.delete(doc.doc_id)
                outcome[doc.doc_id] = "replaced"
            else:
                outcome[doc.doc_id] = "added"
            changed.append(doc)
        if changed:
            nodes = splitter.get_nodes_from_documents(changed, show_progress=show_progress)
            left = reuse_vectors(nodes, self._same_content(changed), self.sentences)
            self.sentences.add(left, self.embed_model, show_progress)
            embed_chunks(left, self.embed_model, show_progress)
            self._insert(nodes)
            if self._lexical is not None:
                self._lexical = self._lexical.with_chunks(nodes, self.sentences)
            now = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
            for doc in changed:
                docstore.set_document_hash(doc.doc_id, doc.hash)
                self._ingested[doc.doc_id] = now
            self.fit_vectors()
        return outcome

    def _same_content(self, documents: Sequence[Document]) -> Iterator[StoredChunk]:
        """The stored chunks of other documents with the same bytes as one of `documents`
        (a file moved or copied: its sha256)."""
        wanted = {doc.metadata.get("sha256") or "" for doc in documents} - {""}
        ids = {doc.doc_id for doc in documents}
        docstore = self.index.docstore
        if not wanted:
            infos = {}
        elif isinstance(docstore, SqliteDocumentStore):
            infos = docstore.ref_docs_with("sha256", sorted(wanted))
        else:
            infos = docstore.get_all_ref_doc_info() or {}
        for doc_id, info in infos.items():
            if doc_id in ids or (info.metadata or {}).get("sha256") not in wanted:
                continue
            chunk_ids = list(info.node_ids)
            vectors = self.chunk_vectors(chunk_ids)
            for node, vector in zip(self.nodes(chunk_ids), vectors, strict=True):
                spans = self.sentences.spans[node.node_id]
                yield node, vector, spans, self.sentences.vectors[node.node_id]

    def _insert(self, nodes: Sequence[BaseNode]) -> None:
        """`VectorStoreIndex.insert_nodes` for embedded chunks, with one docstore write for
        them all: llama-index writes each chunk on its own, and each write rewrites its
        document's whole list of chunk ids (quadratic in a long document's chunks)."""
        index = self.index
        stored = []
        for node, vector_id in zip(nodes, index.vector_store.add(list(nodes)), strict=True):
            without_vector = node.model_copy()  # the vector lives in FAISS only
            without_vector.embedding = None
            index.index_struct.add_node(without_vector, text_id=vector_id)
            stored.append(without_vector)
        index.docstore.add_documents(stored, allow_update=True)
        index.storage_context.index_store.add_index_struct(index.index_struct)

    def fit_vectors(self) -> None:
        """Move the chunk vectors to the FAISS index kind the policy wants for their count."""
        trained_on = self.vector_store.fit(self._policy, self._meta.get("ivf_trained_on", 0))
        self._meta["ivf_trained_on"] = trained_on  # 0: flat

    @property
    def embed_model(self) -> BaseEmbedding:
        """The model the chunk vectors were made with: queries must be embedded by it too."""
        return self.index._embed_model  # llama-index keeps it private, and exposes no getter

    @property
    def vector_index_kind(self) -> str:
        """`flat` or `ivf`: what holds the chunk vectors now."""
        return self.vector_store.kind

    def delete(self, doc_id: str) -> None:
        """Remove a document's chunks from FAISS, the index, the docstore and BM25."""
        info = self.index.docstore.get_ref_doc_info(doc_id)
        if info is not None:
            self.vector_store.delete_nodes(list(info.node_ids))
            self.sentences.delete(info.node_ids)
            self._deleted |= set(info.node_ids)
        self.index.delete_ref_doc(doc_id, delete_from_docstore=True)
        self._ingested.pop(doc_id, None)

    def documents(self) -> list[DocumentInfo]:
        """The indexed documents, sorted by source path."""
        infos = []
        for doc_id, info in (self.index.docstore.get_all_ref_doc_info() or {}).items():
            meta = info.metadata or {}
            infos.append(
                DocumentInfo(
                    doc_id=doc_id,
                    source=meta.get("file_path", doc_id),
                    title=meta.get("title", ""),
                    chunks=len(info.node_ids),
                    ingested=self._ingested.get(doc_id, ""),
                )
            )
        return sorted(infos, key=lambda d: d.source)

    def nearest(
        self, vector: np.ndarray, k: int, allowed: ChunkFilter | None = None
    ) -> list[tuple[str, float]]:
        """The k chunks nearest `vector` in FAISS, with their cosines, best first.

        `allowed`: among the chunks a metadata filter admits only (a FAISS id selector).
        """
        if allowed is not None:
            return self.vector_store.nearest_among(vector, k, allowed)
        found = self.vector_store.query(
            VectorStoreQuery(query_embedding=vector.tolist(), similarity_top_k=k)
        )
        return list(zip(found.ids or [], found.similarities or [], strict=True))

    def chunk_vectors(self, chunk_ids: Sequence[str]) -> np.ndarray:
        """The stored unit vectors of these chunks, one row each, read back from FAISS."""
        return self.vector_store.vectors(chunk_ids, self._meta["dimension"])

    def sentence_vectors(self, chunk_id: str) -> np.ndarray:
        return self.sentences.vectors[chunk_id]

    def nodes(self, chunk_ids: Sequence[str]) -> list[BaseNode]:
        return self.index.docstore.get_nodes(list(chunk_ids), raise_error=False)

    def chunk_metadata(self, chunk_ids: Sequence[str]) -> list[dict]:
        """Each chunk's metadata, in the order of `chunk_ids` (metadata filters read it)."""
        nodes = self.index.docstore.docs
        return [nodes[c].metadata for c in chunk_ids]

    @property
    def chunk_count(self) -> int:
        return len(self.vector_store.node_ids)

    def stale(self) -> bool:
        """Whether another process has swapped a newer version into this index's folder (a
        stat of its manifest; mid-swap, when there is none, not yet)."""
        if self._version is None:
            return False
        now = version_stamp(self.folder, _META_FILE)
        return now is not None and now != self._version

    def lexical_index(self) -> LexicalIndex:
        """BM25 and titles of the chunks as they are now (built from them for an index
        written before they were persisted)."""
        if self._lexical is not None and self._deleted:
            self._lexical = self._lexical.without(self._deleted)
        self._deleted = frozenset()
        if self._lexical is None or not self._lexical.describes(self.chunk_count):
            if self._lexical is not None:  # a write that bypassed upsert and delete
                logger.warning("BM25 does not match the chunks; building it from them")
            self._lexical = LexicalIndex.build(self.index.docstore, self.sentences)
        return self._lexical

    def persist(self) -> None:
        """Write a complete copy beside the folder's, then swap it in by renames.

        BM25's segments that the folder's version already holds are linked, not written.
        """
        tmp = self.folder.with_name(self.folder.name + ".tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        self.index.storage_context.persist(persist_dir=str(tmp))
        self.sentences.persist(tmp)
        self.lexical_index().save(tmp, previous=self.folder)
        # Written last: its presence marks a complete index.
        (tmp / _META_FILE).write_text(json.dumps(self._meta | {"format": FORMAT_VERSION}, indent=2))
        sync_tree(tmp)
        swap_in(tmp, self.folder)
        self._version = version_stamp(self.folder, _META_FILE)


def _check_backend(meta: dict, backend: str, index_dir: Path) -> None:
    """Vectors from the ONNX and the torch model differ slightly: never mix them in one index."""
    built_with = meta.get("embed_backend", "torch")  # indexes from before the setting: torch
    if built_with != backend:
        raise IndexCorruptError(
            f"The index in {index_dir} was built with the {built_with} embedding backend, "
            f"not {backend}. Set RAG_EMBED_BACKEND={built_with}, or delete {index_dir} and "
            "run `rag ingest DOCS` to rebuild it."
        )


def require_index(index_dir: Path) -> None:
    """Raise IndexMissingError unless a complete index was persisted in `index_dir`.

    Checked under the swap lock: mid-swap, another process's index is not missing.
    """
    recover(index_dir, _META_FILE)  # a crash between the two renames of a swap
    with swap_lock(index_dir, exclusive=False):
        missing = not (index_dir / _META_FILE).is_file()
    if missing and not recoverable(index_dir, _META_FILE):
        raise IndexMissingError(
            f"No index in {index_dir.parent}. Run `rag ingest DOCS` to build one."
        )
