"""The persisted sentences of every chunk as flat arrays, read in place (sentence_vectors).

At 1M chunks an index has ~5M sentences. As Python lists of span tuples they took ~0.8 GiB
of a serving process, and memory-mapping their float16 vectors (3.7 GiB) let every page a
query touched stay in its resident set: the kernel maps 16 pages around each fault, so a
few hundred questions had most of the file resident. So, on disk and once loaded:

- `sentence_chunks.npy`: the chunk ids, UTF-8, sorted (found by binary search);
- `sentence_offsets.npy`: where each chunk's sentences start (one more: the total);
- `sentence_spans.npy`: each sentence's (start, end) in its chunk's text, int32;
- `sentence_vectors.npy`: each sentence's unit vector, float16, in the same order.

The id, offset and span arrays are memory-mapped (~100 MiB at 1M chunks, read by binary
search); a chunk's vectors are read with one `pread` when it is a candidate, into memory
the query frees. Indexes of format 3 stored the spans as `sentence_spans.json`
(chunk id → spans, sorted by id): read into the same arrays.
"""

from __future__ import annotations

import itertools
import json
import os
import weakref
from collections.abc import Iterator, Mapping, MutableMapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Generic, TypeVar

import numpy as np

VECTORS_FILE = "sentence_vectors.npy"
CHUNKS_FILE, OFFSETS_FILE, SPANS_FILE = (
    "sentence_chunks.npy",
    "sentence_offsets.npy",
    "sentence_spans.npy",
)
JSON_SPANS_FILE = "sentence_spans.json"  # format 3

V = TypeVar("V")


class DiskArray:
    """A 1-D or 2-D .npy file whose slices (rows) are read with `pread` when asked for.

    Not memory-mapped: pages of a mapped file that a process touches count in its resident
    set until the kernel needs them back, and it maps 16 pages around each fault, so a
    serving process that reads scattered rows ends up holding most of the file. Read
    this way the rows live in the page cache, shared and evictable, and in our memory only
    while a query uses them.
    """

    def __init__(self, path: Path) -> None:
        header = np.load(path, mmap_mode="r")  # the header's shape, dtype and data offset
        self.shape: tuple[int, ...] = header.shape
        self.dtype = header.dtype
        if header.ndim not in (1, 2) or header.dtype.hasobject or np.isfortran(header):
            raise ValueError(f"{path.name}: not a 1-D or 2-D C-ordered array")
        self._offset = int(header.offset) if header.size else 0
        self._row_bytes = self.dtype.itemsize * int(np.prod(self.shape[1:]))
        del header
        self._fd = os.open(path, os.O_RDONLY)
        weakref.finalize(self, os.close, self._fd)

    def __len__(self) -> int:
        return self.shape[0]

    def read(self, start: int, stop: int) -> np.ndarray:
        """Rows [start, stop), as a read-only array of their own."""
        start, stop = max(0, start), min(stop, len(self))
        rows = max(0, stop - start)
        if rows == 0 or self._row_bytes == 0:
            return np.zeros((rows, *self.shape[1:]), self.dtype)
        size = rows * self._row_bytes
        data = os.pread(self._fd, size, self._offset + start * self._row_bytes)
        if len(data) != size:
            raise ValueError(f"array file ends early: {len(data)} of {size} bytes")
        return np.frombuffer(data, self.dtype).reshape(rows, *self.shape[1:])

    def copy_rows(self, start: int, stop: int, out_fd: int) -> None:
        """Append rows [start, stop) to the file open at `out_fd`, in the kernel where it can."""
        left = (stop - start) * self._row_bytes
        offset = self._offset + start * self._row_bytes
        while left:
            try:
                done = os.copy_file_range(self._fd, out_fd, left, offset)
            except OSError:  # a file system or kernel without it: through memory
                done = os.write(out_fd, os.pread(self._fd, min(left, 1 << 26), offset))
            if done == 0:
                raise ValueError("array file ends early")
            offset, left = offset + done, left - done

    def __getitem__(self, rows: slice) -> np.ndarray:
        """`array[a:b]`, what bm25s's scoring asks of its arrays (no steps, no other index)."""
        if not isinstance(rows, slice) or rows.step not in (None, 1):
            raise TypeError("DiskArray reads contiguous slices only")
        start, stop, _ = rows.indices(len(self))
        return self.read(start, stop)

    def __array__(self, dtype: np.dtype | None = None, copy: bool | None = None) -> np.ndarray:
        """All of it (as `np.save` asks when a loaded index is written again)."""
        whole = self.read(0, len(self))
        return whole if dtype is None else whole.astype(dtype)


