"""What retrieval knows of the chunks besides their vectors: BM25 and titles, in segments.

BM25 over the chunks and their sentences (rag.store.bm25), and each chunk's document and title
(for the title links of rag.links), persisted beside the index so that a load reads a few
files instead of building every chunk as a node again (at 100k chunks: ~16 s to build the
nodes, ~36 s to index them).

A write costs what it writes, not the corpus: added chunks become a segment of their own,
deleted ones are marked in the manifest, and the last segment is merged into the one before
it while that one is at most twice its size, so segments shrink geometrically (O(log n) of
them, each chunk merged O(log n) times) and a merge drops the deleted chunks. Segments never
change once written, so a persist links the unchanged ones into the new version.
Indexes written before segments (or before BM25 was persisted) load without it: it is built
from their chunks on first use and written in segments by the next persist.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import uuid
from collections.abc import Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import numpy as np
from llama_index.core.schema import BaseNode
from llama_index.core.storage.docstore.types import BaseDocumentStore

from rag.reading.chunks import embed_text, sentence_texts
from rag.store.bm25 import Bm25Scorer, Postings, ScoredPart
from rag.store.faiss.docstore import SqliteDocumentStore
from rag.store.sentence_vectors import SentenceStore

_FOLDER, MANIFEST, _CHUNKS_FILE = "lexical", "segments.json", "chunks.json"
_MERGE_RATIO = 2  # merge the last segment into the one before while that is ≤ 2× its size


@dataclass(frozen=True)
class Segment:
    """Some chunks' ids, documents and titles, and BM25 postings of them and their sentences."""

    name: str
    chunk_ids: list[str]
    chunk_docs: list[str]
    titles: dict[str, str]  # document id → title, for this segment's documents
    chunks: Postings
    sentences: Postings
    owners: np.ndarray  # each sentence's chunk, numbered within the segment

    @classmethod
    def of_nodes(cls, nodes: Sequence[BaseNode], sentences: SentenceStore) -> Segment:
        # llama-index's BM25Retriever indexes the chunk with its metadata header (title).
        texts, owners = [], []
        for number, node in enumerate(nodes):
            spans = sentences.spans.get(node.node_id, [])
            title = node.metadata.get("title", "")
            texts += sentence_texts(title, node.get_content(), node.metadata, spans)
            owners += [number] * len(spans)
        docs = [node.ref_doc_id or "" for node in nodes]
        return cls(
            _new_name(),
            [node.node_id for node in nodes],
            docs,
            {doc: node.metadata.get("title", "") for doc, node in zip(docs, nodes, strict=True)},
            Postings.of_texts([embed_text(node) for node in nodes]),
            Postings.of_texts(texts),
            np.asarray(owners, np.int32),
        )

    @classmethod
    def merged(cls, parts: Sequence[tuple[Segment, np.ndarray]]) -> Segment:
        """The chunks each part keeps (a bool per chunk), in order."""
        ids = [c for s, keep in parts for c, k in zip(s.chunk_ids, keep, strict=True) if k]
        docs = [d for s, keep in parts for d, k in zip(s.chunk_docs, keep, strict=True) if k]
        titles = {doc: title for s, _ in parts for doc, title in s.titles.items()}
        sentence_keeps = [keep[s.owners] for s, keep in parts]
        owners, first = [], 0
        for (segment, keep), sentence_keep in zip(parts, sentence_keeps, strict=True):
            owners.append((np.cumsum(keep) - 1 + first)[segment.owners[sentence_keep]])
            first += int(keep.sum())
        return cls(
            _new_name(),
            ids,
            docs,
            {doc: titles[doc] for doc in dict.fromkeys(docs)},
            Postings.merged([(s.chunks, keep) for s, keep in parts]),
            Postings.merged(
                [(s.sentences, k) for (s, _), k in zip(parts, sentence_keeps, strict=True)]
            ),
            np.concatenate(owners).astype(np.int32) if owners else np.zeros(0, np.int32),
        )

    def save(self, folder: Path) -> None:
        folder.mkdir(parents=True)
        chunks = {"chunk_ids": self.chunk_ids, "chunk_docs": self.chunk_docs}
        (folder / _CHUNKS_FILE).write_text(json.dumps(chunks | {"titles": self.titles}))
        self.chunks.save(folder, "chunk")
        self.sentences.save(folder, "sentence")
        np.save(folder / "sentence_owners.npy", self.owners)

    @classmethod
    def load(cls, folder: Path) -> Segment:
        """What `save` wrote; ValueError when its parts disagree."""
        chunks = json.loads((folder / _CHUNKS_FILE).read_text())
        titles: dict[str, str] = chunks["titles"]
        # One string per id (JSON parses each occurrence as its own: ~0.2 GiB at 1M chunks):
        # chunk ids interned as the FAISS id map's, documents as the titles' keys.
        same_doc = {doc: doc for doc in titles}
        docs = [same_doc.get(doc, doc) for doc in chunks["chunk_docs"]]
        ids = [sys.intern(c) for c in chunks["chunk_ids"]]
        segment = cls(
            folder.name,
            ids,
            docs,
            titles,
            Postings.load(folder, "chunk"),
            Postings.load(folder, "sentence"),
            np.load(folder / "sentence_owners.npy"),
        )
        if not len(ids) == len(docs) == segment.chunks.count or (
            len(segment.owners) != segment.sentences.count
        ):
            raise ValueError(f"lexical segment {folder.name}: its parts disagree")
        return segment


