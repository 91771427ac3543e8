"""Smoke test of the benchmark harness: `bench.run --toy` writes the headline keys."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# Written out, not imported from bench.report: other tools read these keys, so the
# test pins them independently of the code that writes them.
KEYS = {
    "ingest_vs_limit",
    "ingest_vs_llamaindex",
    "ask_p50_ms_10k",
    "ask_p50_ms_1m",
    "cold_ask_s",
    "rss_gib_1m",
    "machine",
    "commit",
}


@pytest.mark.slow
def test_toy_run_writes_latest_json_with_the_headline_keys(tmp_path):
    env = os.environ | {"BENCH_RESULTS": str(tmp_path), "PYTHONPATH": str(ROOT)}
    subprocess.run(
        [sys.executable, "-m", "bench.run", "--toy"], cwd=ROOT, env=env, check=True, timeout=280
    )
    latest = json.loads((tmp_path / "latest.json").read_text())
    assert set(latest) == KEYS
    assert json.loads((tmp_path / "failures.json").read_text()) == []
    assert latest["ingest_vs_limit"] > 0 and latest["ingest_vs_llamaindex"] > 0
    assert latest["machine"]["cores"] >= 1
    toy = json.loads((tmp_path / "latency_100.json").read_text())
    assert toy["chunks"] == 100 and toy["questions"] == 5
    assert set(toy["stages_ms"]) >= {"embed", "dense", "bm25", "fusion", "synthesize", "total"}
    added = toy["add_one_file"]  # one file ingested into the persisted index
    assert 0 < added["persist_s"] <= added["ingest_s"] and added["ask_total_ms_after"]["p50"] > 0
    int8 = json.loads((tmp_path / "int8_speed.json").read_text())
    assert int8["chunks"] > 0 and int8["int8_cosine_to_fp32"]["min"] > 0.95
    # The toy run sets a 50-chunk IVF threshold: the approximate index was built and scored.
    assert toy["vector_index"] == "ivf" and 0 < toy["recall_at_10"] <= 1
    for name in ("README.md", "latency.png", "ingest.png"):
        assert (tmp_path / name).stat().st_size > 0


@pytest.mark.slow
def test_int8_isa_script_runs_standalone_and_reports_the_speedup(tmp_path):
    """bench/int8_isa.py runs as a plain script, outside the project (as on another machine)."""
    from rag.embedding import default_model_path

    texts = tmp_path / "texts.json"
    texts.write_text(json.dumps([f"Chunk {i}: otters float on their backs." for i in range(40)]))
    script = ROOT / "bench" / "int8_isa.py"
    out = subprocess.run(
        [sys.executable, str(script), str(default_model_path()), str(texts)],
        cwd=tmp_path,
        env=os.environ | {"PYTHONPATH": ""},
        capture_output=True,
        text=True,
        check=True,
        timeout=240,
    )
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["chunks"] == 40 and result["threads"] == 2 and result["cpu"]
    assert result["int8_cosine_to_torch"]["min"] > 0.95
    # The ratio of the two timings it reports (40 chunks are too few to promise a speedup).
    torch_cpu, int8_cpu = result["torch_fp32"]["cpu_seconds"], result["onnx_int8"]["cpu_seconds"]
    assert torch_cpu > 0 and int8_cpu > 0
    assert result["int8_speedup_cpu_vs_torch_fp32"] == pytest.approx(torch_cpu / int8_cpu, rel=0.1)
