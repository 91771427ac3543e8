"""Two ingest workers against one, into one PostgreSQL store: throughput, and the result.

    python -m bench.pg_workers [--files 1000]

`--files` HotpotQA paragraphs are ingested by `rag ingest` processes into a local
PostgreSQL 18 + pgvector (bench.pg_server): once by one worker pinned to core 0, once by two
workers pinned to cores 0 and 1, each given half of the files, as two machines would be.
Each run starts from an empty database and includes the processes' start (model load).
Afterwards both stores must hold the same documents and chunks, and give every chunk the
same BM25 score for a set of questions (chunks matched by file and character offset).
Writes bench/results/pg_workers.{json,md,png}.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from bench.common import HOTPOT_CORPUS, ROOT, commit, figure, machine, results_dir, write_json
from bench.pg_server import remove, start_postgres
from rag import RagEngine, Settings
from rag.store.pg.corpus import PgCorpus

QUESTIONS = [
    "Who composed the piano concerto?",
    "When was the tugboat built?",
    "What is the population of the town?",
    "Which band did the singer found?",
    "Where was the novelist born?",
]


def _ingest(url: str, folders: list[Path], data: Path) -> float:
    """Seconds for one `rag ingest` process per folder, each pinned to its own core."""
    env = os.environ | {"RAG_STORE": "pgvector", "RAG_PG_URL": url, "PYTHONPATH": str(ROOT)}
    started = time.perf_counter()
    workers = [
        subprocess.Popen(
            ["taskset", "-c", str(core), sys.executable, "-m", "rag.cli", "ingest", str(folder)],
            env=env | {"RAG_DATA_DIR": str(data / f"worker{core}")},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        for core, folder in enumerate(folders)
    ]
    for worker in workers:
        _, stderr = worker.communicate()
        if worker.returncode:
            raise RuntimeError(stderr)
    return time.perf_counter() - started


def _bm25_by_place(url: str, data: Path) -> dict[tuple[str, int], list[float]]:
    """Each chunk's BM25 for the questions, keyed by its file name and start offset."""
    corpus = RagEngine(Settings(store="pgvector", pg_url=url, data_dir=data)).load_index()
    assert isinstance(corpus, PgCorpus)
    lexical = corpus.lexical_index()
    nodes = {n.node_id: n for n in corpus.nodes(list(lexical.chunk_ids))}
    scores = np.stack([lexical.bm25.scores(q)[0] for q in QUESTIONS], axis=1)
    return {
        (Path(nodes[c].metadata["file_path"]).name, nodes[c].start_char_idx or 0): row.tolist()
        for c, row in zip(lexical.chunk_ids, scores, strict=True)
    }


def run(files: int) -> dict:
    server = start_postgres()
    try:
        with tempfile.TemporaryDirectory() as temp:
            names = sorted(p.name for p in HOTPOT_CORPUS.iterdir())[:files]
            halves = [Path(temp) / "half0", Path(temp) / "half1"]
            whole = Path(temp) / "all"
            for folder in (*halves, whole):
                folder.mkdir()
            for i, name in enumerate(names):
                shutil.copy(HOTPOT_CORPUS / name, halves[i % 2] / name)
                shutil.copy(HOTPOT_CORPUS / name, whole / name)
            one_url, two_url = server.createdb("one_worker"), server.createdb("two_workers")
            one_s = _ingest(one_url, [whole], Path(temp) / "one")
            two_s = _ingest(two_url, halves, Path(temp) / "two")
            one, two = (_bm25_by_place(u, Path(temp) / "read") for u in (one_url, two_url))
    finally:
        remove(server)
    same_chunks = one.keys() == two.keys()
    max_diff = max(
        (abs(a - b) for k in one.keys() & two.keys() for a, b in zip(one[k], two[k], strict=True)),
        default=0.0,
    )
    return {
        "files": files,
        "one_worker_s": round(one_s, 1),
        "two_workers_s": round(two_s, 1),
        "throughput_ratio": round(one_s / two_s, 2),
        "chunks_one": len(one),
        "chunks_two": len(two),
        "same_chunks": same_chunks,
        "bm25_max_abs_difference": round(max_diff, 6),
    }


def _plot(result: dict, path: Path) -> None:
    with figure(path, (5, 3.2)) as ax:
        labels = ["1 worker (core 0)", "2 workers (cores 0, 1)"]
        seconds = [result["one_worker_s"], result["two_workers_s"]]
        ax.bar(labels, seconds, color=["#94a3b8", "#0ea5e9"])
        ax.set_ylabel(f"seconds to ingest {result['files']} files")
        ax.set_title(f"throughput ×{result['throughput_ratio']}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--files", type=int, default=1000)
    result = run(parser.parse_args().files) | {"commit": commit(), "machine": machine()}
    out = results_dir()
    write_json("pg_workers", result)
    _plot(result, out / "pg_workers.png")
    rows = "\n".join(f"| {k} | {v} |" for k, v in result.items() if k not in ("commit", "machine"))
    (out / "pg_workers.md").write_text(
        f"# Parallel ingest into PostgreSQL\n\n{__doc__.split(chr(10), 3)[3].strip()}\n\n"
        f"Commit {result['commit']}, {result['machine']['cpu']} "
        f"({result['machine']['cores']} cores).\n\n"
        f"| measure | value |\n|---|---|\n{rows}\n\n![workers](pg_workers.png)\n"
    )
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
