"""The corpus in PostgreSQL + pgvector: a shared store that many `rag serve` instances read.

Chunks (text, metadata, vector) live in llama-index's `PGVectorStore` table with an HNSW
cosine index; beside it, one row per chunk with its sentences' spans and float16 vectors,
one row per document (hash, source, title), and a version counter (rag.store.pg.schema).
A document is written in one transaction, so a reader never sees part of one; each
instance keeps a snapshot of one version and reloads it when the version moves.

BM25 and the titles (rag.store.lexical) are brought up to date by the writer once per
ingest (the stored ones, without the chunks removed since and with those added: only those
are read) and stored with the version they describe, as the segments the store lacks and a
manifest; an instance unpacks them into its data dir and loads them from there
(rag.store.pg.stored_lexical), and reads chunk texts by id when a question needs them
(rag.store.pg.chunks). Instances of a store with no BM25 stored for its version load every
chunk's text and spans instead, to build BM25 from. Vectors are not held in memory: dense
search runs in PostgreSQL, and the candidates' chunk and sentence vectors are fetched per
query.
"""

from __future__ import annotations

import datetime as dt
import functools
import logging
import threading
import weakref
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import sqlalchemy as sa
from llama_index.core import Document
from llama_index.core.base.embeddings.base import BaseEmbedding
from llama_index.core.node_parser import SentenceSplitter
from llama_index.core.schema import BaseNode
from llama_index.core.storage.docstore import SimpleDocumentStore
from llama_index.core.storage.docstore.types import BaseDocumentStore
from llama_index.core.vector_stores.utils import metadata_dict_to_node, node_to_metadata_dict
from llama_index.vector_stores.postgres import PGVectorStore
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.ext.asyncio import create_async_engine

from rag.config import Settings
from rag.errors import IndexCorruptError, IndexMissingError
from rag.filters import ChunkFilter
from rag.store.corpus import DocumentInfo
from rag.store.lexical import LexicalIndex
from rag.store.pg.chunks import PgDocumentStore
from rag.store.pg.connection import (
    connect,
    driver_url,
    reporting,
    safe_url,
    setup_lock,
    take_write_lock,
)
from rag.store.pg.schema import Tables
from rag.store.pg.sql_filters import sql_condition
from rag.store.pg.stored_lexical import (
    assemble,
    cache_segment,
    is_name,
    missing_segments,
    pack_manifest,
    pack_segment,
    read_manifest,
    unpack_segment,
)
from rag.store.sentence_vectors import SentenceStore, StoredChunk, embed_chunks, reuse_vectors

logger = logging.getLogger(__name__)

_EXACT_UP_TO = 2000  # chunks a filter admits that dense search ranks exactly (by id)
_BATCH_CHUNKS = 256  # chunks embedded together, then written one document per transaction
_LEXICAL_BATCH = 10_000  # chunks added to BM25 as one segment (merged as segments are)


@dataclass
class DocumentWrite:
    """One document as it is written: its chunks (embedded) and their sentences."""

    doc: Document
    nodes: list[BaseNode]
    sentences: SentenceStore
    ingested: str = field(
        default_factory=lambda: dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    )
    doc_hash: str | None = None  # a migrated document's hash; else the loaded document's


class _QueryVectors:
    """The sentence vectors of each thread's last query's candidates (fetched with their
    chunk vectors in one round trip). Per thread: the UI answers several questions at once."""

    def __init__(self) -> None:
        self._local = threading.local()

    def keep(self, vectors: dict[str, np.ndarray]) -> None:
        self._local.vectors = vectors

    def get(self, chunk_id: str) -> np.ndarray | None:
        return getattr(self._local, "vectors", {}).get(chunk_id)