def _new_name() -> str:
    return uuid.uuid4().hex


@dataclass(frozen=True)
class LexicalIndex:
    """BM25 of the live chunks, in the order of `chunk_ids`, and their documents' titles."""

    segments: tuple[Segment, ...] = ()
    # Segment name → the numbers of its chunks deleted since it was written.
    deleted: Mapping[str, frozenset[int]] = field(default_factory=dict)

    @classmethod
    def build(cls, docstore: BaseDocumentStore, sentences: SentenceStore) -> LexicalIndex:
        """From every chunk of the docstore, read a batch at a time (seconds per 10k)."""
        index = cls()
        for nodes in _node_batches(docstore):
            index = index.with_chunks(nodes, sentences)
        return index

    def with_chunks(self, nodes: Sequence[BaseNode], sentences: SentenceStore) -> LexicalIndex:
        """This index and the chunks `nodes` (their sentences' spans from `sentences`)."""
        if not nodes:
            return self
        added = (*self.segments, Segment.of_nodes(nodes, sentences))
        return LexicalIndex(added, self.deleted)._merge_tail()

    def without(self, chunk_ids: Collection[str]) -> LexicalIndex:
        """This index without those chunks (ids it does not hold are ignored)."""
        gone = set(chunk_ids)
        if not gone:
            return self
        deleted = dict(self.deleted)
        for segment in self.segments:
            numbers = {n for n, c in enumerate(segment.chunk_ids) if c in gone}
            if numbers:
                deleted[segment.name] = deleted.get(segment.name, frozenset()) | numbers
        kept = tuple(s for s in self.segments if len(deleted.get(s.name, ())) < len(s.chunk_ids))
        names = {s.name for s in kept}
        return LexicalIndex(kept, {n: d for n, d in deleted.items() if n in names})._merge_tail()

    def _merge_tail(self) -> LexicalIndex:
        """Merge the last segment into the one before while that one holds at most twice
        its live chunks."""
        segments, deleted = list(self.segments), dict(self.deleted)
        while len(segments) > 1 and (
            self._live_count(segments[-2], deleted)
            <= _MERGE_RATIO * self._live_count(segments[-1], deleted)
        ):
            tail = segments[-2:]
            merged = Segment.merged([(s, self._keep(s, deleted)) for s in tail])
            for segment in tail:
                deleted.pop(segment.name, None)
            segments[-2:] = [merged]
        return LexicalIndex(tuple(segments), deleted)

    @staticmethod
    def _keep(segment: Segment, deleted: Mapping[str, frozenset[int]]) -> np.ndarray:
        keep = np.ones(len(segment.chunk_ids), bool)
        keep[list(deleted.get(segment.name, ()))] = False
        return keep

    @staticmethod
    def _live_count(segment: Segment, deleted: Mapping[str, frozenset[int]]) -> int:
        return len(segment.chunk_ids) - len(deleted.get(segment.name, ()))

    @cached_property
    def _live(self) -> list[np.ndarray | None]:
        """Each segment's live chunks (None: all of them)."""
        return [
            self._keep(s, self.deleted) if s.name in self.deleted else None for s in self.segments
        ]

    def _live_values(self, per_segment: Iterable[list[str]]) -> list[str]:
        """The values of the live chunks, from each segment's value per chunk."""
        values = []
        for items, live in zip(per_segment, self._live, strict=True):
            values += items if live is None else [v for v, k in zip(items, live, strict=True) if k]
        return values

    @cached_property
    def chunk_ids(self) -> list[str]:
        return self._live_values(s.chunk_ids for s in self.segments)

    @cached_property
    def chunk_docs(self) -> list[str]:
        """Each live chunk's document id, in the order of `chunk_ids`."""
        return self._live_values(s.chunk_docs for s in self.segments)

    @cached_property
    def titles(self) -> dict[str, str]:
        """Document id → title (chunks carry their document's title), for live documents."""
        docs = set(self.chunk_docs)
        return {d: t for s in self.segments for d, t in s.titles.items() if d in docs}

    @cached_property
    def bm25(self) -> Bm25Scorer | None:
        """None: no chunks."""
        if not self.segments:
            return None
        parts = [
            ScoredPart(s.chunks, s.sentences, s.owners, live)
            for s, live in zip(self.segments, self._live, strict=True)
        ]
        return Bm25Scorer(parts)

    def save(self, index_dir: Path, previous: Path | None = None) -> None:
        """Into `index_dir`, a new folder: segments already saved in the index folder
        `previous` are hard-linked from there (they never change), the others written."""
        folder = index_dir / _FOLDER
        folder.mkdir()
        for segment in self.segments:
            saved = previous / _FOLDER / segment.name if previous is not None else None
            if saved is not None and (saved / _CHUNKS_FILE).is_file():
                link_tree(saved, folder / segment.name)
            else:
                segment.save(folder / segment.name)
        (folder / MANIFEST).write_text(json.dumps(self.manifest()))

    def manifest(self) -> dict:
        """Its segments' names, in order, and the chunks deleted from each since."""
        return {
            "segments": [s.name for s in self.segments],
            "deleted": {name: sorted(numbers) for name, numbers in self.deleted.items()},
        }

    @classmethod
    def load(cls, index_dir: Path) -> LexicalIndex | None:
        """What `save` wrote in `index_dir`; None for an index written before it existed."""
        folder = index_dir / _FOLDER
        if not (folder / MANIFEST).is_file():
            return None
        manifest = json.loads((folder / MANIFEST).read_text())
        segments = tuple(Segment.load(folder / name) for name in manifest["segments"])
        deleted = {name: frozenset(numbers) for name, numbers in manifest["deleted"].items()}
        sizes = {s.name: len(s.chunk_ids) for s in segments}
        for name, numbers in deleted.items():  # else an IndexError at the first question
            if name not in sizes or not all(0 <= n < sizes[name] for n in numbers):
                raise ValueError(f"{MANIFEST}: deleted chunks that segment {name} does not hold")
        return cls(segments, deleted)

    def matches(self, chunk_ids: set[str], sentences: SentenceStore) -> bool:
        """Whether this describes exactly these chunks and their sentences."""
        return (
            self.describes(len(chunk_ids))
            and set(self.chunk_ids) == chunk_ids
            and (self.bm25 is None or self.bm25.sentence_count == sentences.sentence_count)
        )

    def describes(self, chunk_count: int) -> bool:
        """Whether its parts agree and count `chunk_count` chunks (a check without them)."""
        if self.bm25 is None:
            return chunk_count == 0 and not self.chunk_ids
        return self.bm25.chunk_count == len(self.chunk_ids) == len(self.chunk_docs) == chunk_count


def link_tree(source: Path, target: Path) -> None:
    """`target` as a copy of the folder `source`, its files hard links where the file
    system allows."""
    target.mkdir()
    for file in source.iterdir():
        try:
            os.link(file, target / file.name)
        except OSError:  # another file system, or one without hard links
            shutil.copy2(file, target / file.name)


def _node_batches(docstore: BaseDocumentStore, size: int = 10_000) -> Iterator[list[BaseNode]]:
    """The docstore's chunks as nodes, `size` at a time where the store can (SQLite)."""
    if isinstance(docstore, SqliteDocumentStore):
        yield from docstore.node_batches(size)
        return
    nodes = list(docstore.docs.values())
    for start in range(0, len(nodes), size):
        yield nodes[start : start + size]
