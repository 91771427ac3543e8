"""pgvector vs FAISS: write throughput, query latency, and the FAISS → pgvector migration.

    python -m bench.pg [--sizes 10000,100000] [--queries 200] [--pg-url URL]

Synthetic corpora (embedding 100k real chunks takes hours on 2 cores): chunks of 40 words drawn
from a 5,000-word vocabulary, 10 chunks per document, 2 sentences per chunk, random unit
vectors (384-d, like MiniLM). Embedding is left out of every number: "ingest" is the store's
own write rate (FAISS: insert + persist to disk; pgvector: one transaction per document, HNSW
maintained on insert, measured on the first 10k chunks). The migration copies into an empty
store and builds the HNSW index once at the end; then one more document (10 chunks) is
written and persisted into the migrated store, as `rag ingest FILE` does. A query is the
retriever's full search (dense + BM25 + fusion) with the vector given, plus, on pgvector, the
version check the engine makes before each question.
Writes bench/results/pg.json. Without --pg-url a throw-away server is started.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np
from llama_index.core import Document
from llama_index.core.embeddings import MockEmbedding
from llama_index.core.schema import NodeRelationship, RelatedNodeInfo, TextNode

from bench.common import write_json
from rag.config import Settings
from rag.retrieve import Retriever
from rag.store.corpus import Corpus
from rag.store.faiss.corpus import FaissCorpus
from rag.store.pg.corpus import DocumentWrite, PgCorpus
from rag.store.pg.migrate import migrate
from rag.store.sentence_vectors import SentenceStore

DIM = 384
CHUNKS_PER_DOC = 10
WORDS = 40


def _unit(rng: np.random.Generator, rows: int) -> np.ndarray:
    x = rng.standard_normal((rows, DIM)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def synthetic_writes(size: int, seed: int = 0) -> list[DocumentWrite]:
    """`size` chunks in documents of 10, with vectors and two sentences each."""
    rng = np.random.default_rng(seed)
    vocabulary = [f"w{i}" for i in range(5000)]
    vectors = _unit(rng, size)
    sentence_vectors = _unit(rng, 2 * size).astype(np.float16)
    writes = []
    for d in range(0, size, CHUNKS_PER_DOC):
        doc = Document(id_=f"doc{d}", text="", metadata={"file_path": f"doc{d}.txt"})
        nodes, spans, sv = [], {}, {}
        for c in range(d, min(d + CHUNKS_PER_DOC, size)):
            words = rng.choice(vocabulary, WORDS)
            text = " ".join(words[:20]) + ". " + " ".join(words[20:]) + "."
            node = TextNode(
                id_=f"c{c}",
                text=text,
                metadata={"title": f"Document {d}", "file_path": f"doc{d}.txt"},
                embedding=vectors[c].tolist(),
            )
            node.relationships[NodeRelationship.SOURCE] = RelatedNodeInfo(node_id=doc.doc_id)
            nodes.append(node)
            half = text.index(". ") + 1
            spans[node.node_id] = [(0, half), (half + 1, len(text))]
            sv[node.node_id] = sentence_vectors[2 * c : 2 * c + 2]
        writes.append(
            DocumentWrite(doc, nodes, SentenceStore(spans, sv), "2026-01-01T00:00:00+00:00")
        )
    return writes


def _queries(
    writes: list[DocumentWrite], count: int, seed: int = 1
) -> list[tuple[str, np.ndarray]]:
    """A chunk's words and its vector plus noise: a question that chunk answers."""
    rng = np.random.default_rng(seed)
    nodes = [n for w in writes for n in w.nodes]
    picked = rng.choice(len(nodes), count)
    out = []
    for i in picked:
        node = nodes[i]
        noisy = np.asarray(node.embedding, np.float32) + 0.05 * rng.standard_normal(DIM)
        words = node.get_content().split()[:6]
        out.append((" ".join(words), (noisy / np.linalg.norm(noisy)).astype(np.float32)))
    return out


def _ms(samples: list[float]) -> dict[str, float]:
    return {
        "p50": round(float(np.percentile(samples, 50)), 2),
        "p95": round(float(np.percentile(samples, 95)), 2),
    }


def _latency(corpus: Corpus, settings: Settings, queries: list) -> dict[str, float]:
    retriever = Retriever(corpus, settings)
    samples = []
    for text, vector in queries:
        started = time.perf_counter()
        corpus.stale()
        retriever.search(text, vector, settings.top_k)
        samples.append((time.perf_counter() - started) * 1000)
    return _ms(samples[5:])  # the first queries warm caches (PostgreSQL's buffers, numpy)


