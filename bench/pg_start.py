"""One pgvector instance's start, in this process: snapshot, first search, peak RSS.

    python bench/pg_start.py --pg-url URL --migrate 10000   # once: bench.pg's synthetic corpus
    python bench/pg_start.py --pg-url URL --table migrated10000

Prints one JSON line. Run it in a fresh process and a fresh working directory each time (the
instance caches the stored BM25 under ./data), with PYTHONPATH pointing at the checkout to
measure: run as a file, it imports `rag` and `bench` from there, so two checkouts can be
compared on one database by alternating them (bench/results/NOTES.md).
"""

from __future__ import annotations

import argparse
import json
import resource
import tempfile
import time
from pathlib import Path

import numpy as np

from bench.pg import DIM, _faiss, _pg, migrate, synthetic_writes
from rag.config import Settings
from rag.retrieve import Retriever


def start(pg_url: str, table: str) -> dict:
    """Open the store, load the snapshot, search once: seconds, top passages, peak RSS."""
    vector = np.random.default_rng(1).standard_normal(DIM).astype(np.float32)
    vector /= np.linalg.norm(vector)
    settings = Settings()
    started = time.perf_counter()
    corpus = _pg(pg_url, table)
    corpus.lexical_index()  # the snapshot an instance loads at start: the stored BM25, ids
    snapshot_s = time.perf_counter() - started
    passages, _ = Retriever(corpus, settings).search("w10 w20 w30 w40", vector, settings.top_k)
    return {
        "table": table,
        "snapshot_s": round(snapshot_s, 2),
        "start_s": round(time.perf_counter() - started, 2),
        "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
        "top": [p.chunk_id for p in passages],
    }


def populate(pg_url: str, size: int) -> str:
    """bench.pg's synthetic corpus of `size` chunks, migrated (BM25 stored); its table."""
    with tempfile.TemporaryDirectory() as folder:
        corpus, _ = _faiss(synthetic_writes(size), Path(folder))
        migrate(corpus, _pg(pg_url, f"migrated{size}"))
    return f"migrated{size}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--pg-url", required=True)
    parser.add_argument("--table", default="migrated10000")
    parser.add_argument("--migrate", type=int, help="populate a table of this many chunks")
    args = parser.parse_args()
    if args.migrate:
        print(populate(args.pg_url, args.migrate))
    else:
        print(json.dumps(start(args.pg_url, args.table)))


if __name__ == "__main__":
    main()
