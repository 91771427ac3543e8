"""Chunking, embedding and the FAISS-backed llama-index index, persisted atomically on disk."""

from __future__ import annotations

import datetime as dt
import json
import logging
import shutil
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import faiss
import numpy as np
from llama_index.core import Document, StorageContext, VectorStoreIndex, load_index_from_storage
from llama_index.core.base.embeddings.base import BaseEmbedding
from llama_index.core.constants import DEFAULT_CHUNK_SIZE
from llama_index.core.node_parser import SentenceSplitter
from llama_index.core.node_parser.text.sentence import SENTENCE_CHUNK_OVERLAP
from llama_index.core.schema import BaseNode, TransformComponent
from llama_index.core.vector_stores.types import VectorStoreQuery
from llama_index.vector_stores.faiss import FaissMapVectorStore, FaissVectorStore

from rag.docstore import SqliteDocumentStore
from rag.embedding import backend_of, cl100k_tokenizer, embed_texts
from rag.errors import IndexCorruptError, IndexMissingError
from rag.index_store import IndexDictStore
from rag.lexical import LexicalIndex
from rag.reading.chunks import embed_text
from rag.reading.splitter import ReadingSplitter
from rag.sentence_vectors import SentenceStore
from rag.swap import recover, recoverable, swap_in, swap_lock, sync_tree, version_stamp
from rag.text import import_nltk
from rag.vectors import (
    VectorIndexPolicy,
    build_flat,
    build_ivf,
    configure,
    flat_index,
    is_ivf,
    rebuild_as,
)

if TYPE_CHECKING:
    from rag.filters import ChunkFilter

logger = logging.getLogger(__name__)

# 2: sentence vectors and spans stored beside the chunks (rag.sentence_vectors).
# 3: chunks in docstore.sqlite (rag.docstore), not docstore.json.
# 4: sentence spans as arrays (rag.packed), not sentence_spans.json; format 3 still loads.
FORMAT_VERSION = 4
_READABLE_FORMATS = (3, 4)
_META_FILE = "rag_index.json"
_ID_MAP_FILE = "id_map.json"  # llama-index's FaissMapVectorStore writes it


