"""Warm query latency by stage, memory, disk and persist/load time, at one index size.

    python -m bench.latency --pool DATA_DIR --size 10000 [--questions 200]

Run once per size in its own process (bench.run does), so peak RSS is this size's alone;
the index is built and persisted in that process, then loaded and asked in a fresh one
(`--serve DATA_DIR`), whose peak RSS is what a serving process holds.
After the build, one small file is ingested into the persisted index as `rag ingest`
does (`add_one_file`: what a watched folder or an upload costs at this size).
Up to the pool's size the chunks are real (the ingest bench's index, real embeddings);
above it they are synthetic: copies of the pool's chunks under new ids and titles, with
their chunk and sentence vectors perturbed by Gaussian noise and renormalised. The FAISS
index kind follows the settings (`RAG_INDEX_KIND`, default: IVF from 100k chunks); its
recall@10 against exact search is measured on the questions' own embeddings.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from unittest import mock

import numpy as np
from llama_index.core.schema import NodeRelationship, RelatedNodeInfo, TextNode
from llama_index.core.storage.docstore import SimpleDocumentStore

from bench.common import (
    dir_mib,
    peak_rss_gib,
    percentiles,
    questions,
    rss_gib,
    write_json,
)
from rag import RagEngine, Settings
from rag.store.faiss.corpus import FaissCorpus
from rag.store.faiss.docstore import DOCSTORE_FILE, SqliteDocumentStore
from rag.store.faiss.vectors import VectorIndexPolicy
from rag.store.sentence_vectors import SentenceStore

STAGES = ("embed", "dense", "bm25", "fusion", "search", "synthesize", "total")
NOISE = 0.03  # per dimension: a copy's cosine to its source is ~0.85
_BATCH = 10_000  # synthetic chunks built and inserted at a time


def _noisy(vectors: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    moved = vectors.astype(np.float32) + rng.normal(0, NOISE, vectors.shape).astype(np.float32)
    return moved / np.linalg.norm(moved, axis=1, keepdims=True)


def build(pool: FaissCorpus, size: int, index_dir: Path, seed: int = 0) -> tuple[FaissCorpus, int]:
    """A FaissCorpus of `size` chunks from the pool, to persist in `index_dir`, and how many
    of them are real."""
    rng = np.random.default_rng(seed)
    real = sorted(pool.index.docstore.docs.values(), key=lambda n: n.node_id)
    vectors = pool.chunk_vectors([n.node_id for n in real])
    policy = VectorIndexPolicy.from_settings(Settings())
    corpus = FaissCorpus.create(index_dir, pool.embed_model, "all-MiniLM-L6-v2", policy)
    spans, sentence_vectors = {}, {}
    # The pool's sentences read once: its store reads them from disk on each lookup.
    pool_spans = {n.node_id: pool.sentences.spans[n.node_id] for n in real}
    pool_vectors = {n.node_id: pool.sentences.vectors[n.node_id] for n in real}

    def copy_of(i: int) -> TextNode:
        src, copy = real[i % len(real)], i // len(real)
        doc = src.ref_doc_id or src.node_id
        node_id = src.node_id if copy == 0 else f"{src.node_id}-copy{copy}"
        title = src.metadata.get("title", "")
        sentences = pool_vectors[src.node_id]
        spans[node_id] = pool_spans[src.node_id]
        sentence_vectors[node_id] = (
            sentences
            if copy == 0 or not len(sentences)
            else _noisy(sentences, rng).astype(np.float16)
        )
        return TextNode(
            id_=node_id,
            text=src.get_content(),
            metadata=dict(src.metadata, title=f"{title} {copy}" if copy else title),
            relationships={
                NodeRelationship.SOURCE: RelatedNodeInfo(
                    node_id=doc if copy == 0 else f"{doc}-copy{copy}"
                )
            },
            embedding=(
                vectors[i % len(real)] if copy == 0 else _noisy(vectors[[i % len(real)]], rng)[0]
            ).tolist(),
        )

    # In batches: a million nodes with their embeddings as Python floats would take ~9 GiB.
    for start in range(0, size, _BATCH):
        corpus.index.insert_nodes([copy_of(i) for i in range(start, min(size, start + _BATCH))])
    corpus.sentences = SentenceStore(spans, sentence_vectors)
    corpus.fit_vectors()  # as an ingest would: IVF past the threshold
    return corpus, min(size, len(real))


def recall_at_10(corpus: FaissCorpus, vectors: np.ndarray) -> float:
    """Share of the exact top 10 (a full scan of the stored vectors) that the index returns."""
    ids = sorted(corpus.index.docstore.node_ids())  # the keys only: no node is built
    best = np.full((len(vectors), 10), -np.inf, np.float32)
    best_ids = np.zeros((len(vectors), 10), np.int64)
    for start in range(0, len(ids), 20_000):  # in slices: a full copy would raise peak RSS
        scores = vectors @ corpus.chunk_vectors(ids[start : start + 20_000]).T
        merged = np.concatenate([best, scores], axis=1)
        merged_ids = np.concatenate(
            [best_ids, np.broadcast_to(np.arange(start, start + scores.shape[1]), scores.shape)],
            axis=1,
        )
        top = np.argsort(-merged, axis=1)[:, :10]
        best, best_ids = np.take_along_axis(merged, top, 1), np.take_along_axis(merged_ids, top, 1)
    hits = [
        len({c for c, _ in corpus.nearest(v, 10)} & {ids[i] for i in exact}) / 10
        for v, exact in zip(vectors, best_ids, strict=True)
    ]
    return round(float(np.mean(hits)), 3)


def _docstore_load_s(index_dir: Path) -> dict[str, float]:
    """The docstore alone: opening (JSON: parsing) its file, then building every node from it."""
    started = time.perf_counter()
    docstore = (
        SqliteDocumentStore.open(index_dir)
        if (index_dir / DOCSTORE_FILE).exists()
        else SimpleDocumentStore.from_persist_dir(str(index_dir))  # before format 3
    )
    parsed = time.perf_counter()
    nodes = docstore.docs
    built = time.perf_counter()
    del nodes, docstore
    return {"parse": round(parsed - started, 2), "nodes": round(built - parsed, 2)}


def serve(data_dir: Path, count: int) -> dict:
    """Load the index in `data_dir` and ask `count` questions warm: what a serving process
    holds and spends. Run in a fresh process (`--serve`), so the build's freed but not
    returned heap does not count in its RSS."""
    settings = Settings(data_dir=data_dir)
    engine = RagEngine(settings)
    engine.embed_model  # noqa: B018 - the model is not part of the index load
    started = time.perf_counter()
    loaded = engine.load_index()
    load_s = time.perf_counter() - started
    started = time.perf_counter()
    engine.ask("warm up")  # builds the retriever (BM25 and title links: read, not rebuilt)
    retriever_s = time.perf_counter() - started
    asked = questions(count)
    timings: dict[str, list[float]] = {s: [] for s in STAGES}
    for question in asked:
        for stage, ms in engine.ask(question).timings_ms.items():
            timings.setdefault(stage, []).append(ms)
    serve_peak_gib, serve_gib = peak_rss_gib(), rss_gib()
    unique = sorted(set(asked))
    vectors = np.asarray([engine.embed_model.get_query_embedding(q) for q in unique], np.float32)
    return {
        "questions": len(asked),
        "load_s": round(load_s, 2),
        "retriever_build_s": round(retriever_s, 2),
        "vector_index": loaded.vector_index_kind,
        "recall_at_10": recall_at_10(loaded, vectors),
        "peak_rss_gib": round(serve_peak_gib, 3),
        "rss_after_asks_gib": round(serve_gib, 3),
        "stages_ms": {s: percentiles(v) for s, v in timings.items() if v},
        "docstore_load_s": _docstore_load_s(settings.index_dir),
    }


ADDED_FILE = "The Lindqvist ferry to Tromsø leaves at 07:40 daily.\n\nTickets cost 40 crowns.\n"


def add_one_file(data_dir: Path, count: int) -> dict:
    """Ingest one new file into the persisted index, as `rag ingest FILE` does: its seconds
    in all, in `FaissCorpus.persist` (the write, no embedding in it), and the total p50 of
    `count` questions asked right after, in the same process."""
    spent: list[float] = []
    persist = FaissCorpus.persist

    def timed(corpus: FaissCorpus) -> None:
        started = time.perf_counter()
        persist(corpus)
        spent.append(time.perf_counter() - started)

    engine = RagEngine(Settings(data_dir=data_dir))
    engine.load_index()
    with tempfile.TemporaryDirectory() as folder, mock.patch.object(FaissCorpus, "persist", timed):
        (Path(folder) / "ferry.txt").write_text(ADDED_FILE)
        started = time.perf_counter()
        report = engine.ingest([folder])
        ingest_s = time.perf_counter() - started
    if report.count("added") != 1:
        raise RuntimeError(f"the added file was not indexed: {report.summary()}")
    totals = [engine.ask(q).timings_ms["total"] for q in questions(count)]
    return {
        "ingest_s": round(ingest_s, 2),
        "persist_s": round(sum(spent), 2),
        "ask_total_ms_after": percentiles(totals),
    }


def measure(pool_dir: Path, size: int, count: int, keep: Path | None = None) -> dict:
    """Build and persist in this process, then load and ask in a fresh one (`serve`).

    `keep`: persist into this data dir and leave it there (to `--serve` it again later),
    instead of a temporary one.
    """
    pool_engine = RagEngine(Settings(data_dir=pool_dir))
    pool = pool_engine.load_index()
    with _data_dir(keep) as data_dir:
        index_dir = Settings(data_dir=Path(data_dir)).index_dir
        started = time.perf_counter()
        corpus, real = build(pool, size, index_dir)
        build_s = time.perf_counter() - started
        del pool, pool_engine
        started = time.perf_counter()
        corpus.persist()
        persist_s = time.perf_counter() - started
        del corpus
        added = add_one_file(Path(data_dir), min(count, 50))
        disk = {
            f.name: round(dir_mib(f) if f.is_dir() else f.stat().st_size / 2**20, 2)
            for f in index_dir.iterdir()
        }
        serving = subprocess.run(
            [sys.executable, "-m", "bench.latency", "--serve", data_dir, "--questions", str(count)],
            check=True,
            capture_output=True,
            text=True,
        )
        index_mib = dir_mib(index_dir)
    return {
        "chunks": size,
        "real_chunks": real,
        "build_s": round(build_s, 2),
        "persist_s": round(persist_s, 2),
        "index_mib": round(index_mib, 1),
        "files_mib": disk,
        "build_peak_rss_gib": round(peak_rss_gib(), 3),
        "add_one_file": added,
    } | json.loads(serving.stdout.strip().splitlines()[-1])


@contextmanager
def _data_dir(keep: Path | None) -> Iterator[str]:
    """A temporary data dir, or `keep` (created, and left in place)."""
    if keep is None:
        with tempfile.TemporaryDirectory() as data_dir:
            yield data_dir
        return
    if keep.exists() and any(keep.iterdir()):
        raise SystemExit(f"--keep {keep}: not empty; remove it or name another folder")
    keep.mkdir(parents=True, exist_ok=True)
    yield str(keep)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--pool", type=Path, help="A data dir with a real index.")
    parser.add_argument("--size", type=int)
    parser.add_argument("--questions", type=int, default=200)
    parser.add_argument("--serve", type=Path, help="Only load this data dir's index and ask.")
    parser.add_argument("--keep", type=Path, help="Persist into this data dir and keep it.")
    args = parser.parse_args()
    if args.serve:
        print(json.dumps(serve(args.serve, args.questions)))
        return
    if args.pool is None or args.size is None:
        parser.error("--pool and --size are required (unless --serve)")
    result = measure(args.pool, args.size, args.questions, args.keep)
    print(write_json(f"latency_{args.size}", result))


if __name__ == "__main__":
    main()
