"""Shared by the benchmarks: paths, a wall and CPU clock, the machine and commit, percentiles,
RSS, JSON output."""

from __future__ import annotations

import json
import os
import platform
import resource
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
DATASETS = ROOT.parent / "shared" / "datasets"
HOTPOT_CORPUS = DATASETS / "hotpotqa" / "corpus"
SEEDS = ROOT / "seeds"


class Clock:
    """Wall and CPU seconds (all of this process's threads) of a block.

    On a shared, busy machine the wall time of a step depends on what else ran meanwhile;
    its CPU time does not, so the report gives the ratios of both.
    """

    def __enter__(self) -> Clock:
        self._wall, self._cpu = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *exc: object) -> None:
        self.seconds = time.perf_counter() - self._wall
        self.cpu_seconds = time.process_time() - self._cpu


@contextmanager
def figure(path: Path, size: tuple[float, float] = (6, 3.5)) -> Iterator[Any]:
    """The axes of a new matplotlib figure (Agg: no display on a bench machine), laid out
    and saved to `path` (110 dpi) when the block ends."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=size)
    try:
        yield ax
        fig.tight_layout()
        fig.savefig(path, dpi=110)
    finally:
        plt.close(fig)


def results_dir() -> Path:
    """Where this run writes: BENCH_RESULTS (the smoke test's temp dir) or bench/results."""
    folder = Path(os.environ.get("BENCH_RESULTS", RESULTS))
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def machine() -> dict:
    """CPU model and core count, as the report prints them."""
    model = platform.processor() or "unknown"
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    return {"cpu": model, "cores": os.cpu_count(), "python": platform.python_version()}


def commit(tree: Path = ROOT) -> str:
    """The checked-out commit of `tree` (with -dirty when it has changes)."""
    out = subprocess.run(
        ["git", "describe", "--always", "--dirty", "--abbrev=12"],
        cwd=tree,
        capture_output=True,
        text=True,
    )
    return out.stdout.strip() or "unknown"


def _status_gib(field: str) -> float | None:
    status = Path("/proc/self/status")
    if not status.exists():
        return None
    for line in status.read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 2**20  # kB
    return None


def peak_rss_gib() -> float:
    """This process's peak resident set size since it started (Linux: KiB)."""
    peak = _status_gib("VmHWM")
    return peak if peak is not None else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20


def rss_gib() -> float:
    """This process's resident set size now (0 where /proc is missing)."""
    return _status_gib("VmRSS") or 0.0


def percentiles(values: list[float]) -> dict[str, float]:
    """p50/p95/p99 of a sample, rounded for the report."""
    if not values:
        return {"p50": float("nan"), "p95": float("nan"), "p99": float("nan")}
    p50, p95, p99 = np.percentile(values, [50, 95, 99])
    return {"p50": round(float(p50), 2), "p95": round(float(p95), 2), "p99": round(float(p99), 2)}


def dir_mib(folder: Path) -> float:
    """Total size of the files under a folder."""
    return sum(f.stat().st_size for f in folder.rglob("*") if f.is_file()) / 2**20


def questions(count: int) -> list[str]:
    """Dev-set questions (hotpotqa, then squad-v2), cycled up to `count`."""
    found: list[str] = []
    for name in ("hotpotqa", "squad-v2"):
        path = DATASETS / name / "dev.jsonl"
        if path.exists():
            found += [json.loads(line)["question"] for line in path.read_text().splitlines()]
    found = found or ["What did Peskov say?"]
    return [found[i % len(found)] for i in range(count)]


def write_json(name: str, result: dict) -> Path:
    """results/NAME.json."""
    path = results_dir() / f"{name}.json"
    path.write_text(json.dumps(result, indent=2) + "\n")
    return path
