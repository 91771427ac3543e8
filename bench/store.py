"""The vector store alone, up to 1M chunks: exact flat search vs IVF, p50 and recall@10.

    python -m bench.store --pool DATA_DIR [--sizes 1000,10000,100000,1000000]

Vectors: the pool's real chunk and sentence vectors, perturbed with Gaussian noise and
renormalised (so they cluster like real text); queries: other perturbed pool vectors.
One search thread, as the retriever sets. IVF is the engine's own (store.faiss.vectors.build_ivf:
lists, training sample and nprobe as an ingest past RAG_INDEX_THRESHOLD builds them).
HNSW is measured only up to 100k: its 1M build takes ~8.5 min on these cores (DESIGN.md),
past this benchmark's time box.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import faiss
import numpy as np

from bench.common import percentiles, write_json
from rag import RagEngine, Settings
from rag.store.faiss.vectors import VectorIndexPolicy, build_ivf, flat_index, list_count

QUERIES = 200
K = 10


def _pool_vectors(pool_dir: Path) -> np.ndarray:
    corpus = RagEngine(Settings(data_dir=pool_dir)).load_index()
    chunks = corpus.chunk_vectors(sorted(corpus.sentences.spans))
    sentences = [v for v in corpus.sentences.vectors.values() if len(v)]
    return np.concatenate([chunks, np.concatenate(sentences).astype(np.float32)])


def _perturbed(base: np.ndarray, count: int, rng: np.random.Generator) -> np.ndarray:
    out = np.empty((count, base.shape[1]), np.float32)
    for start in range(0, count, 100_000):  # in slices: 1M x 384 noise at once doubles peak RAM
        n = min(100_000, count - start)
        v = base[rng.integers(0, len(base), n)] + rng.normal(0, 0.03, (n, base.shape[1]))
        out[start : start + n] = v / np.linalg.norm(v, axis=1, keepdims=True)
    return out


def _timed_search(index: faiss.Index, queries: np.ndarray) -> tuple[np.ndarray, list[float]]:
    found, ms = [], []
    for q in queries:
        started = time.perf_counter()
        _, ids = index.search(q[None, :], K)
        ms.append((time.perf_counter() - started) * 1000)
        found.append(ids[0])
    return np.array(found), ms


def _recall(found: np.ndarray, exact: np.ndarray) -> float:
    return float(np.mean([len(set(f) & set(e)) / K for f, e in zip(found, exact, strict=True)]))


def measure_size(base: np.ndarray, size: int, rng: np.random.Generator) -> dict:
    """Flat, IVF (and HNSW up to 100k) over `size` vectors."""
    vectors = _perturbed(base, size, rng)
    queries = _perturbed(base, QUERIES, rng)
    dim = vectors.shape[1]
    flat = faiss.IndexFlatIP(dim)
    flat.add(vectors)
    exact, flat_ms = _timed_search(flat, queries)
    row: dict = {"chunks": size, "flat": percentiles(flat_ms)}
    del flat
    # The engine's own IVF (rag.store.faiss.vectors): built from a flat store, as an ingest does.
    policy = VectorIndexPolicy()
    ids = np.arange(size, dtype=np.int64)
    stored = flat_index(dim)
    stored.add_with_ids(vectors, ids)
    faiss.omp_set_num_threads(2)  # build with both cores, search with one
    started = time.perf_counter()
    ivf = build_ivf(stored, ids, policy)
    build_s = time.perf_counter() - started
    del stored
    faiss.omp_set_num_threads(1)
    found, ivf_ms = _timed_search(ivf, queries)
    row[f"ivf{list_count(size)}_nprobe{policy.nprobe}"] = percentiles(ivf_ms) | {
        "recall_at_10": round(_recall(found, exact), 3),
        "build_s": round(build_s, 1),
    }
    if size <= 100_000:
        hnsw = faiss.IndexHNSWFlat(dim, 32, faiss.METRIC_INNER_PRODUCT)
        faiss.omp_set_num_threads(2)
        started = time.perf_counter()
        hnsw.add(vectors)
        build_s = time.perf_counter() - started
        faiss.omp_set_num_threads(1)
        hnsw.hnsw.efSearch = 64
        found, hnsw_ms = _timed_search(hnsw, queries)
        row["hnsw32_ef64"] = percentiles(hnsw_ms) | {
            "recall_at_10": round(_recall(found, exact), 3),
            "build_s": round(build_s, 1),
        }
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--pool", type=Path, required=True)
    parser.add_argument("--sizes", default="1000,10000,100000,1000000")
    args = parser.parse_args()
    base = _pool_vectors(args.pool)
    rng = np.random.default_rng(0)
    rows = []
    for size in (int(s) for s in args.sizes.split(",")):
        rows.append(measure_size(base, size, rng))
        write_json("store", {"vectors": "perturbed real pool vectors", "sizes": rows})
        print(rows[-1], flush=True)


if __name__ == "__main__":
    main()