@dataclass(frozen=True)
class PackedSentences:
    """The sorted chunk ids, their sentences' offsets and spans, and the vectors' file."""

    ids: np.ndarray  # bytes, sorted
    offsets: np.ndarray  # int64, len(ids) + 1
    spans: np.ndarray  # int32, (sentences, 2)
    vectors: DiskArray

    @classmethod
    def load(cls, folder: Path) -> PackedSentences:
        """The arrays in `folder` (or format 3's JSON spans); ValueError when they disagree."""
        if (folder / CHUNKS_FILE).exists():
            ids, offsets, spans = (
                np.asarray(np.load(folder / name, mmap_mode="r"))  # a plain view of the map
                for name in (CHUNKS_FILE, OFFSETS_FILE, SPANS_FILE)
            )
        else:
            ids, offsets, spans = _from_json(json.loads((folder / JSON_SPANS_FILE).read_text()))
        packed = cls(ids, offsets, spans, DiskArray(folder / VECTORS_FILE))
        packed._check()
        return packed

    def _check(self) -> None:
        count = int(self.offsets[-1]) if len(self.offsets) else -1
        if len(self.offsets) != len(self.ids) + 1 or count != len(self.spans):
            raise ValueError(
                f"{len(self.ids)} chunks, {len(self.offsets)} offsets, {len(self.spans)} spans"
            )
        if len(self.vectors) != count:
            raise ValueError(f"{len(self.vectors)} sentence vectors for {count} sentences")
        if len(self.ids) > 1 and not bool(np.all(self.ids[:-1] < self.ids[1:])):
            raise ValueError("sentence chunk ids are not sorted")

    def position(self, chunk_id: str) -> int | None:
        """The chunk's row in `ids`, or None."""
        key = chunk_id.encode()
        i = int(np.searchsorted(self.ids, key))
        return i if i < len(self.ids) and self.ids[i] == key else None

    def chunk_spans(self, position: int) -> list[tuple[int, int]]:
        start, stop = self.offsets[position], self.offsets[position + 1]
        return [(a, b) for a, b in self.spans[start:stop].tolist()]

    def chunk_vectors(self, position: int) -> np.ndarray:
        return self.vectors.read(int(self.offsets[position]), int(self.offsets[position + 1]))

    def chunk_ids(self) -> Iterator[str]:
        return (i.decode() for i in self.ids.tolist())


def _from_json(spans_json: dict[str, list[list[int]]]) -> tuple[np.ndarray, ...]:
    """Format 3's chunk id → spans, as the arrays."""
    ids = np.array([c.encode() for c in spans_json], dtype=np.bytes_)
    counts = np.fromiter((len(s) for s in spans_json.values()), np.int64, len(spans_json))
    offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
    spans = np.zeros((int(offsets[-1]), 2), np.int32)
    for position, chunk_spans in enumerate(spans_json.values()):
        if chunk_spans:
            spans[offsets[position] : offsets[position + 1]] = chunk_spans
    return ids, offsets, spans


class _Layered(MutableMapping[str, V], Generic[V]):
    """The persisted chunks' values, with this process's additions and deletions on top."""

    def __init__(self, packed: PackedSentences) -> None:
        self._packed = packed
        self._added: dict[str, V] = {}
        self._hidden: set[str] = set()  # persisted chunks deleted or replaced since the load

    def _read(self, position: int) -> V:
        raise NotImplementedError

    def _persisted(self, key: str) -> int | None:
        return None if key in self._hidden else self._packed.position(key)

    def __getitem__(self, key: str) -> V:
        if key in self._added:
            return self._added[key]
        position = self._persisted(key)
        if position is None:
            raise KeyError(key)
        return self._read(position)

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and (key in self._added or self._persisted(key) is not None)

    def __setitem__(self, key: str, value: V) -> None:
        if self._packed.position(key) is not None:
            self._hidden.add(key)
        self._added[key] = value

    def __delitem__(self, key: str) -> None:
        if key in self._added:
            del self._added[key]
        elif self._persisted(key) is not None:
            self._hidden.add(key)
        else:
            raise KeyError(key)

    def __iter__(self) -> Iterator[str]:
        for key in self._packed.chunk_ids():
            if key not in self._hidden:
                yield key
        yield from self._added

    def __len__(self) -> int:
        return len(self._packed.ids) - len(self._hidden) + len(self._added)

    def layers(self) -> tuple[PackedSentences, np.ndarray, list[str]]:
        """The persisted arrays, the rows of their chunks still here, and the chunks added."""
        hidden = [p for key in self._hidden if (p := self._packed.position(key)) is not None]
        keep = np.ones(len(self._packed.ids), bool)
        keep[hidden] = False
        return self._packed, np.flatnonzero(keep), list(self._added)

    def same_layers(self, other: _Layered) -> bool:
        """Whether `other` is over the same arrays, with the same chunks changed."""
        return (
            other._packed is self._packed
            and other._hidden == self._hidden
            and other._added.keys() == self._added.keys()
        )


