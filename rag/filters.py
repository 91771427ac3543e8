"""Metadata filters: ask a question of some documents only (`rag ask --filter file_name=a.txt`).

The API type is llama-index's `MetadataFilters`. Both stores honour the same subset of it:
`==`, `!=`, `in`, `nin` on a metadata key, combined with `and` or `or` (no nesting). Every
chunk carries its document's metadata: `file_name`, `file_path` (absolute), `title`, `date`.
The retriever evaluates a filter once per corpus version, in process, over the chunks'
metadata (BM25 and the title links need that); dense search takes it as a FAISS id selector
or, on PostgreSQL, as the admitted ids (a few) or a SQL condition (rag.store.pg.corpus).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from llama_index.core.vector_stores.types import (
    FilterCondition,
    FilterOperator,
    MetadataFilter,
    MetadataFilters,
)
from llama_index.core.vector_stores.utils import build_metadata_filter_fn

from rag.errors import NoMatchingDocumentError, RagError

# The keys users filter on, as the loaders set them (rag.loaders).
DOCUMENT_KEYS = ("file_name", "file_path", "title", "date")
_OPERATORS = {
    FilterOperator.EQ: "=",
    FilterOperator.NE: "!=",
    FilterOperator.IN: "in",
    FilterOperator.NIN: "not in",
}
_CONDITIONS = (FilterCondition.AND, FilterCondition.OR)


def parse_filters(specs: Sequence[str], *, resolve_paths: bool = False) -> MetadataFilters | None:
    """`key=value` / `key!=value` specs as filters: all of them must hold, and a key given
    twice matches any of its values (`in`; `not in` for `!=`). Values are compared as text.

    `resolve_paths` (the CLI only) makes an existing `file_path` absolute, as the index
    stores it. A server never resolves: its callers' paths are not its files, and whether a
    path exists there is not theirs to probe."""
    wanted: dict[tuple[str, bool], list[str]] = {}
    for spec in specs:
        key, sep, value = spec.partition("=")
        negated = key.endswith("!")
        key = key.removesuffix("!").strip()
        if not sep or not key:
            keys = ", ".join(DOCUMENT_KEYS)
            raise RagError(f"Filter {spec!r} is not KEY=VALUE (or KEY!=VALUE); keys: {keys}.")
        if resolve_paths and key == "file_path" and Path(value).exists():
            value = str(Path(value).resolve())
        wanted.setdefault((key, negated), []).append(value)
    if not wanted:
        return None
    filters: list[MetadataFilter | MetadataFilters] = []
    for (key, negated), values in wanted.items():
        if len(values) == 1:
            operator = FilterOperator.NE if negated else FilterOperator.EQ
            filters.append(MetadataFilter(key=key, value=values[0], operator=operator))
        else:
            operator = FilterOperator.NIN if negated else FilterOperator.IN
            filters.append(MetadataFilter(key=key, value=values, operator=operator))
    return MetadataFilters(filters=filters, condition=FilterCondition.AND)


def check_supported(filters: MetadataFilters) -> list[MetadataFilter]:
    """The filters' flat list; a RagError for what only some stores could evaluate."""
    flat: list[MetadataFilter] = []
    condition = filters.condition or FilterCondition.AND
    if condition not in _CONDITIONS:
        raise RagError(f"Filter condition {condition.value} is not supported: use and, or.")
    for item in filters.filters:
        if isinstance(item, MetadataFilters):
            raise RagError("Nested metadata filters are not supported: use one level.")
        if item.operator not in _OPERATORS:
            supported = ", ".join(_OPERATORS.values())
            raise RagError(
                f"Filter operator {item.operator.value} is not supported: use {supported}."
            )
        if item.operator in (FilterOperator.IN, FilterOperator.NIN) and not isinstance(
            item.value, list
        ):
            raise RagError(f"Filter {item.key} {item.operator.value}: the value must be a list.")
        flat.append(item)
    return flat


def describe(filters: MetadataFilters) -> str:
    """A filter as users read it: `file_name = 'a.txt' and title in ('X', 'Y')`."""
    parts = []
    for item in check_supported(filters):
        value = item.value
        shown = f"({', '.join(repr(v) for v in value)})" if isinstance(value, list) else repr(value)
        parts.append(f"{item.key} {_OPERATORS[item.operator]} {shown}")
    return f" {(filters.condition or FilterCondition.AND).value} ".join(parts)


@dataclass(frozen=True)
class ChunkFilter:
    """A filter evaluated over one corpus version: which chunks it admits."""

    filters: MetadataFilters
    mask: np.ndarray  # bool, one per chunk in the retriever's order
    chunk_ids: frozenset[str]
    cache: dict[str, Any] = field(default_factory=dict, compare=False)  # a store's own form

    def admits(self, positions: set[int]) -> set[int]:
        return {p for p in positions if self.mask[p]}


def select_chunks(
    filters: MetadataFilters, chunk_ids: Sequence[str], metadata: Sequence[Mapping[str, Any]]
) -> ChunkFilter:
    """The chunks (`chunk_ids[i]` has `metadata[i]`) the filter admits.

    Raises NoMatchingDocumentError, naming the filter (and the keys there are, when it names
    a key no chunk has), when it admits none: an answer then says so instead of searching.
    """
    flat = check_supported(filters)
    matches = build_metadata_filter_fn(lambda i: metadata[int(i)], filters)
    mask = np.fromiter((matches(str(i)) for i in range(len(metadata))), bool, len(metadata))
    if not mask.any():
        known = sorted({key for meta in metadata for key in meta})
        unknown = sorted({f.key for f in flat} - set(known))
        hint = ""
        if unknown:
            hint = f" No document has {', '.join(unknown)}; the keys: {', '.join(known)}."
        raise NoMatchingDocumentError(
            f"No indexed document matches the filter {describe(filters)}.{hint}"
        )
    ids = frozenset(c for c, admitted in zip(chunk_ids, mask.tolist(), strict=True) if admitted)
    return ChunkFilter(filters, mask, ids)
