"""Cold start: `rag ask` in a fresh process on the seed index, and what its time is spent on.

    python -m bench.cold [--runs 5] [--baseline OTHER_CHECKOUT]

The breakdown runs the same steps in one fresh process with a wall and a CPU clock around
each; the import profile is `python -X importtime` of a `rag ask`. The embedding backend is
the default one (RAG_EMBED_BACKEND); the result records which. `--baseline` measures
another checkout of the project (e.g. the main worktree) the same way, its runs
alternating with this one's, so both see the same load on a shared machine: the speed-up
is a ratio from one run.
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

from bench.common import ROOT, SEEDS, commit, write_json
from rag import Settings

QUESTION = "What did Peskov say?"
_STEPS = """
import json, time
t, cpu = [time.perf_counter()], [time.process_time()]
def step():
    t.append(time.perf_counter())
    cpu.append(time.process_time())
from rag import RagEngine, Settings  # and llama-index-core, the bulk of it
step()
import rag.cli
step()
engine = RagEngine(Settings())
engine.embed_model.get_query_embedding("warm up")  # loads the model, whichever backend
step()
engine.load_index()
step()
engine.ask("What did Peskov say?")
step()
names = ("import_rag", "import_rag_cli", "load_model", "load_index", "first_ask")
print(json.dumps({
    "wall": {n: round(b - a, 3) for n, a, b in zip(names, t, t[1:])},
    "cpu": {n: round(b - a, 3) for n, a, b in zip(names, cpu, cpu[1:])},
    "ended": time.time(),  # the interpreter's teardown comes after: timed by the caller
}), flush=True)
"""


_IMPORT_LLAMA_INDEX = """
import time
started = time.perf_counter()
import llama_index.core
print(time.perf_counter() - started)
"""


def _children_cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _env(data_dir: Path, tree: Path) -> dict[str, str]:
    return os.environ | {"RAG_DATA_DIR": str(data_dir), "PYTHONPATH": str(tree)}


def _import_profile(env: dict[str, str], tree: Path, top: int = 10) -> list[dict]:
    """The packages slowest to import (cumulative, nested ones overlap), from -X importtime.

    Profiled on a real `rag ask`: it imports lazily, so only running it shows what it needs.
    """
    command = [sys.executable, "-X", "importtime", "-m", "rag.cli", "ask", QUESTION]
    out = subprocess.run(command, env=env, cwd=tree, capture_output=True, text=True).stderr
    slowest: dict[str, float] = {}  # root package → its slowest import (cumulative)
    for line in out.splitlines():
        if not line.startswith("import time:") or "cumulative" in line:
            continue
        _, cumulative_us, name = line.removeprefix("import time:").split("|")
        root = name.strip().split(".")[0]
        slowest[root] = max(slowest.get(root, 0.0), int(cumulative_us) / 1e6)
    ranked = sorted(slowest.items(), key=lambda kv: -kv[1])[:top]
    return [{"package": root, "cumulative_s": round(s, 3)} for root, s in ranked]


class _Checkout:
    """One checkout's seed index (ingested by its own code) and its cold asks."""

    def __init__(self, tree: Path, data_dir: Path) -> None:
        self.tree = tree
        self.env = _env(data_dir, tree)
        self.walls: list[float] = []
        self.cpus: list[float] = []
        self._run(["ingest", str(SEEDS)])

    def _run(self, args: list[str]) -> None:
        cli = [sys.executable, "-m", "rag.cli"]
        subprocess.run([*cli, *args], env=self.env, cwd=self.tree, check=True, capture_output=True)

    def ask(self) -> None:
        started, cpu_before = time.perf_counter(), _children_cpu_s()
        self._run(["ask", QUESTION])
        self.walls.append(time.perf_counter() - started)
        self.cpus.append(_children_cpu_s() - cpu_before)

    def result(self) -> dict:
        steps = subprocess.run(
            [sys.executable, "-c", _STEPS],
            env=self.env,
            cwd=self.tree,
            check=True,
            capture_output=True,
            text=True,
        )
        exited = time.time()
        breakdown = json.loads(steps.stdout.strip().splitlines()[-1])
        breakdown["wall"]["exit"] = round(exited - breakdown["ended"], 3)
        interpreter_s = _seconds([sys.executable, "-c", "pass"], self.env)
        # The floor: llama-index-core alone, a plain import timed inside its process.
        clocked = subprocess.run(
            [sys.executable, "-c", _IMPORT_LLAMA_INDEX],
            env=self.env,
            check=True,
            capture_output=True,
            text=True,
        )
        llama_index_s = float(clocked.stdout.strip())
        return {
            "embed_backend": Settings().embed_backend,
            "runs": len(self.walls),
            "cold_ask_s": round(median(self.walls), 3),
            "cold_ask_runs_s": [round(w, 3) for w in self.walls],
            # CPU seconds (user + system) of the same runs: on a busy shared machine the
            # wall time includes waiting for a core; an idle one would take about this long.
            "cold_ask_cpu_s": round(median(self.cpus), 3),
            "breakdown_s": {"interpreter": round(interpreter_s, 3)} | breakdown["wall"],
            "breakdown_cpu_s": breakdown["cpu"],
            "import_llama_index_core_alone_s": round(llama_index_s, 3),
            "slowest_imports": _import_profile(self.env, self.tree),
        }


def _seconds(command: list[str], env: dict[str, str]) -> float:
    started = time.perf_counter()
    subprocess.run(command, env=env, check=True)
    return time.perf_counter() - started


def _load_average() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def measure(runs: int, baseline: Path | None = None) -> dict:
    """p50 of `runs` cold asks, one timed breakdown, and the import profile (and the same
    for a baseline checkout, alternating with this one's runs)."""
    load_before = _load_average()
    with tempfile.TemporaryDirectory() as tmp:
        ours = _Checkout(ROOT, Path(tmp) / "ours")
        theirs = _Checkout(baseline, Path(tmp) / "baseline") if baseline else None
        for _ in range(runs):
            if theirs:
                theirs.ask()
            ours.ask()
        result = ours.result()
        if theirs:
            base = theirs.result()
            result["baseline"] = {"tree": str(baseline), "commit": commit(baseline)} | base
            result["speedup_wall"] = round(base["cold_ask_s"] / result["cold_ask_s"], 2)
            result["speedup_cpu"] = round(base["cold_ask_cpu_s"] / result["cold_ask_cpu_s"], 2)
    # Other jobs on the machine: the 1-minute load average before and after the runs.
    result["load_average"] = {"before": load_before, "after": _load_average()}
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument(
        "--baseline", type=Path, help="Another checkout to measure alternately (e.g. main)."
    )
    args = parser.parse_args()
    result = measure(args.runs, args.baseline)
    print(write_json("cold", result))


if __name__ == "__main__":
    main()