@dataclass
class _Snapshot:
    """What one instance knows of the store as of one version.

    Full (an instance of a store with no BM25 stored for this version): every
    chunk node in an in-memory docstore, and every chunk's sentence spans; BM25 is built
    from them on first use. Lazy (an instance, when the writer stored BM25 for this
    version): that BM25 and the chunk ids; the docstore reads chunks by id on demand
    (rag.store.pg.chunks), and there are no spans.
    """

    docstore: BaseDocumentStore
    sentences: SentenceStore  # spans only: vectors are fetched per query
    version: int
    chunk_ids: frozenset[str]
    lexical: LexicalIndex | None = None  # lazy: the stored one; full: built on first use
    query_vectors: _QueryVectors = field(default_factory=_QueryVectors)

    @property
    def full(self) -> bool:
        return not isinstance(self.docstore, PgDocumentStore)


class PgCorpus:
    """The `Corpus` (rag.store.corpus) in PostgreSQL: many instances read one store."""

    def __init__(self, settings: Settings, engine: sa.Engine, embed_model: BaseEmbedding) -> None:
        self._url = settings.pg_url or ""
        self._engine = engine
        self._embed_model = embed_model
        self._tables = Tables(settings.pg_table)
        self.dimension = 0
        self._store: Any = None
        self._ef_search = settings.pg_ef_search
        self._table_name = settings.pg_table
        self._snapshot: _Snapshot | None = None
        self._iterative_scan = False  # pgvector ≥ 0.8 (set up by _set_up)
        self._lexical_cache = settings.data_dir / "pg-lexical"

    @classmethod
    def open(
        cls,
        settings: Settings,
        embed_model: BaseEmbedding,
        model_name: str,
        require_documents: bool = True,
    ) -> PgCorpus:
        """The store at RAG_PG_URL, its tables created when missing."""
        engine = connect(settings)
        corpus = cls(settings, engine, embed_model)
        # The engine reopens the store after each write: close this one's connections with it.
        weakref.finalize(corpus, engine.dispose)
        with reporting(corpus._url):
            with setup_lock(engine):
                corpus._set_up(model_name)
            if require_documents and not corpus.chunk_count:
                raise IndexMissingError(
                    f"No documents in PostgreSQL at {safe_url(corpus._url)}. "
                    "Run `rag ingest DOCS` (or `rag migrate --to pgvector`) to add some."
                )
        return corpus

    @property
    def embed_model(self) -> BaseEmbedding:
        return self._embed_model

    def _set_up(self, model_name: str) -> None:
        """Create the extension and the tables; refuse a store built with another model."""
        with self._engine.begin() as conn:
            take_write_lock(conn)
            conn.execute(sa.text("CREATE EXTENSION IF NOT EXISTS vector"))
            self._tables.metadata.create_all(conn)
            state = conn.execute(sa.select(self._tables.state)).first()
            if state is None:
                self.dimension = len(self._embed_model.get_text_embedding("dimension probe"))
                conn.execute(
                    sa.insert(self._tables.state).values(
                        id=1, version=0, embed_model=model_name, dimension=self.dimension
                    )
                )
            elif state.embed_model != model_name:
                raise IndexCorruptError(
                    f"The PostgreSQL store at {safe_url(self._url)} was built with model "
                    f"{state.embed_model!r}, not {model_name!r}. Use another RAG_PG_TABLE, "
                    "or drop its tables and ingest again."
                )
            else:
                self.dimension = state.dimension
        self._store = PGVectorStore(
            table_name=f"{self._table_name}_chunks",
            embed_dim=self.dimension,
            use_jsonb=True,
            hnsw_kwargs={
                "hnsw_m": 16,
                "hnsw_ef_construction": 64,
                "hnsw_ef_search": self._ef_search,
                "hnsw_dist_method": "vector_cosine_ops",
            },
            initialization_fail_on_error=True,
            engine=self._engine,
            # Required beside `engine` by PGVectorStore; never connects (we query synchronously).
            async_engine=create_async_engine(driver_url(self._url, "asyncpg")),
        )
        self._store._initialize()
        with self._engine.connect() as conn:
            version = conn.execute(
                sa.text("SELECT extversion FROM pg_extension WHERE extname = 'vector'")
            ).scalar_one()
        self._iterative_scan = tuple(int(x) for x in version.split(".")[:2]) >= (0, 8)
        chunks = self._store._table_class.__table__
        with self._engine.begin() as conn:
            # Fetching candidates' vectors by node id, and a written document's stored twins
            # by its file's sha256 (`_same_content`), need indexes PGVectorStore does not make.
            conn.execute(
                sa.text(f"CREATE INDEX IF NOT EXISTS {chunks.name}_node_id ON {chunks} (node_id)")
            )
            conn.execute(
                sa.text(
                    f"CREATE INDEX IF NOT EXISTS {chunks.name}_sha256 "
                    f"ON {chunks} ((metadata_ ->> 'sha256'))"
                )
            )

    @property
    def _chunks(self) -> sa.Table:
        return self._store._table_class.__table__

    def _version(self, conn: sa.Connection) -> int:
        return conn.execute(sa.select(self._tables.state.c.version)).scalar_one()

    # The snapshot: the chunks of one version (for BM25, title links, passages).

    def _load_snapshot(self) -> _Snapshot:
        if self._snapshot is None:
            self._snapshot = self._lazy_snapshot() or self._full_snapshot()
        return self._snapshot

    def _full_snapshot(self) -> _Snapshot:
        """Every chunk's text and metadata, and spans, in memory: what BM25 is built from."""
        chunks, sentences = self._chunks, self._tables.sentences
        with reporting(self._url), self._engine.connect() as conn:
            conn = conn.execution_options(isolation_level="REPEATABLE READ")
            with conn.begin():
                version = self._version(conn)
                rows = conn.execute(sa.select(chunks.c.text, chunks.c.metadata_)).all()
                spans = conn.execute(sa.select(sentences.c.chunk_id, sentences.c.spans)).all()
        nodes = [metadata_dict_to_node(meta, text=text) for text, meta in rows]
        docstore = SimpleDocumentStore()
        docstore.add_documents(nodes)
        store = SentenceStore({c: [(a, b) for a, b in s] for c, s in spans})
        return _Snapshot(docstore, store, version, frozenset(n.node_id for n in nodes))

    def _lazy_snapshot(self) -> _Snapshot | None:
        """The stored BM25's version, chunks read on demand; None if none is stored for it
        (or it does not check out)."""
        head = self._stored_head()
        if head is None:
            return None
        version, digest, chunk_count = head
        lexical = self._fetch_lexical(digest)
        if lexical is None:  # a writer replaced it since: the store moved on
            return None
        if not lexical.describes(chunk_count):
            logger.warning("The stored lexical index %s does not match the chunks", digest)
            return None
        ids = frozenset(lexical.chunk_ids)
        read = functools.partial(_read_chunks, self._engine, self._url, self._chunks, ids)
        docstore = PgDocumentStore(read)
        return _Snapshot(docstore, SentenceStore(), version, ids, lexical)

    def _stored_head(self) -> tuple[int, str, int] | None:
        """The version, its stored BM25's digest and the chunk count, read together.

        None when no BM25 is stored for the current version. The version is the guard that
        the stored BM25 describes the current chunks: every write moves it in the
        transaction that changes the rows, and a writer stores BM25 (under the write lock)
        only while the version is still the one whose rows it built it from. The chunk
        count, from the same transaction, is a cheap check on top (rows written around
        rag).
        """
        table = self._tables.lexical
        with reporting(self._url), self._engine.connect() as conn:
            conn = conn.execution_options(isolation_level="REPEATABLE READ")
            with conn.begin():
                version = self._version(conn)
                row = conn.execute(sa.select(table.c.version, table.c.digest)).first()
                if row is None or row.version != version:
                    return None
                count = sa.select(sa.func.count()).select_from(self._chunks)
                return version, row.digest, conn.execute(count).scalar_one()

    def lexical_index(self) -> LexicalIndex:
        """BM25 and titles of this snapshot: as stored by its writer, else built from it."""
        snapshot = self._load_snapshot()
        if snapshot.lexical is None:
            logger.info(
                "Building BM25 from every chunk: no stored lexical index for version %d; "
                "the next ingest stores one.",
                snapshot.version,
            )
            snapshot.lexical = LexicalIndex.build(snapshot.docstore, snapshot.sentences)
        return snapshot.lexical

    def _fetch_lexical(self, digest: str) -> LexicalIndex | None:
        """The stored lexical index of this digest, read through the cache (None: replaced
        since, or not what a writer stores)."""
        if not is_name(digest):
            return None
        folder = self._lexical_cache / digest
        if not folder.is_dir():
            table = self._tables.lexical
            query = sa.select(table.c.files).where(table.c.digest == digest)
            with reporting(self._url), self._engine.connect() as conn:
                files = conn.execute(query).scalar()
            manifest = None if files is None else read_manifest(files, digest)
            if manifest is None or not self._fetch_segments(manifest):
                return None
            folder = assemble(manifest, digest, self._lexical_cache)
        return LexicalIndex.load(folder)

    def _fetch_segments(self, manifest: dict) -> bool:
        """Unpack the segments of `manifest` the cache lacks; False if one is not stored."""
        missing = missing_segments(manifest, self._lexical_cache)
        if not missing:
            return True
        table = self._tables.lexical_segments
        query = sa.select(table).where(table.c.name.in_(missing))
        with reporting(self._url), self._engine.connect() as conn:
            found = {row.name: row for row in conn.execute(query)}
        return all(
            name in found
            and unpack_segment(found[name].files, found[name].digest, self._lexical_cache, name)
            for name in missing
        )

    def _stored_lexical(self) -> tuple[int, LexicalIndex] | None:
        """The stored BM25, whichever version it describes, and that version."""
        table = self._tables.lexical
        with reporting(self._url), self._engine.connect() as conn:
            row = conn.execute(sa.select(table.c.version, table.c.digest)).first()
        lexical = None if row is None else self._fetch_lexical(row.digest)
        return None if row is None or lexical is None else (row.version, lexical)

    def _brought_up_to_date(
        self, stored: tuple[int, LexicalIndex] | None
    ) -> tuple[int, LexicalIndex] | None:
        """The stored BM25 without the chunks removed since and with those added (read in
        one transaction with the version they make up); None if it is up to date. With
        none stored, every chunk is added."""
        version_stored, lexical = stored or (-1, LexicalIndex())
        chunks, sentences = self._chunks, self._tables.sentences
        with reporting(self._url), self._engine.connect() as conn:
            conn = conn.execution_options(isolation_level="REPEATABLE READ")
            with conn.begin():
                version = self._version(conn)
                if version == version_stored:
                    return None
                ids = set(conn.execute(sa.select(chunks.c.node_id)).scalars())
                known = set(lexical.chunk_ids)
                added = sa.bindparam("ids", sorted(ids - known), type_=ARRAY(sa.Text))
                chunks_added = chunks.c.node_id == sa.any_(added) if known else sa.true()
                rows = conn.execute(
                    sa.select(chunks.c.text, chunks.c.metadata_).where(chunks_added)
                ).all()
                spans_added = sentences.c.chunk_id == sa.any_(added) if known else sa.true()
                spans = conn.execute(
                    sa.select(sentences.c.chunk_id, sentences.c.spans).where(spans_added)
                ).all()
        nodes = [metadata_dict_to_node(meta, text=text) for text, meta in rows]
        store = SentenceStore({c: [(a, b) for a, b in s] for c, s in spans})
        lexical = lexical.without(known - ids)
        for start in range(0, len(nodes), _LEXICAL_BATCH):
            lexical = lexical.with_chunks(nodes[start : start + _LEXICAL_BATCH], store)
        return version, lexical

    def _store_lexical(self, version: int, lexical: LexicalIndex) -> None:
        """Store BM25 and the titles of `version`, if it is still current: the segments the
        store lacks, and the manifest. A newer write means a newer writer, whose own persist
        stores its version's. Segments no manifest names any more go an hour later (an
        instance may be reading the one before)."""
        table, segments = self._tables.lexical, self._tables.lexical_segments
        names = [s.name for s in lexical.segments]
        with reporting(self._url), self._engine.connect() as conn:
            query = sa.select(segments.c.name).where(segments.c.name.in_(names))
            stored = set(conn.execute(query).scalars())
        rows = []
        for segment in lexical.segments:
            cache_segment(segment, self._lexical_cache)  # this instance asks with it next
            if segment.name not in stored:
                files, digest = pack_segment(segment)
                rows.append({"name": segment.name, "digest": digest, "files": files})
        manifest, digest = pack_manifest(lexical)
        row = {"id": 1, "version": version, "files": manifest, "digest": digest}
        with reporting(self._url), self._engine.begin() as conn:
            take_write_lock(conn)
            if self._version(conn) != version:
                return
            if rows:
                conn.execute(sa.insert(segments), rows)
            conn.execute(sa.delete(table))
            conn.execute(sa.insert(table), [row])
            hour_ago = sa.func.now() - sa.text("interval '1 hour'")
            unused = segments.c.name.not_in(names) & (segments.c.created < hour_ago)
            conn.execute(sa.delete(segments).where(unused))
        assemble(lexical.manifest(), digest, self._lexical_cache)

    def stale(self) -> bool:
        """Whether any instance wrote to the store since this snapshot was read."""
        if self._snapshot is None:
            return False
        with reporting(self._url), self._engine.connect() as conn:
            return self._version(conn) != self._snapshot.version

    # Reads at query time.

    def nearest(
        self, vector: np.ndarray, k: int, allowed: ChunkFilter | None = None
    ) -> list[tuple[str, float]]:
        """The k chunks nearest `vector` (HNSW in PostgreSQL) that this snapshot knows.

        Not `PGVectorStore.query`: it rebuilds every hit's node from its JSON and takes three
        round trips (12 ms at 500 chunks); the ids and cosines are all the retriever needs.
        `allowed`: only the chunks a metadata filter admits: up to `_EXACT_UP_TO` of them are
        read by id and ranked exactly (an HNSW scan would walk most of the graph to find k of
        a few); more are filtered in SQL during the HNSW scan.
        """
        known = self._load_snapshot().chunk_ids
        chunks = self._chunks
        distance = chunks.c.embedding.cosine_distance(vector).label("distance")
        query = sa.select(chunks.c.node_id, distance).order_by(distance).limit(k)
        exact = allowed is not None and len(allowed.chunk_ids) <= _EXACT_UP_TO
        if allowed is not None and exact:
            ids = sa.bindparam("ids", sorted(allowed.chunk_ids), type_=ARRAY(sa.Text))
            query = query.where(chunks.c.node_id == sa.any_(ids))
        elif allowed is not None:
            query = query.where(sql_condition(allowed.filters, chunks.c.metadata_))
        ef_search = max(self._ef_search, k)  # HNSW returns at most ef_search rows
        with reporting(self._url), self._engine.begin() as conn:
            conn.execute(sa.text(f"SET LOCAL hnsw.ef_search = {int(ef_search)}"))
            if allowed is not None and self._iterative_scan:
                # pgvector ≥ 0.8: scan on until k rows pass the filter (else ef_search rows
                # are found first and the filter leaves few of them). Re-sorted below.
                conn.execute(sa.text("SET LOCAL hnsw.iterative_scan = relaxed_order"))
            if exact:  # no HNSW: the rows come through the node_id index (a bitmap scan)
                conn.execute(sa.text("SET LOCAL enable_indexscan = off"))
            rows = conn.execute(query).all()
            if allowed is not None and len(rows) < min(k, len(allowed.chunk_ids)):
                # Too selective for the HNSW scan (it gives up after hnsw.max_scan_tuples):
                # exact search over the rows the filter admits.
                conn.execute(sa.text("SET LOCAL enable_indexscan = off"))
                rows = conn.execute(query).all()
        # A document written after the snapshot is left out until the next reload.
        return [(c, 1.0 - d) for c, d in sorted(rows, key=lambda r: r.distance) if c in known]

    def chunk_vectors(self, chunk_ids: Sequence[str]) -> np.ndarray:
        """The chunks' vectors; their sentences' vectors are kept for `sentence_vectors`."""
        chunks, sentences = self._chunks, self._tables.sentences
        query = (
            # vector_send: pgvector's binary form, ~10x faster to read than the text form.
            sa.select(
                chunks.c.node_id,
                sa.func.vector_send(chunks.c.embedding).label("binary"),
                sentences.c.vectors,
            )
            .join(sentences, sentences.c.chunk_id == chunks.c.node_id, isouter=True)
            .where(chunks.c.node_id.in_(list(chunk_ids)))
        )
        with reporting(self._url), self._engine.connect() as conn:
            rows = {row.node_id: row for row in conn.execute(query)}
        fetched: dict[str, np.ndarray] = {}
        matrix = np.zeros((len(chunk_ids), self.dimension), dtype=np.float32)
        for i, chunk_id in enumerate(chunk_ids):
            row = rows.get(chunk_id)
            if row is None:  # deleted by another instance since the snapshot
                continue
            matrix[i] = np.frombuffer(row.binary, dtype=">f4", offset=4)  # after dim, unused
            raw = np.frombuffer(row.vectors or b"", dtype=np.float16)
            fetched[chunk_id] = raw.reshape(-1, self.dimension)
        self._load_snapshot().query_vectors.keep(fetched)
        return matrix

    def sentence_vectors(self, chunk_id: str) -> np.ndarray:
        """Kept by the last `chunk_vectors` of this thread, else fetched with the chunk's."""
        snapshot = self._load_snapshot()
        vectors = snapshot.query_vectors.get(chunk_id)
        if vectors is None:
            self.chunk_vectors([chunk_id])
            vectors = snapshot.query_vectors.get(chunk_id)
        return vectors if vectors is not None else np.zeros((0, self.dimension), np.float16)

    def nodes(self, chunk_ids: Sequence[str]) -> list[BaseNode]:
        """The chunks still stored (a snapshot reads each once; rag.store.pg.chunks)."""
        return self._load_snapshot().docstore.get_nodes(list(chunk_ids), raise_error=False)

    def chunk_metadata(self, chunk_ids: Sequence[str]) -> list[dict]:
        """Each chunk's metadata, in the order of `chunk_ids`, in one query (no texts read).

        The node's own metadata, which `node_to_metadata_dict` keeps inside `_node_content`
        beside the keys it adds for PGVectorStore's filters. A chunk deleted since the
        snapshot has none (`nearest` leaves it out).
        """
        chunks = self._chunks
        content = sa.cast(chunks.c.metadata_["_node_content"].astext, JSONB)
        query = sa.select(chunks.c.node_id, content["metadata"].label("metadata"))
        with reporting(self._url), self._engine.connect() as conn:
            found = {row.node_id: row.metadata for row in conn.execute(query)}
        return [found.get(c) or {} for c in chunk_ids]

    @property
    def chunk_count(self) -> int:
        with reporting(self._url), self._engine.connect() as conn:
            return conn.execute(sa.select(sa.func.count()).select_from(self._chunks)).scalar_one()

    def documents(self) -> list[DocumentInfo]:
        """The documents, sorted by source path."""
        table = self._tables.documents
        with reporting(self._url), self._engine.connect() as conn:
            rows = conn.execute(sa.select(table).order_by(table.c.source)).all()
        return [DocumentInfo(r.doc_id, r.source, r.title, r.chunks, r.ingested) for r in rows]

    # Writes: whole documents, one transaction each.

    def upsert(
        self, documents: Sequence[Document], splitter: SentenceSplitter, show_progress: bool
    ) -> dict[str, str]:
        """Add new documents, replace changed ones, skip unchanged: doc_id → what happened."""
        table = self._tables.documents
        ids = [doc.doc_id for doc in documents]
        query = sa.select(table.c.doc_id, table.c.hash).where(table.c.doc_id.in_(ids))
        with reporting(self._url), self._engine.connect() as conn:
            known: dict[str, str] = {row.doc_id: row.hash for row in conn.execute(query)}
        outcome: dict[str, str] = {}
        batch: list[DocumentWrite] = []
        for doc in documents:
            if known.get(doc.doc_id) == doc.hash:
                outcome[doc.doc_id] = "unchanged"
                continue
            outcome[doc.doc_id] = "replaced" if doc.doc_id in known else "added"
            nodes = splitter.get_nodes_from_documents([doc])
            batch.append(DocumentWrite(doc, nodes, SentenceStore()))
            if sum(len(w.nodes) for w in batch) >= _BATCH_CHUNKS:
                self._embed_and_write(batch, show_progress)
                batch = []
        self._embed_and_write(batch, show_progress)
        return outcome

    def _embed_and_write(self, batch: list[DocumentWrite], show_progress: bool) -> None:
        if not batch:
            return
        for w in batch:
            left = reuse_vectors(w.nodes, self._same_content(w.doc), w.sentences)
            w.sentences.add(left, self._embed_model, show_progress=False)
        embed_chunks([n for w in batch for n in w.nodes], self._embed_model, show_progress)
        for w in batch:  # a crash between two commits leaves whole documents only
            self.write([w])

    def _same_content(self, doc: Document) -> list[StoredChunk]:
        """The stored chunks of other documents with the same bytes (a file moved or
        copied: its sha256), with their vectors, spans and sentence vectors."""
        digest = doc.metadata.get("sha256")
        if not digest:
            return []
        chunks, sentences = self._chunks, self._tables.sentences
        query = (
            sa.select(
                chunks.c.text,
                chunks.c.metadata_,
                sa.func.vector_send(chunks.c.embedding).label("binary"),
                sentences.c.spans,
                sentences.c.vectors,
            )
            .join(sentences, sentences.c.chunk_id == chunks.c.node_id)
            .where(chunks.c.metadata_["sha256"].astext == digest)
            .where(sentences.c.doc_id != doc.doc_id)
        )
        with reporting(self._url), self._engine.connect() as conn:
            rows = conn.execute(query).all()
        return [
            (
                metadata_dict_to_node(row.metadata_, text=row.text),
                np.frombuffer(row.binary, dtype=">f4", offset=4),
                [(a, b) for a, b in row.spans],
                np.frombuffer(row.vectors, dtype=np.float16).reshape(-1, self.dimension),
            )
            for row in rows
        ]

    def write(self, writes: Sequence[DocumentWrite]) -> None:
        """Replace these documents (chunks, sentences, document row) in one transaction."""
        chunks, t = self._chunks, self._tables
        with reporting(self._url), self._engine.begin() as conn:
            take_write_lock(conn)
            for doc_id in [w.doc.doc_id for w in writes]:
                self._delete_rows(conn, doc_id)
            chunk_rows = [_chunk_row(node) for w in writes for node in w.nodes]
            if chunk_rows:
                conn.execute(sa.insert(chunks), chunk_rows)
            sentence_rows = [
                {
                    "chunk_id": node.node_id,
                    "doc_id": w.doc.doc_id,
                    "spans": w.sentences.spans[node.node_id],
                    "vectors": np.asarray(w.sentences.vectors[node.node_id], np.float16).tobytes(),
                }
                for w in writes
                for node in w.nodes
            ]
            if sentence_rows:
                conn.execute(sa.insert(t.sentences), sentence_rows)
            conn.execute(sa.insert(t.documents), [_document_row(w) for w in writes])
            self._bump(conn)

    def delete(self, doc_id: str) -> None:
        """Remove a document's chunks, sentences and row, in one transaction."""
        with reporting(self._url), self._engine.begin() as conn:
            take_write_lock(conn)
            self._delete_rows(conn, doc_id)
            self._bump(conn)

    def _delete_rows(self, conn: sa.Connection, doc_id: str) -> None:
        chunks, t = self._chunks, self._tables
        conn.execute(sa.delete(chunks).where(chunks.c.metadata_["ref_doc_id"].astext == doc_id))
        conn.execute(sa.delete(t.sentences).where(t.sentences.c.doc_id == doc_id))
        conn.execute(sa.delete(t.documents).where(t.documents.c.doc_id == doc_id))

    def _bump(self, conn: sa.Connection) -> None:
        """Move the version: every instance's snapshot is now stale (this one's too)."""
        state = self._tables.state
        conn.execute(sa.update(state).values(version=state.c.version + 1))
        self._snapshot = None

    @contextmanager
    def bulk_load(self) -> Iterator[None]:
        """Drop the HNSW index for the duration of a bulk copy, then build it again."""
        index = f"{self._chunks.name}_embedding_idx"  # the name PGVectorStore gives it
        with reporting(self._url), self._engine.begin() as conn:
            definition = conn.execute(
                sa.text("SELECT indexdef FROM pg_indexes WHERE indexname = :name"), {"name": index}
            ).scalar_one()
            conn.execute(sa.text(f"DROP INDEX {index}"))
        try:
            yield
        finally:
            with reporting(self._url), self._engine.begin() as conn:
                conn.execute(sa.text("SET LOCAL maintenance_work_mem = '512MB'"))
                conn.execute(sa.text(definition))

    def persist(self) -> None:
        """Every write was committed: store BM25 and the titles of this version, so
        instances load them; built from the stored ones and the chunks changed since."""
        update = self._brought_up_to_date(self._stored_lexical())
        if update is not None:
            self._store_lexical(*update)


