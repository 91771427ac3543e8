"""Metadata filters (rag.filters) as SQL conditions on the chunks' JSONB metadata."""

from __future__ import annotations

import json
from typing import Any

import sqlalchemy as sa
from llama_index.core.vector_stores.types import FilterCondition, FilterOperator, MetadataFilters
from sqlalchemy.dialects.postgresql import ARRAY, JSONB

from rag.filters import check_supported


def sql_condition(filters: MetadataFilters, metadata: Any) -> sa.ColumnElement[bool]:
    """The filters (rag.filters' subset) as a condition on the JSONB metadata column.

    Not PGVectorStore's own translation: it pastes values into the SQL text (a quote in a
    file name breaks the query) and casts number-like values to float (which fails on every
    row whose value is text). Here values are bound and compared as JSON, with the semantics
    of the in-process filter (llama-index's `build_metadata_filter_fn`): a missing key
    matches `!=` and `not in` only.
    """
    parts = []
    for item in check_supported(filters):
        field = metadata[item.key]  # ->: JSONB, so "1" and 1 stay different, as in Python
        if item.operator == FilterOperator.EQ:
            parts.append(field == sa.type_coerce(item.value, JSONB))
        elif item.operator == FilterOperator.NE:
            parts.append(field.is_distinct_from(sa.type_coerce(item.value, JSONB)))
        else:  # = ANY(jsonb[]): one hashed lookup per row, however long the list
            assert isinstance(item.value, list)  # check_supported's rule for in / nin
            values = [json.dumps(v) for v in item.value]
            listed = sa.cast(sa.bindparam(None, values, type_=ARRAY(sa.Text)), ARRAY(JSONB))
            found = field == sa.any_(listed)
            parts.append(found if item.operator == FilterOperator.IN else ~found | field.is_(None))
    join = sa.or_ if filters.condition == FilterCondition.OR else sa.and_
    return join(*parts)
