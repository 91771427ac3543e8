"""The same eval on both stores: a FAISS index, then its copy migrated into PostgreSQL.

    python -m bench.pg_parity SET.jsonl --corpus DIR [--pg-url URL] [--k 10]

The corpus is indexed once (cached under the data dir like `rag eval --corpus`), copied into
PostgreSQL without re-embedding, and every question is asked of both; prints the retrieval
metrics of each and their largest difference. Without --pg-url a throw-away server is started.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from evals.corpus import engine_for_corpus
from evals.runner import RETRIEVAL_KEYS, load_cases, run_eval, summarize
from rag.config import Settings
from rag.engine import RagEngine


def compare_stores(
    question_set: Path, faiss_engine: RagEngine, pg_url: str, k: int = 10
) -> dict[str, dict]:
    """Retrieval metrics of the FAISS engine and of its pgvector copy, over the same cases."""
    pg_settings = faiss_engine.settings.model_copy(update={"store": "pgvector", "pg_url": pg_url})
    pg_engine = RagEngine(pg_settings)
    copied = pg_engine.migrate_to_pgvector()  # reads the FAISS index of the same data dir
    cases = load_cases(question_set)
    result: dict[str, dict] = {}
    for name, engine in (("faiss", faiss_engine), ("pgvector", pg_engine)):
        summary = summarize(list(run_eval(engine, cases, k=k)))
        result[name] = {key: summary[key] for key in RETRIEVAL_KEYS}
        result[name]["search_ms"] = summary["latency_ms"].get("search")
    result["max_abs_difference"] = {
        "retrieval": max(
            abs((result["faiss"][key] or 0) - (result["pgvector"][key] or 0))
            for key in RETRIEVAL_KEYS
        )
    }
    result["chunks"] = {"copied": copied}
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("question_set", type=Path)
    parser.add_argument("--corpus", type=Path, required=True)
    parser.add_argument("--pg-url")
    parser.add_argument("--k", type=int, default=10)
    args = parser.parse_args()
    engine, _ = engine_for_corpus(args.corpus, Settings(), show_progress=True)
    from bench.pg_server import database

    with database("parity", args.pg_url) as url:
        print(json.dumps(compare_stores(args.question_set, engine, url, args.k), indent=2))


if __name__ == "__main__":
    main()
