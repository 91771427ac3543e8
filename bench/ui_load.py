"""Load on one `rag serve`: concurrent gradio_client sessions asking seed questions + follow-ups.

    python -m bench.ui_load [--sessions 50] [--seconds 60]

Starts `rag serve` on a free loopback port over the seed index (built in a temp dir), runs
the sessions for a bounded time, checks every answer belongs to its own question and its
own follow-up context (no cross-talk), and writes bench/results/ui_load.{json,md}.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from statistics import median

from gradio_client import Client

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"

# (question, a phrase its answer holds, follow-up, a phrase the follow-up's answer holds)
CONVERSATIONS = [
    ("What did Peskov say?", "all details of the offer", "Who does he speak for?", "Kremlin"),
    ("What did Trump say?", "war behind us", "Whose cooperation did he hope for?", "Putin"),
    ("What did Gerasimov say?", "actively surrendered", "How many soldiers did he claim?", "430"),
    ("What did Syrskyj hint at?", "retreat", "Why did he hint at it?", "preserve lives"),
]


@dataclass
class SessionLog:
    latencies_ms: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _check(answer: dict, asked: str, phrase: str) -> str | None:
    if answer["question"] != asked:
        return f"cross-talk: asked {asked!r}, got the answer to {answer['question']!r}"
    if phrase.lower() not in answer["text"].lower():
        return f"{asked!r}: {phrase!r} not in {answer['text'][:120]!r}"
    return None


def _session(url: str, number: int, deadline: float, log: SessionLog) -> None:
    """One client: its own conversation, asked again and again until the deadline."""
    question, phrase, follow_up, follow_phrase = CONVERSATIONS[number % len(CONVERSATIONS)]
    try:
        # 50 sessions connect at once on 2 cores: give the config handshake time.
        client = Client(url, verbose=False, httpx_kwargs={"timeout": 60})
    except Exception as err:  # a session that cannot even connect is an error to report
        log.errors.append(f"connect: {err}")
        return
    while time.monotonic() < deadline:
        try:
            started = time.perf_counter()
            first = client.predict(question, [], api_name="/ask")
            log.latencies_ms.append((time.perf_counter() - started) * 1000)
            started = time.perf_counter()
            second = client.predict(follow_up, [first["query"]], api_name="/ask")
            log.latencies_ms.append((time.perf_counter() - started) * 1000)
        except Exception as err:  # every failure is counted, none stops the run
            log.errors.append(f"request: {err}")
            continue
        for problem in (_check(first, question, phrase), _check(second, follow_up, follow_phrase)):
            if problem:
                log.errors.append(problem)


def run_load(url: str, sessions: int, seconds: float) -> dict:
    """Run the sessions against a served UI; latency percentiles, throughput and errors."""
    logs = [SessionLog() for _ in range(sessions)]
    deadline = time.monotonic() + seconds
    threads = [
        threading.Thread(target=_session, args=(url, i, deadline, logs[i]), daemon=True)
        for i in range(sessions)
    ]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=seconds + 120)
    elapsed = time.perf_counter() - started
    latencies = sorted(ms for log in logs for ms in log.latencies_ms)
    errors = [e for log in logs for e in log.errors]
    return {
        "sessions": sessions,
        "seconds": round(elapsed, 1),
        "requests": len(latencies),
        "throughput_rps": round(len(latencies) / elapsed, 2),
        "p50_ms": round(median(latencies), 1) if latencies else None,
        "p95_ms": round(latencies[int(0.95 * (len(latencies) - 1))], 1) if latencies else None,
        "errors": len(errors),
        "error_examples": errors[:5],
        "sessions_with_answers": sum(1 for log in logs if log.latencies_ms),
    }


def serve_seed_index(data_dir: Path, port: int, log: Path | None = None) -> subprocess.Popen:
    """`rag ingest` the seeds into data_dir, then `rag serve` them on the port (its output to
    `log`, if given); the process."""
    env = {**os.environ, "RAG_DATA_DIR": str(data_dir), "RAG_CORPUS_DIR": str(ROOT / "seeds")}
    rag = [sys.executable, "-m", "rag.cli"]
    subprocess.run([*rag, "ingest"], env=env, check=True, cwd=ROOT)
    output = log.open("w") if log else None
    server = subprocess.Popen(
        [*rag, "serve", "--host", "127.0.0.1", "--port", str(port)],
        env=env,
        cwd=ROOT,
        stdout=output,
        stderr=subprocess.STDOUT if output else None,
    )
    url = f"http://127.0.0.1:{port}/"
    for _ in range(240):  # the model loads on the first request; the server is up sooner
        try:
            Client(url, verbose=False)
            return server
        except Exception:  # not listening yet
            time.sleep(0.5)
    server.kill()
    raise RuntimeError(f"rag serve did not come up on {url}")


def write_results(name: str, heading: str, intro: str, result: dict) -> None:
    """bench/results/NAME.json and NAME.md (a measure | value table)."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"{name}.json").write_text(json.dumps(result, indent=2) + "\n")
    rows = "\n".join(f"| {key} | {value} |" for key, value in result.items())
    (RESULTS / f"{name}.md").write_text(
        f"# {heading}\n\n{intro}\n\n| measure | value |\n|---|---|\n{rows}\n"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sessions", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=60)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as data_dir:
        port = free_port()
        server = serve_seed_index(Path(data_dir), port)
        try:
            result = run_load(f"http://127.0.0.1:{port}/", args.sessions, args.seconds)
        finally:
            server.terminate()
            server.wait(timeout=30)
    write_results(
        "ui_load",
        "UI load: concurrent gradio_client sessions against one `rag serve`",
        "Each session asks its own seed question, then its follow-up with its own history, "
        "in a loop until the time is up; every answer is checked against its question.",
        result,
    )
    print(json.dumps(result, indent=2))
    sys.exit(1 if result["errors"] else 0)


if __name__ == "__main__":
    main()