def _faiss(writes: list[DocumentWrite], folder: Path) -> tuple[FaissCorpus, float]:
    """A FaissCorpus of the writes, and the seconds its insert + persist took."""
    corpus = FaissCorpus.create(folder / "index", MockEmbedding(embed_dim=DIM), "synthetic")
    started = time.perf_counter()
    for w in writes:
        corpus.sentences.spans.update(w.sentences.spans)
        corpus.sentences.vectors.update(w.sentences.vectors)
    corpus.index.insert_nodes([n for w in writes for n in w.nodes])
    for w in writes:
        corpus.index.docstore.set_document_hash(w.doc.doc_id, w.doc.hash)
    corpus.persist()
    return corpus, time.perf_counter() - started


def _pg(url: str, table: str, data_dir: Path) -> PgCorpus:
    """The store in `table`; its instance caches BM25 under `data_dir`."""
    settings = Settings(store="pgvector", pg_url=url, pg_table=table, data_dir=data_dir)
    return PgCorpus.open(settings, MockEmbedding(embed_dim=DIM), "synthetic", False)


def _add_one(
    corpus: PgCorpus, added: DocumentWrite, settings: Settings, queries: list
) -> dict[str, object]:
    """One more document written and persisted, as `rag ingest FILE` does once it has
    embedded it: the write's seconds, the persist's (BM25 brought up to date and stored),
    and the query latency right after."""
    started = time.perf_counter()
    corpus.write([added])
    written = time.perf_counter()
    corpus.persist()
    persisted = time.perf_counter()
    return {
        "chunks": len(added.nodes),
        "write_s": round(written - started, 2),
        "persist_s": round(persisted - written, 2),
        "query_ms_after": _latency(corpus, settings, queries),
    }


def _start(
    url: str, table: str, settings: Settings, query: tuple, data_dir: Path
) -> tuple[float, float]:
    """A new instance's start: its snapshot load, and that plus a first search.

    The snapshot is the stored BM25 (the migration stored it) and the chunk ids: no chunk
    texts or spans, which the first search reads by id for its passages.
    """
    started = time.perf_counter()
    corpus = _pg(url, table, data_dir)
    corpus.lexical_index()  # the snapshot an instance loads at start: the stored BM25, ids
    snapshot_s = time.perf_counter() - started
    Retriever(corpus, settings).search(*query, settings.top_k)
    return snapshot_s, time.perf_counter() - started


def run(sizes: list[int], pg_url: str, queries: int = 200, ingest_sample: int = 10_000) -> dict:
    """Every measure at every size; table names carry the size, so one database serves all.

    pgvector's ingest rate is measured on the first `ingest_sample` chunks (row-by-row HNSW
    upkeep makes 100k chunks take ~25 min on 2 busy cores); the full corpus gets there by
    `migrate`, whose time is reported, and the queries run against that complete copy.
    """
    settings = Settings()
    result: dict = {"dimension": DIM, "synthetic": True, "sizes": {}}
    for size in sizes:
        writes = synthetic_writes(size + CHUNKS_PER_DOC)
        writes, added = writes[:-1], writes[-1]  # one more document, added at the end
        asked = _queries(writes, queries)
        sample = writes[: max(1, min(size, ingest_sample) // CHUNKS_PER_DOC)]
        with tempfile.TemporaryDirectory() as folder:
            faiss_corpus, faiss_s = _faiss(writes, Path(folder))
            data_dir = Path(folder) / "data"
            ingested = _pg(pg_url, f"ingest{size}", data_dir)
            started = time.perf_counter()
            for w in sample:  # one transaction per document, as `rag ingest` writes
                ingested.write([w])
            pg_rate = sum(len(w.nodes) for w in sample) / (time.perf_counter() - started)
            pg_corpus = _pg(pg_url, f"migrated{size}", data_dir)
            started = time.perf_counter()
            migrate(faiss_corpus, pg_corpus)
            migrate_s = time.perf_counter() - started
            snapshot_s, start_s = _start(
                pg_url, f"migrated{size}", settings, asked[0], Path(folder) / "another"
            )
            query_ms = {
                "faiss": _latency(faiss_corpus, settings, asked),
                "pgvector": _latency(pg_corpus, settings, asked),
            }
            result["sizes"][str(size)] = {
                "ingest_chunks_per_s": {"faiss": round(size / faiss_s), "pgvector": round(pg_rate)},
                "pgvector_ingest_measured_on_chunks": sum(len(w.nodes) for w in sample),
                "query_ms": query_ms,
                "pgvector_snapshot_load_s": round(snapshot_s, 2),
                "pgvector_start_s": round(start_s, 2),
                "migrate_s": round(migrate_s, 2),
                "pgvector_add_one_document": _add_one(pg_corpus, added, settings, asked),
            }
        print(json.dumps({size: result["sizes"][str(size)]}), flush=True)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="10000,100000")
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--pg-url")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    from bench.pg_server import database

    with database("bench", args.pg_url) as url:
        result = run(sizes, url, args.queries)
    print(json.dumps(result, indent=2))
    print(write_json("pg", result))


if __name__ == "__main__":
    main()
