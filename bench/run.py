"""`make bench`: every benchmark, each in its own bounded process, then the report.

    python -m bench.run [--files 1000] [--sizes 1000,10000,100000] [--pg 10000,100000] [--toy]

A step that fails or runs out of time is recorded in results/failures.json and the rest
still run: the report shows what was reached (a missing size reads as null).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

from bench import report
from bench.common import ROOT, results_dir

# The toy index crosses a tiny IVF threshold, so the smoke test runs the approximate path too;
# it leaves pgvector out (its own test, tests/test_pgstore.py, runs it small).
TOY = {
    "files": 10,
    "sizes": "100",
    "questions": 5,
    "store": "2000",
    "runs": 0,
    "index_threshold": 50,
    "pg": "",
    "watch_rounds": 1,
}


def _step(
    args: list[str], timeout: float, failures: list[dict], env: dict[str, str] | None = None
) -> None:
    """One benchmark in a fresh process (its own peak RSS, a hard time limit)."""
    started = time.perf_counter()
    env = os.environ | {"PYTHONPATH": str(ROOT)} | (env or {})
    print("bench:", " ".join(args), flush=True)
    try:
        done = subprocess.run([sys.executable, "-m", *args], env=env, timeout=timeout, cwd=ROOT)
        if done.returncode:
            failures.append({"step": args, "error": f"exit {done.returncode}"})
    except subprocess.TimeoutExpired:
        failures.append({"step": args, "error": f"over {timeout:.0f} s"})
    print(f"bench: {args[0]} took {time.perf_counter() - started:.0f} s", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--files", type=int, default=1000)
    parser.add_argument("--sizes", default="1000,10000,100000")
    parser.add_argument("--questions", type=int, default=200)
    parser.add_argument("--store", default="1000,10000,100000,1000000")
    parser.add_argument("--pg", default="10000,100000", help="pgvector vs FAISS sizes.")
    parser.add_argument("--runs", type=int, default=5, help="Cold asks (0: skip).")
    parser.add_argument("--watch-rounds", type=int, default=5, help="Watched-folder rounds.")
    parser.add_argument("--timeout", type=float, default=600, help="Seconds per step.")
    parser.add_argument(
        "--index-threshold", type=int, help="RAG_INDEX_THRESHOLD for the latency runs."
    )
    parser.add_argument("--toy", action="store_true", help="Tiny sizes: the smoke test.")
    args = parser.parse_args()
    if args.toy:
        vars(args).update(TOY)
    failures: list[dict] = []
    with tempfile.TemporaryDirectory() as pool:
        _step(["bench.ingest", "--files", str(args.files), "--keep", pool], args.timeout, failures)
        int8_files = str(min(args.files, 400))  # ~3 min on 2 cores: enough for the ratio
        _step(["bench.int8_speed", "--files", int8_files], args.timeout, failures)
        for size in args.sizes.split(","):
            latency = ["--pool", pool, "--size", size, "--questions", str(args.questions)]
            threshold = {"RAG_INDEX_THRESHOLD": str(args.index_threshold)}
            _step(
                ["bench.latency", *latency],
                args.timeout,
                failures,
                threshold if args.index_threshold else None,
            )
        _step(["bench.store", "--pool", pool, "--sizes", args.store], args.timeout, failures)
    if args.pg:
        _step(["bench.pg", "--sizes", args.pg], 2 * args.timeout, failures)
        _step(["bench.pg_workers"], args.timeout, failures)
    if args.runs:
        _step(["bench.cold", "--runs", str(args.runs)], args.timeout, failures)
    _step(["bench.watch", "--rounds", str(args.watch_rounds)], args.timeout, failures)
    (results_dir() / "failures.json").write_text(json.dumps(failures, indent=2) + "\n")
    print(json.dumps(report.write(), indent=2))


if __name__ == "__main__":
    main()
