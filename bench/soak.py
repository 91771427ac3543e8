"""Soak: one `rag serve` answering while another process and the browser change the index.

    python -m bench.soak [--seconds 300] [--clients 4]

For the whole run, over one data dir:
- `rag serve` answers gradio_client sessions asking about the seed (always indexed: each
  answer must hold its phrase) and about documents that come and go (answered with the
  phrase, or refused);
- another process ingests and deletes those documents every few seconds (`--writer`);
- a headless Chromium uploads a new document through the UI's Documents tab every few
  seconds, in the same server.
Every answer's citations must be verbatim spans of their files (an answer from a half-swapped
index would not be), no request may fail, the server may log no error and no "corrupt", and
at the end the index must hold the seed, exactly the writer's documents it last ingested,
and every upload the UI reported added. Writes bench/results/soak.{json,md,png}.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from statistics import median

from gradio_client import Client

from bench.common import figure
from bench.ui_load import (
    CONVERSATIONS,
    RESULTS,
    ROOT,
    free_port,
    serve_seed_index,
    write_results,
)

SEED = ROOT / "seeds" / "ukraine-russia-ceasefire-2025-03-13.txt"
# Documents the writer process ingests and deletes in turn: (file, text, question, phrase).
CHURN = [
    ("ferry.txt", "The Lindqvist ferry to Tromsø leaves at 07:40 every day.",
     "When does the Lindqvist ferry leave?", "07:40"),
    ("orchard.txt", "The Hallgren orchard grows 312 kinds of apple.",
     "How many kinds of apple does the Hallgren orchard grow?", "312"),
    ("observatory.txt", "The Brannock observatory opens its dome on clear Fridays.",
     "When does the Brannock observatory open its dome?", "Fridays"),
]  # fmt: skip
FAILURE_WORDS = ("corrupt", "inconsistent", "Traceback")


@dataclass
class ClientLog:
    answers: list[tuple[float, float, bool]] = field(default_factory=list)  # (t, ms, seed?)
    errors: list[str] = field(default_factory=list)
    refused_churn: int = 0


def _verbatim(answer: dict) -> str | None:
    """Why a citation is not the exact span of its file (None when every one is)."""
    for c in answer["citations"]:
        text = Path(c["source"]).read_text(encoding="utf-8")
        if text[c["start"] : c["end"]] != c["quote"]:
            return f"citation [{c['n']}] is not the span {c['start']}:{c['end']} of {c['source']}"
    return None


def _problem(answer: dict, phrase: str, always_indexed: bool) -> str | None:
    if not answer["refused"] and phrase.lower() not in answer["text"].lower():
        return f"{answer['question']!r}: {phrase!r} not in {answer['text'][:120]!r}"
    if always_indexed and answer["refused"]:
        return f"{answer['question']!r} refused: {answer['refusal_reason']}"
    return _verbatim(answer)


def _client(url: str, number: int, started: float, deadline: float, log: ClientLog) -> None:
    """One session asking seed and churn questions in turn until the deadline."""
    questions = [(q, p, True) for q, p, *_ in CONVERSATIONS] + [
        (q, p, False) for _, _, q, p in CHURN
    ]
    try:
        client = Client(url, verbose=False, httpx_kwargs={"timeout": 120})
    except Exception as err:  # a session that cannot even connect is an error to report
        log.errors.append(f"connect: {err}")
        return
    turn = number
    while time.monotonic() < deadline:
        question, phrase, always = questions[turn % len(questions)]
        turn += 1
        asked = time.monotonic()
        try:
            answer = client.predict(question, api_name="/ask")
        except Exception as err:  # every failure is a finding to count, whatever its type
            log.errors.append(f"{question!r}: {err}")
            continue
        log.answers.append((asked - started, 1000 * (time.monotonic() - asked), always))
        problem = _problem(answer, phrase, always)
        if problem:
            log.errors.append(problem)
        log.refused_churn += (not always) and answer["refused"]


def _uploads(url: str, folder: Path, deadline: float, every: float, log: dict) -> None:
    """A browser session uploading a new document through the Documents tab, again and again."""
    from playwright.sync_api import sync_playwright

    from bench.ui_latency import CHROMIUM, CHROMIUM_ARGS

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page()
            page.goto(url)
            page.get_by_role("tab", name="Documents").click()
            n = 0
            while time.monotonic() < deadline:
                n += 1
                _upload_one(page, folder / f"crate-{n}.txt", n, log)
                time.sleep(every)
        except Exception as err:  # the browser session itself failed: a finding to count
            log["errors"].append(f"browser: {err}")
        finally:
            browser.close()


def _upload_one(page, upload: Path, n: int, log: dict) -> None:
    """Upload one new document and wait until the UI reports it added."""
    from playwright.sync_api import expect

    upload.write_text(f"Crate {n} in the Morrow warehouse holds {7 * n} lanterns.\n")
    sent = time.monotonic()
    page.locator("#upload input[type=file]").set_input_files([str(upload)])
    page.locator("#add").click()
    try:
        row = page.locator("#ingest-result tr.added", has_text=upload.name)
        expect(row).to_be_visible(timeout=120_000)
    except AssertionError:
        log["errors"].append(f"{upload.name}: {page.locator('#ingest-result').inner_text()}")
        return
    log["added"].append(upload.name)
    log["times"].append(sent - log["started"])


def writer(data_dir: Path, churn_dir: Path, seconds: float, every: float, out: Path) -> None:
    """The other process: ingest, then delete, each churn document in turn."""
    from rag import RagEngine, Settings

    engine = RagEngine(Settings(data_dir=data_dir))
    files = [str((churn_dir / name).resolve()) for name, *_ in CHURN]
    indexed: set[str] = set()
    ops: list[tuple[float, str]] = []
    errors: list[str] = []
    started = time.monotonic()
    turn = 0
    while time.monotonic() - started < seconds:
        path = files[turn % len(files)]
        turn += 1
        try:
            if path in indexed:
                engine.delete(path)
                indexed.discard(path)
                ops.append((time.monotonic() - started, "delete"))
            else:
                report = engine.ingest([path])
                if report.rejected:
                    errors.append(f"{path}: {report.rejected[0].reason}")
                indexed.add(path)
                ops.append((time.monotonic() - started, "ingest"))
        except Exception as err:  # every failure is a finding to count, whatever its type
            errors.append(f"{path}: {err!r}")
        time.sleep(every)
    out.write_text(json.dumps({"ops": ops, "errors": errors, "indexed": sorted(indexed)}))


def run_soak(seconds: float, clients: int = 4, every: float = 2.0) -> dict:
    """Run the soak in a fresh data dir: its counts (every problem 0 on success) and the
    data of its plot (`timeline`)."""
    from rag import RagEngine, Settings

    with tempfile.TemporaryDirectory() as temp:
        root = Path(temp)
        data, churn, uploads = root / "data", root / "churn", root / "uploads"
        churn.mkdir()
        uploads.mkdir()
        for name, text, *_ in CHURN:
            (churn / name).write_text(text + "\n", encoding="utf-8")
        port, server_log = free_port(), root / "server.log"
        server = serve_seed_index(data, port, log=server_log)
        url = f"http://127.0.0.1:{port}/"
        writer_out = root / "writer.json"
        try:
            other = subprocess.Popen(
                [sys.executable, "-m", "bench.soak", "--writer", str(data), str(churn),
                 "--seconds", str(seconds), "--every", str(every), "--out", str(writer_out)],
                cwd=ROOT,
            )  # fmt: skip
            started = time.monotonic()
            deadline = started + seconds
            logs = [ClientLog() for _ in range(clients)]
            upload_log: dict = {"added": [], "errors": [], "times": [], "started": started}
            threads = [
                threading.Thread(target=_client, args=(url, i, started, deadline, logs[i]))
                for i in range(clients)
            ]
            threads.append(
                threading.Thread(
                    target=_uploads, args=(url, uploads, deadline, 1.5 * every, upload_log)
                )
            )
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            other.wait(timeout=300)
        finally:
            server.terminate()
            server.wait(timeout=30)
        written = json.loads(writer_out.read_text())
        indexed = {d.source for d in RagEngine(Settings(data_dir=data)).documents()}
        expected = {str(SEED.resolve()), *written["indexed"]}
        expected |= {str((data / "uploads" / name).resolve()) for name in upload_log["added"]}
        logged = server_log.read_text(encoding="utf-8", errors="replace")
    answers = sorted(a for log in logs for a in log.answers)
    latencies = sorted(ms for _, ms, _ in answers)
    errors = [e for log in logs for e in log.errors]
    return {
        "seconds": seconds,
        "clients": clients,
        "answers": len(answers),
        "answers_refused_while_their_document_was_out": sum(log.refused_churn for log in logs),
        "answer_errors": len(errors),
        "answer_error_examples": errors[:5],
        "writer_ingests": sum(op == "ingest" for _, op in written["ops"]),
        "writer_deletes": sum(op == "delete" for _, op in written["ops"]),
        "writer_errors": len(written["errors"]),
        "writer_error_examples": written["errors"][:5],
        "ui_uploads": len(upload_log["added"]),
        "ui_upload_errors": len(upload_log["errors"]),
        "ui_upload_error_examples": upload_log["errors"][:5],
        "server_log_failures": sum(logged.count(word) for word in FAILURE_WORDS),
        "documents_lost": sorted(expected - indexed),
        "documents_unexpected": sorted(indexed - expected),  # e.g. a delete that did not hold
        "p50_ms": round(median(latencies), 1) if latencies else None,
        "p95_ms": round(latencies[int(0.95 * (len(latencies) - 1))], 1) if latencies else None,
        "max_ms": round(latencies[-1], 1) if latencies else None,
        "timeline": {
            "answers": [(round(t, 2), round(ms, 1), seed) for t, ms, seed in answers],
            "writes": written["ops"],
            "uploads": [round(t, 2) for t in upload_log["times"]],
        },
    }


def problems(result: dict) -> list[str]:
    """What went wrong in a soak run (empty: nothing)."""
    counts = ("answer_errors", "writer_errors", "ui_upload_errors", "server_log_failures")
    found = [f"{key}: {result[key]}" for key in counts if result[key]]
    for key in ("documents_lost", "documents_unexpected"):
        if result[key]:
            found.append(f"{key}: {result[key]}")
    return found


def _plot(result: dict, path: Path) -> None:
    timeline = result["timeline"]
    with figure(path, (9, 4.5)) as ax:
        series = [(True, "seed question", "tab:blue"), (False, "churned document", "tab:orange")]
        for seed, label, colour in series:
            points = [(t, ms) for t, ms, s in timeline["answers"] if s == seed]
            if points:
                ax.scatter(*zip(*points, strict=True), s=8, label=label, color=colour)
        for t, op in timeline["writes"]:
            ax.axvline(t, color="tab:green" if op == "ingest" else "tab:red", alpha=0.25, lw=1)
        for t in timeline["uploads"]:
            ax.axvline(t, color="tab:purple", alpha=0.4, lw=1, ls="--")
        ax.set_xlabel(
            "seconds (green: another process ingests, red: it deletes, purple: UI upload)"
        )
        ax.set_ylabel("answer latency (ms)")
        ax.set_yscale("log")
        ax.set_title(f"Soak: {result['answers']} answers, {len(problems(result))} kinds of problem")
        ax.legend(loc="upper right")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=300)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--every", type=float, default=2.0, help="Seconds between writes.")
    parser.add_argument("--writer", nargs=2, type=Path, metavar=("DATA_DIR", "CHURN_DIR"))
    parser.add_argument("--out", type=Path, help="The writer's report (with --writer).")
    args = parser.parse_args()
    if args.writer:
        writer(*args.writer, args.seconds, args.every, args.out)
        return
    result = run_soak(args.seconds, args.clients, args.every)
    RESULTS.mkdir(parents=True, exist_ok=True)
    _plot(result, RESULTS / "soak.png")
    shown = {key: value for key, value in result.items() if key != "timeline"}
    write_results(
        "soak",
        "Soak: answers while another process and the UI change the index",
        f"`python -m bench.soak --seconds {args.seconds:g}` ({args.clients} sessions, a write "
        f"every {args.every:g} s, an upload every {1.5 * args.every:g} s): see the module's "
        "docstring for what is checked.\n\n![answer latency over time](soak.png)",
        shown,
    )
    print(json.dumps(shown, indent=2))
    sys.exit(1 if problems(result) else 0)


if __name__ == "__main__":
    main()
