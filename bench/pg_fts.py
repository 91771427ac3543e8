"""The sparse side on pgvector: in-process BM25 vs PostgreSQL full-text search, same fusion.

    python -m bench.pg_fts [--sets squad-v2,hotpotqa] [--pg-url URL] [--limit N]

Each dev set's corpus index (cached like `rag eval --corpus`; run with RAG_DATA_DIR pointing
at the data dir that holds `eval-corpora/`) is copied into PostgreSQL, and its questions are
asked of the pgvector store three times, the dense side and the fusion unchanged:
- `bm25`: the product's sparse side, bm25s over the chunk texts and their sentences
  (rag.store.bm25, built by the writer and stored);
- `fts_websearch`: `ts_rank` over a `tsvector` column with a GIN index, for the chunk and
  (in a second table) for each sentence, queried with `websearch_to_tsquery` (every word
  must occur);
- `fts_or`: the same, any word may occur (the lexemes of `plainto_tsquery` joined by `|`,
  as llama-index's PGVectorStore text search does).
Both sides index the same text (the title, then the chunk or sentence). Reported: hit@1,
hit@10 (answerable questions), and the sparse stage's latency per query (`bm25` in
`timings_ms`: scoring, plus for FTS the round trip). Writes bench/results/pg_fts.json.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import sqlalchemy as sa

from bench.common import write_json
from evals.corpus import engine_for_corpus
from evals.runner import load_cases, run_eval, summarize
from rag.config import Settings
from rag.engine import RagEngine
from rag.reading.chunks import sentence_texts
from rag.retrieve import Retriever
from rag.store.pg.corpus import PgCorpus

DATASETS = Path(__file__).resolve().parents[2] / "shared" / "datasets"
_QUERIES = {
    "fts_websearch": "websearch_to_tsquery('english', :query)",
    "fts_or": "NULLIF(replace(plainto_tsquery('english', :query)::text, '&', '|'), '')::tsquery",
}


def add_fts(corpus: PgCorpus) -> None:
    """A generated tsvector column + GIN index on the chunks, and a table of sentences."""
    chunks = corpus._chunks.name
    sentences = f"{chunks}_fts_sentences"
    every = corpus._full_snapshot()  # a serving instance's snapshot holds no texts or spans
    nodes = list(every.docstore.docs.values())
    rows = [
        {"chunk_id": node.node_id, "text": text}
        for node in nodes
        for text in sentence_texts(
            node.metadata.get("title", ""),
            node.get_content(),
            node.metadata,
            every.sentences.spans.get(node.node_id, []),
        )
    ]
    with corpus._engine.begin() as conn:
        conn.execute(
            sa.text(
                f"ALTER TABLE {chunks} ADD COLUMN IF NOT EXISTS fts tsvector GENERATED ALWAYS AS "
                f"(to_tsvector('english', coalesce(metadata_->>'title', '') || ' ' || text)) STORED"
            )
        )
        conn.execute(sa.text(f"CREATE INDEX IF NOT EXISTS {chunks}_fts ON {chunks} USING gin(fts)"))
        conn.execute(
            sa.text(
                f"CREATE TABLE IF NOT EXISTS {sentences} (chunk_id text NOT NULL, text text, "
                "fts tsvector GENERATED ALWAYS AS (to_tsvector('english', text)) STORED)"
            )
        )
        conn.execute(sa.text(f"TRUNCATE {sentences}"))
        conn.execute(
            sa.text(f"INSERT INTO {sentences} (chunk_id, text) VALUES (:chunk_id, :text)"), rows
        )
        conn.execute(
            sa.text(f"CREATE INDEX IF NOT EXISTS {sentences}_fts ON {sentences} USING gin(fts)")
        )
        conn.execute(sa.text(f"ANALYZE {chunks}; ANALYZE {sentences}"))


class FtsScorer:
    """`Bm25Scorer.scores` from PostgreSQL: ts_rank of every matching chunk and sentence."""

    def __init__(self, corpus: PgCorpus, chunk_ids: list[str], tsquery: str) -> None:
        self._engine = corpus._engine
        self.chunk_ids = chunk_ids
        self._position = {c: i for i, c in enumerate(chunk_ids)}
        chunks = corpus._chunks.name
        self._chunk_sql = sa.text(
            f"SELECT node_id, ts_rank(fts, q) FROM {chunks}, (SELECT {tsquery} AS q) AS t "
            "WHERE fts @@ q"
        )
        self._sentence_sql = sa.text(
            f"SELECT chunk_id, max(ts_rank(fts, q)) FROM {chunks}_fts_sentences, "
            f"(SELECT {tsquery} AS q) AS t "
            "WHERE fts @@ q GROUP BY chunk_id"
        )

    def _ranks(self, conn: sa.Connection, sql: sa.TextClause, query: str) -> np.ndarray:
        ranks = np.zeros(len(self.chunk_ids), np.float32)
        for chunk_id, rank in conn.execute(sql, {"query": query}):
            if chunk_id in self._position:
                ranks[self._position[chunk_id]] = rank
        return ranks

    def scores(self, query: str) -> tuple[np.ndarray, np.ndarray]:
        with self._engine.connect() as conn:
            return self._ranks(conn, self._chunk_sql, query), self._ranks(
                conn, self._sentence_sql, query
            )


def _percentiles(values: list[float]) -> dict[str, float]:
    p50, p95 = np.percentile(values, [50, 95])
    return {"p50": round(float(p50), 2), "p95": round(float(p95), 2)}


def _score(engine: RagEngine, cases: list[dict]) -> dict:
    records = list(run_eval(engine, cases, k=10))
    summary = summarize(records)
    sparse = [
        r["answer"]["timings_ms"]["bm25"] for r in records if "bm25" in r["answer"]["timings_ms"]
    ]
    search = [
        r["answer"]["timings_ms"]["search"]
        for r in records
        if "search" in r["answer"]["timings_ms"]
    ]
    return {
        "hit@1": summary["hit@1"],
        "hit@10": summary["hit@10"],
        "mrr@10": summary["mrr@10"],
        "sparse_ms": _percentiles(sparse),
        "search_ms": _percentiles(search),
    }


def compare(
    question_set: Path, corpus_dir: Path, pg_url: str, table: str, limit: int | None
) -> dict:
    """The three sparse sides over one dev set, on one pgvector copy of its index."""
    faiss_engine, _ = engine_for_corpus(corpus_dir, Settings(), show_progress=True)
    settings = faiss_engine.settings.model_copy(
        update={"store": "pgvector", "pg_url": pg_url, "pg_table": table}
    )
    engine = RagEngine(settings)
    started = time.perf_counter()
    copied = engine.migrate_to_pgvector()
    migrate_s = time.perf_counter() - started
    cases = load_cases(question_set)[:limit]
    corpus = engine.load_index()
    assert isinstance(corpus, PgCorpus)
    started = time.perf_counter()
    add_fts(corpus)
    fts_build_s = time.perf_counter() - started
    result: dict = {
        "chunks": copied,
        "cases": len(cases),
        "migrate_s": round(migrate_s, 1),
        "fts_index_build_s": round(fts_build_s, 1),
    }
    engine.ask("warm up")
    result["bm25"] = _score(engine, cases)
    retriever = engine.retriever()
    assert isinstance(retriever, Retriever)
    bm25 = retriever._bm25
    assert bm25 is not None
    for name, tsquery in _QUERIES.items():
        retriever._bm25 = FtsScorer(corpus, retriever._chunk_ids, tsquery)  # type: ignore[assignment]
        engine.ask("warm up")
        result[name] = _score(engine, cases)
    retriever._bm25 = bm25
    return result


def run(sets: list[str], pg_url: str, limit: int | None) -> dict:
    result = {}
    for name in sets:
        folder = DATASETS / name
        table = name.replace("-", "_")
        result[name] = compare(folder / "dev.jsonl", folder / "corpus", pg_url, table, limit)
        print(json.dumps({name: result[name]}), flush=True)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sets", default="squad-v2,hotpotqa")
    parser.add_argument("--pg-url")
    parser.add_argument("--limit", type=int)
    args = parser.parse_args()
    sets = args.sets.split(",")
    from bench.pg_server import database

    with database("fts", args.pg_url) as url:
        result = run(sets, url, args.limit)
    print(json.dumps(result, indent=2))
    print(write_json("pg_fts", result))


if __name__ == "__main__":
    main()