class _FaissIdMapStore(FaissMapVectorStore):
    """FaissMapVectorStore with ids that stay unique after deletes, and batched adds.

    Upstream numbers a new vector `ntotal`, which after a delete repeats an id still in use.
    The FAISS index is an IndexIDMap2 over a flat index, or an IVF index (rag.vectors).
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
    def from_persist_path(cls, persist_path: str, fs: Any = None) -> _FaissIdMapStore:
        """llama-index's, with one string per node id: its two maps each held a copy (and
        the parsed file a third while both were built: ~0.3 GiB at 1M chunks)."""
        store = cls(faiss_index=faiss.read_index(persist_path))
        id_map = json.loads((Path(persist_path).parent / _ID_MAP_FILE).read_text())
        # Interned: the index struct and the lexical index hold the same ids (rag.lexical).
        to_faiss = {
            sys.intern(node_id): int(i) for node_id, i in id_map["node_id_to_faiss_id_map"].items()
        }
        if len(id_map.pop("faiss_id_to_node_id_map")) != len(to_faiss):
            raise ValueError(f"{_ID_MAP_FILE}: its two maps differ in size")
        del id_map
        store._node_id_to_faiss_id_map = to_faiss
        store._faiss_id_to_node_id_map = {i: node_id for node_id, i in to_faiss.items()}
        return store

    @property
    def node_ids(self) -> set[str]:
        return set(self._node_id_to_faiss_id_map)

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


@dataclass(frozen=True)
class DocumentInfo:
    """One indexed document, as `rag docs` lists it."""

    doc_id: str
    source: str
    title: str
    chunks: int
    ingested: str  # ISO date and time of the last add or replace (UTC)


class CorpusIndex:
    """The documents' chunks in FAISS + a docstore, with upsert by document."""

    # BM25 and titles as persisted with the chunks; None once they change (or never saved).
    _lexical: LexicalIndex | None = None
    # The folder and version this was loaded from or persisted to (None: only in memory).
    _loaded_from: tuple[Path, tuple[int, int] | None] | None = None

    def __init__(
        self,
        index: VectorStoreIndex,
        store: _FaissIdMapStore,
        meta: dict,
        sentences: SentenceStore | None = None,
        policy: VectorIndexPolicy | None = None,
    ) -> None:
        self.index = index
        self._store = store
        self._meta = meta
        self._policy = policy or VectorIndexPolicy()
        configure(store._faiss_index, self._policy)
        self._ingested: dict[str, str] = meta.setdefault("ingested", {})
        self.sentences = sentences or SentenceStore()

    @classmethod
    def create(
        cls, embed_model: BaseEmbedding, model_name: str, policy: VectorIndexPolicy | None = None
    ) -> CorpusIndex:
        """An empty index whose dimension is the model's."""
        dim = len(embed_model.get_text_embedding("dimension probe"))
        store = _FaissIdMapStore(faiss_index=flat_index(dim))
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
        return cls(index, store, meta, policy=policy)

    @classmethod
    def load(
        cls,
        index_dir: Path,
        embed_model: BaseEmbedding,
        model_name: str,
        policy: VectorIndexPolicy | None = None,
    ) -> CorpusIndex:
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
    ) -> CorpusIndex:
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
            store = _FaissIdMapStore.from_persist_dir(str(index_dir))
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
        loaded = cls(index, store, meta, sentences, policy)  # type: ignore[arg-type]
        loaded._lexical = lexical
        loaded.check_consistency(index_dir)
        loaded._loaded_from = (index_dir, version_stamp(index_dir, _META_FILE))
        return loaded

    def check_consistency(self, where: Path) -> None:
        """FAISS ids, the index's node list and the docstore must name the same chunks."""
        in_faiss = self._store.node_ids
        in_index = set(self.index.index_struct.nodes_dict.values())
        docstore = self.index.docstore
        # The keys alone: `docstore.docs` would build every node object (seconds at 100k).
        in_docstore = (
            docstore.node_ids() if isinstance(docstore, SqliteDocumentStore) else set(docstore.docs)
        )
        same = in_faiss == in_index == in_docstore == self.sentences.chunk_ids
        lexical_same = self._lexical is None or self._lexical.matches(in_docstore, self.sentences)
        if not same or not lexical_same or self._store._faiss_index.ntotal != len(in_faiss):
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
            self._lexical = None
            nodes = splitter.get_nodes_from_documents(changed, show_progress=show_progress)
            # Sentences first: a pooling ONNX model embeds their chunks in the same pass.
            self.sentences.add(nodes, self.embed_model, show_progress)
            self._embed([node for node in nodes if node.embedding is None], show_progress)
            self._insert(nodes)
            now = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
            for doc in changed:
                docstore.set_document_hash(doc.doc_id, doc.hash)
                self._ingested[doc.doc_id] = now
            self.fit_vectors()
        return outcome

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
        trained_on = self._store.fit(self._policy, self._meta.get("ivf_trained_on", 0))
        self._meta["ivf_trained_on"] = trained_on  # 0: flat

    @property
    def embed_model(self) -> BaseEmbedding:
        """The model the chunk vectors were made with: queries must be embedded by it too."""
        return self.index._embed_model  # llama-index keeps it private, and exposes no getter

    @property
    def vector_index_kind(self) -> str:
        """`flat` or `ivf`: what holds the chunk vectors now."""
        return "ivf" if is_ivf(self._store._faiss_index) else "flat"

    def _embed(self, nodes: list[BaseNode], show_progress: bool) -> None:
        """Embed the chunks here, with a progress bar (insert_nodes would embed silently)."""
        texts = [embed_text(node) for node in nodes]
        vectors = embed_texts(self.embed_model, texts, show_progress)
        for node, vector in zip(nodes, vectors, strict=True):
            node.embedding = vector

    def delete(self, doc_id: str) -> None:
        """Remove a document's chunks from FAISS, the index and the docstore."""
        self._lexical = None
        info = self.index.docstore.get_ref_doc_info(doc_id)
        if info is not None:
            self._store.delete_nodes(list(info.node_ids))
            self.sentences.delete(info.node_ids)
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
            return self._nearest_among(vector, k, allowed)
        found = self._store.query(
            VectorStoreQuery(query_embedding=vector.tolist(), similarity_top_k=k)
        )
        return list(zip(found.ids or [], found.similarities or [], strict=True))

    def _nearest_among(
        self, vector: np.ndarray, k: int, allowed: ChunkFilter
    ) -> list[tuple[str, float]]:
        # llama-index's FAISS store takes no filters; FAISS searches an id subset natively.
        index, to_node = self._store._faiss_index, self._store._faiss_id_to_node_id_map
        if "faiss" not in allowed.cache:  # the same filter object comes back each query
            ids = self._store._node_id_to_faiss_id_map
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

    def chunk_vectors(self, chunk_ids: Sequence[str]) -> np.ndarray:
        """The stored unit vectors of these chunks, one row each, read back from FAISS."""
        faiss_ids = self._store._node_id_to_faiss_id_map  # one pydantic attribute lookup
        ids = np.array([faiss_ids[c] for c in chunk_ids], np.int64)
        if not len(ids):
            return np.zeros((0, self._meta["dimension"]), dtype=np.float32)
        return self._store._faiss_index.reconstruct_batch(ids)

    def chunk_metadata(self, chunk_ids: Sequence[str]) -> list[dict]:
        """Each chunk's metadata, in the order of `chunk_ids` (metadata filters read it)."""
        nodes = self.index.docstore.docs
        return [nodes[c].metadata for c in chunk_ids]

    @property
    def chunk_count(self) -> int:
        return len(self._store.node_ids)

    def stale(self) -> bool:
        """Whether another process has swapped a newer version into this index's folder (a
        stat of its manifest; mid-swap, when there is none, not yet)."""
        if self._loaded_from is None:
            return False
        folder, loaded = self._loaded_from
        now = version_stamp(folder, _META_FILE)
        return now is not None and now != loaded

    def lexical_index(self) -> LexicalIndex:
        """BM25 and titles of the chunks as they are now: as persisted, or built from them."""
        if self._lexical is not None:
            return self._lexical
        return LexicalIndex.build(self.index.docstore, self.sentences)

    def persist(self, index_dir: Path) -> None:
        """Write a complete copy beside the old one, then swap it in by renames.

        BM25 and the titles are built here, once per write, so that loads only read them.
        """
        tmp = index_dir.with_name(index_dir.name + ".tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        self.index.storage_context.persist(persist_dir=str(tmp))
        self.sentences.persist(tmp)
        self._lexical = self.lexical_index()
        self._lexical.save(tmp)
        # Written last: its presence marks a complete index.
        (tmp / _META_FILE).write_text(json.dumps(self._meta | {"format": FORMAT_VERSION}, indent=2))
        sync_tree(tmp)
        swap_in(tmp, index_dir)
        self._loaded_from = (index_dir, version_stamp(index_dir, _META_FILE))


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


def document_transformations() -> list[TransformComponent]:
    """What a VectorStoreIndex would split a whole Document with: llama-index's default splitter.

    Chunks reach the index split already (`CorpusIndex.upsert`), so this never runs on a
    query. Passed explicitly because the index's default, `Settings.transformations`, builds
    its splitter with llama-index's tokenizer, which loads tiktoken's cl100k_base: ~0.3 s of
    every cold `rag ask`. Same splitter, with the encoding loaded on first use instead.
    """
    return [make_splitter(DEFAULT_CHUNK_SIZE, SENTENCE_CHUNK_OVERLAP, cl100k_tokenizer())]


def make_splitter(chunk_size: int, chunk_overlap: int, tokenizer) -> SentenceSplitter:
    """llama-index's sentence-aware splitter, cutting between the units a document is read
    into (rag.reading), counting tiktoken cl100k_base tokens."""
    # The splitter's first sentence split imports all of nltk (~3 s with scipy.stats): ours first.
    import_nltk()
    return ReadingSplitter(chunk_size=chunk_size, chunk_overlap=chunk_overlap, tokenizer=tokenizer)
