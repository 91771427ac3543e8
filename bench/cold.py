"""Cold start: `rag ask` in a fresh process on the seed index, and what its time is spent on.

    python -m bench.cold [--runs 5]

The breakdown runs the same steps in one fresh process with a clock around each; the
import profile is `python -X importtime` of a `rag ask`. The embedding backend is the
default one (RAG_EMBED_BACKEND); the result records which.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from statistics import median

from bench.common import ROOT, SEEDS, write_json
from rag import Settings

QUESTION = "What did Peskov say?"
_STEPS = """
import json, time
t = [time.perf_counter()]
from rag import RagEngine, Settings
import rag.cli
t.append(time.perf_counter())
engine = RagEngine(Settings())
engine.embed_model.get_query_embedding("warm up")  # loads the model, whichever backend
t.append(time.perf_counter())
engine._load_index()
t.append(time.perf_counter())
engine.ask("What did Peskov say?")
t.append(time.perf_counter())
names = ("import_rag_cli", "load_model", "load_index", "first_ask")
print(json.dumps({n: round(b - a, 3) for n, a, b in zip(names, t, t[1:])}))
"""


def _children_cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _env(data_dir: Path) -> dict[str, str]:
    return os.environ | {"RAG_DATA_DIR": str(data_dir), "PYTHONPATH": str(ROOT)}


def _import_profile(env: dict[str, str], top: int = 10) -> list[dict]:
    """The packages slowest to import (cumulative, nested ones overlap), from -X importtime.

    Profiled on a real `rag ask`: it imports lazily, so only running it shows what it needs.
    """
    command = [sys.executable, "-X", "importtime", "-m", "rag.cli", "ask", QUESTION]
    out = subprocess.run(command, env=env, capture_output=True, text=True).stderr
    slowest: dict[str, float] = {}  # root package → its slowest import (cumulative)
    for line in out.splitlines():
        if not line.startswith("import time:") or "cumulative" in line:
            continue
        _, cumulative_us, name = line.removeprefix("import time:").split("|")
        root = name.strip().split(".")[0]
        slowest[root] = max(slowest.get(root, 0.0), int(cumulative_us) / 1e6)
    ranked = sorted(slowest.items(), key=lambda kv: -kv[1])[:top]
    return [{"package": root, "cumulative_s": round(s, 3)} for root, s in ranked]


def measure(runs: int) -> dict:
    """p50 of `runs` cold asks, one timed breakdown, and the import profile."""
    with tempfile.TemporaryDirectory() as tmp:
        env = _env(Path(tmp))
        cli = [sys.executable, "-m", "rag.cli"]
        subprocess.run([*cli, "ingest", str(SEEDS)], env=env, check=True, capture_output=True)
        walls, cpus = [], []
        for _ in range(runs):
            started, cpu_before = time.perf_counter(), _children_cpu_s()
            subprocess.run([*cli, "ask", QUESTION], env=env, check=True, capture_output=True)
            walls.append(time.perf_counter() - started)
            cpus.append(_children_cpu_s() - cpu_before)
        steps = subprocess.run(
            [sys.executable, "-c", _STEPS], env=env, check=True, capture_output=True, text=True
        )
        breakdown = json.loads(steps.stdout.strip().splitlines()[-1])
        started = time.perf_counter()
        subprocess.run([sys.executable, "-c", "pass"], env=env, check=True)
        interpreter_s = time.perf_counter() - started
        profile = _import_profile(env)
    return {
        "embed_backend": Settings().embed_backend,
        "runs": runs,
        "cold_ask_s": round(median(walls), 3),
        "cold_ask_runs_s": [round(w, 3) for w in walls],
        # CPU seconds (user + system) of the same runs: on a busy shared machine the wall
        # time includes waiting for a core; an idle one would take about this long.
        "cold_ask_cpu_s": round(median(cpus), 3),
        "breakdown_s": {"interpreter": round(interpreter_s, 3)} | breakdown,
        "slowest_imports": profile,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    result = measure(parser.parse_args().runs)
    print(write_json("cold", result))


if __name__ == "__main__":
    main()
