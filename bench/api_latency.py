"""What the HTTP API adds to an answer: `RagEngine.ask` in process against the same question
through `rag serve`'s /v1/chat/completions with the official openai client.

    python -m bench.api_latency [--rounds 5]

Seed index (built in a temp dir), the seed dev questions, each asked `rounds` times both ways,
alternating. Writes bench/results/api_latency.{json,md,png}.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path
from statistics import median

import openai

from bench.common import figure
from bench.ui_load import RESULTS, ROOT, free_port, serve_seed_index
from rag import RagEngine, Settings

_SAMPLES = ("ask_ms", "api_ms")  # every answer's time, in the JSON and the plot only
QUESTIONS = ROOT.parent / "shared" / "datasets" / "seed" / "dev.jsonl"


def _questions() -> list[str]:
    lines = QUESTIONS.read_text(encoding="utf-8").splitlines()
    cases = [json.loads(line) for line in lines if line.strip()]
    return [case["question"] for case in cases if "question" in case]  # not the follow-ups


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def run(rounds: int) -> dict:
    questions = _questions()
    with tempfile.TemporaryDirectory() as temp:
        port = free_port()
        server = serve_seed_index(Path(temp) / "data", port)
        try:
            engine = RagEngine(Settings(data_dir=Path(temp) / "data"))
            client = openai.OpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key="-")
            for question in questions[:2]:  # warm both: model, index, sessions
                engine.ask(question)
                client.chat.completions.create(
                    model="rag", messages=[{"role": "user", "content": question}]
                )
            direct: list[float] = []
            api: list[float] = []
            for _ in range(rounds):
                for question in questions:
                    started = time.perf_counter()
                    engine.ask(question)
                    direct.append((time.perf_counter() - started) * 1000)
                    started = time.perf_counter()
                    client.chat.completions.create(
                        model="rag", messages=[{"role": "user", "content": question}]
                    )
                    api.append((time.perf_counter() - started) * 1000)
        finally:
            server.terminate()
            server.wait(timeout=30)
    summary = {
        "questions": len(direct),
        "ask_p50_ms": round(median(direct), 1),
        "ask_p95_ms": round(_percentile(direct, 0.95), 1),
        "api_p50_ms": round(median(api), 1),
        "api_p95_ms": round(_percentile(api, 0.95), 1),
    }
    summary["overhead_p50_ms"] = round(summary["api_p50_ms"] - summary["ask_p50_ms"], 1)
    return summary | {"ask_ms": direct, "api_ms": api}


def _plot(result: dict, path: Path) -> None:
    with figure(path, (6, 3.5)) as ax:
        ax.boxplot([result[key] for key in _SAMPLES], showfliers=False)
        ax.set_xticks([1, 2], ["RagEngine.ask (in process)", "POST /v1/chat/completions"])
        ax.set_ylabel("ms per answer (seed index)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    result = run(parser.parse_args().rounds)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "api_latency.json").write_text(json.dumps(result, indent=2) + "\n")
    _plot(result, RESULTS / "api_latency.png")
    summary = {k: v for k, v in result.items() if k not in _SAMPLES}
    rows = "\n".join(f"| {key} | {value} |" for key, value in summary.items())
    (RESULTS / "api_latency.md").write_text(
        f"# HTTP API overhead\n\n{__doc__.split(chr(10), 3)[3].strip()}\n\n"
        f"| measure | value |\n|---|---|\n{rows}\n\n![latency](api_latency.png)\n"
    )
    print(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