class PackedSpans(_Layered[Sequence[tuple[int, int]]]):
    """chunk id → its sentences' spans, over the persisted arrays."""

    def _read(self, position: int) -> list[tuple[int, int]]:
        return self._packed.chunk_spans(position)

    @property
    def sentence_count(self) -> int:
        """All sentences, without reading any chunk's spans."""
        hidden = [self._packed.position(key) for key in self._hidden]
        offsets = self._packed.offsets
        removed = sum(int(offsets[p + 1] - offsets[p]) for p in hidden if p is not None)
        added = sum(len(spans) for spans in self._added.values())
        return int(offsets[-1]) - removed + added


class PackedVectors(_Layered[np.ndarray]):
    """chunk id → its sentences' vectors, each read from disk when asked for."""

    def _read(self, position: int) -> np.ndarray:
        return self._packed.chunk_vectors(position)


def write_packed(
    folder: Path, spans: Mapping[str, Sequence[tuple[int, int]]], vectors: Mapping[str, np.ndarray]
) -> None:
    """The four files of `PackedSentences`, in chunk id order.

    A loaded store's chunks that are still there are copied from its files in runs of
    consecutive rows, the vectors by `os.copy_file_range` (100k chunks: ~0.1 s, against
    ~3 s read and written chunk by chunk); the other chunks are written from memory, a
    chunk at a time (at 1M chunks one concatenated copy would be another 3.7 GiB).
    """
    base, kept, added = _sources(spans, vectors)
    ids = np.array([c.encode() for c in added], dtype=np.bytes_)
    if base is not None:
        ids = np.concatenate([base.ids[kept], ids]) if len(ids) else base.ids[kept]
    order = np.argsort(ids, kind="stable")  # the byte order binary search uses
    source = np.concatenate([kept, -1 - np.arange(len(added))])[order]  # < 0: added[-1 - s]
    added_counts = np.fromiter((len(spans[c]) for c in added), np.int64, len(added))
    kept_counts = np.diff(base.offsets)[kept] if base is not None else np.zeros(0, np.int64)
    offsets = np.concatenate([[0], np.cumsum(np.concatenate([kept_counts, added_counts])[order])])
    offsets = offsets.astype(np.int64)
    span_array = np.zeros((int(offsets[-1]), 2), np.int32)
    dim = next((v.shape[1] for c in added if len(v := vectors[c])), 0)
    if base is not None and len(base.vectors):
        dim = base.vectors.shape[1]
    header = {
        "descr": np.lib.format.dtype_to_descr(np.dtype(np.float16)),
        "fortran_order": False,
        "shape": (int(offsets[-1]), dim) if dim else (0, 0),
    }
    persisted = source >= 0
    joined = persisted[1:] & persisted[:-1] & (source[1:] == source[:-1] + 1)
    bounds = [0, *(np.flatnonzero(~joined) + 1).tolist(), len(source)] if len(source) else [0]
    # Written through a file, not a memory map: the map's dirty pages would count as ours.
    with open(folder / VECTORS_FILE, "wb", buffering=0) as out:
        np.lib.format.write_array_header_1_0(out, header)
        for start, stop in itertools.pairwise(bounds):
            rows = slice(int(offsets[start]), int(offsets[stop]))
            first = int(source[start])
            if first >= 0 and base is not None:  # a run of the loaded store's chunks
                from_rows = int(base.offsets[first]), int(base.offsets[source[stop - 1] + 1])
                span_array[rows] = base.spans[from_rows[0] : from_rows[1]]
                base.vectors.copy_rows(*from_rows, out.fileno())
            elif rows.stop > rows.start:  # one chunk held in memory
                span_array[rows] = spans[added[-1 - first]]
                rows_bytes = np.ascontiguousarray(vectors[added[-1 - first]], np.float16)
                _write_all(out.fileno(), rows_bytes.tobytes())
    np.save(folder / CHUNKS_FILE, ids[order])
    np.save(folder / OFFSETS_FILE, offsets)
    np.save(folder / SPANS_FILE, span_array)


def _write_all(fd: int, data: bytes) -> None:
    """`os.write` until all of it is written (unbuffered: `copy_rows` writes between)."""
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def _sources(
    spans: Mapping[str, Sequence[tuple[int, int]]], vectors: Mapping[str, np.ndarray]
) -> tuple[PackedSentences | None, np.ndarray, list[str]]:
    """The loaded store under `spans` and `vectors` (None: none, or they disagree), the rows
    of its chunks still there, and the chunks to write from memory."""
    if not (
        isinstance(spans, PackedSpans)
        and isinstance(vectors, PackedVectors)
        and spans.same_layers(vectors)
    ):
        return None, np.zeros(0, np.int64), list(spans)
    return spans.layers()
