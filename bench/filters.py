"""Warm query latency with and without a metadata filter, FAISS (and pgvector), in one run.

    python -m bench.filters --pool DATA_DIR [--size 10000] [--questions 200] [--pg]

The corpus is bench.latency's (the pool's real chunks, then perturbed copies that keep their
source's file path). Each question is asked unfiltered and under three filters, in turn, so
machine load hits every variant alike: one document (`file_path = X`), a tenth of the
documents (`file_path in [...]`), and all but one (`file_path != X`, the widest selector).
With --pg the same index is then migrated into a throw-away PostgreSQL and measured there.
Writes bench/results/filters.json.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np
from llama_index.core.vector_stores.types import FilterOperator, MetadataFilter, MetadataFilters

from bench.common import percentiles, questions, write_json
from bench.latency import build
from rag import RagEngine, Settings


def _filters(paths: list[str], rng: np.random.Generator) -> dict[str, MetadataFilters | None]:
    one = str(rng.choice(paths))
    tenth = sorted(rng.choice(paths, max(1, len(paths) // 10), replace=False).tolist())

    def only(operator: FilterOperator, value) -> MetadataFilters:
        return MetadataFilters(
            filters=[MetadataFilter(key="file_path", value=value, operator=operator)]
        )

    return {
        "none": None,
        "one_document": only(FilterOperator.EQ, one),
        "tenth_of_documents": only(FilterOperator.IN, tenth),
        "all_but_one": only(FilterOperator.NE, one),
    }


def _timings(engine: RagEngine, variants: dict, count: int) -> dict:
    """p50/p95/p99 of the total and the dense stage, per filter, the questions interleaved."""
    for filters in variants.values():  # warm up: BM25, title links, each filter's chunks
        engine.ask("warm up", filters=filters)
    totals: dict[str, list[float]] = {name: [] for name in variants}
    dense: dict[str, list[float]] = {name: [] for name in variants}
    for question in questions(count):
        for name, filters in variants.items():
            timings = engine.ask(question, filters=filters).timings_ms
            totals[name].append(timings["total"])
            dense[name].append(timings.get("dense", 0.0))
    return {
        "total_ms": {name: percentiles(v) for name, v in totals.items()},
        "dense_ms": {name: percentiles(v) for name, v in dense.items()},
    }


def measure(pool_dir: Path, size: int, count: int, pg_url: str | None = None) -> dict:
    """FAISS; with `pg_url`, then the same index migrated into PostgreSQL."""
    pool_engine = RagEngine(Settings(data_dir=pool_dir))
    with tempfile.TemporaryDirectory() as data_dir:
        settings = Settings(data_dir=Path(data_dir))
        corpus, real = build(pool_engine.load_index(), size, settings.index_dir)
        del pool_engine
        corpus.persist()
        del corpus
        engine = RagEngine(settings)
        paths = sorted({d.source for d in engine.documents()})
        variants = _filters(paths, np.random.default_rng(0))
        result = {
            "chunks": size,
            "real_chunks": real,
            "documents": len(paths),
            "questions": count,
            "faiss": _timings(engine, variants, count),
        }
        if pg_url:
            pg = RagEngine(settings.model_copy(update={"store": "pgvector", "pg_url": pg_url}))
            pg.migrate_to_pgvector()
            result["pgvector"] = _timings(pg, variants, count)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--pool", type=Path, required=True, help="A data dir with a real index.")
    parser.add_argument("--size", type=int, default=10_000)
    parser.add_argument("--questions", type=int, default=200)
    parser.add_argument("--pg", action="store_true", help="Also on pgvector (a local server).")
    args = parser.parse_args()
    if not args.pg:
        print(write_json("filters", measure(args.pool, args.size, args.questions)))
        return
    from bench.pg_server import database

    with database("filters") as url:
        print(write_json("filters", measure(args.pool, args.size, args.questions, url)))


if __name__ == "__main__":
    main()
