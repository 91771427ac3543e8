"""Run a question set through the engine: one record per case, and a summary."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

from evals.metrics import case_passed, expected_recall
from rag.engine import RagEngine


def load_cases(path: Path) -> list[dict]:
    """The cases of a JSONL question set; each has an `id` and a `question` or `turns`."""
    cases = []
    for line_no, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        case = json.loads(line)
        if "id" not in case or not (case.get("question") or case.get("turns")):
            raise ValueError(f"{path}:{line_no}: a case needs an `id` and a `question` or `turns`")
        cases.append(case)
    return cases


def run_case(engine: RagEngine, case: dict) -> dict:
    """Ask the case's question (every turn of a conversation, in one chat); score the last."""
    turns = case.get("turns") or [case["question"]]
    history: list[str] = []
    for turn in turns:
        answer = engine.ask(turn, history=history)
        history.append(answer.query)
    record = answer.to_dict()
    return {
        "id": case["id"],
        "answer": record,
        "expected_recall": expected_recall(case.get("expect", []), record["text"]),
        "passed": case_passed(case, record),
    }


def run_eval(engine: RagEngine, cases: list[dict]) -> Iterator[dict]:
    """Records, one per case, as they finish (so a caller can show progress)."""
    for case in cases:
        yield run_case(engine, case)


def summarize(cases: list[dict], records: list[dict]) -> dict:
    """Pass rate overall and on answerable / unanswerable cases."""
    answerable = {c["id"] for c in cases if c.get("answerable", True)}

    def rate(ids: set[str]) -> float | None:
        scored = [r for r in records if r["id"] in ids]
        return round(sum(r["passed"] for r in scored) / len(scored), 4) if scored else None

    all_ids = {r["id"] for r in records}
    return {
        "cases": len(records),
        "passed": sum(r["passed"] for r in records),
        "pass_rate": rate(all_ids),
        "answerable_pass_rate": rate(all_ids & answerable),
        "unanswerable_refusal_rate": rate(all_ids - answerable),
    }