def _read_chunks(
    engine: sa.Engine, url: str, chunks: sa.Table, known: frozenset[str], chunk_ids: Sequence[str]
) -> dict[str, BaseNode]:
    """The chunks of `chunk_ids` still stored, as nodes; none a snapshot does not know.

    Node ids are random (llama-index's splitter): a replaced document's chunks get new
    ones, so a known id still stored has the text the snapshot's BM25 was built from.
    """
    wanted = [c for c in dict.fromkeys(chunk_ids) if c in known]
    if not wanted:
        return {}
    query = sa.select(chunks.c.node_id, chunks.c.text, chunks.c.metadata_).where(
        chunks.c.node_id.in_(wanted)
    )
    with reporting(url), engine.connect() as conn:
        rows = conn.execute(query).all()
    return {r.node_id: metadata_dict_to_node(r.metadata_, text=r.text) for r in rows}


def _chunk_row(node: BaseNode) -> dict:
    """The row PGVectorStore itself would write for this node."""
    return {
        "node_id": node.node_id,
        "embedding": node.get_embedding(),
        "text": node.get_content(),
        "metadata_": node_to_metadata_dict(node, remove_text=True, flat_metadata=False),
    }


def _document_row(w: DocumentWrite) -> dict:
    meta = w.doc.metadata
    return {
        "doc_id": w.doc.doc_id,
        "hash": w.doc_hash or w.doc.hash,
        "source": meta.get("file_path", w.doc.doc_id),
        "title": meta.get("title", ""),
        "chunks": len(w.nodes),
        "ingested": w.ingested,
    }
