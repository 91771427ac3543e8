"""Run a question set through the engine: one scored record per case, and a summary."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from statistics import mean

from evals.metrics import (
    case_passed,
    citation_metrics,
    expected_recall,
    hit_curve,
    is_yes_no,
    phrase_match,
    retrieval_metrics,
    sources_cited,
)
from rag.engine import RagEngine
from rag.errors import QuestionSetError
from rag.loaders import read_source_text
from rag.reader.calibration import calibration

RETRIEVAL_KEYS = (
    "hit@1",
    "hit@3",
    "hit@5",
    "hit@10",
    "evidence_recall@10",
    "full_recall@10",
    "mrr@10",
    "ndcg@10",
)
LATENCY_STAGES = ("embed", "search", "synthesize", "total", "first_token")

# A baseline retriever: question → ranked passage texts.
BaselineRetriever = Callable[[str, int], list[str]]


def load_cases(path: Path) -> list[dict]:
    """The cases of a JSONL question set; each has an `id` and a `question` or `turns`."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as error:
        raise QuestionSetError(f"Cannot read the question set {path}: {error}") from error
    cases = []
    for line_no, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            case = json.loads(line)
        except json.JSONDecodeError as error:
            raise QuestionSetError(f"{path}:{line_no}: not a JSON object ({error})") from error
        if not isinstance(case, dict) or "id" not in case:
            raise QuestionSetError(f"{path}:{line_no}: a case needs an `id`")
        if not (case.get("question") or case.get("turns")):
            raise QuestionSetError(f"{path}:{line_no}: a case needs a `question` or `turns`")
        cases.append(case)
    if not cases:
        raise QuestionSetError(f"{path} holds no cases (one JSON object per line).")
    return cases


def score_answer(case: dict, answer: dict) -> dict:
    """The per-case metrics of one answer (retrieval ones only where there is evidence)."""
    answerable = case.get("answerable", True)
    evidence = case.get("evidence", [])
    passages = [p["text"] for p in answer["retrieved"]]
    metrics: dict = {"refused": float(answer["refused"])}
    if answerable:
        metrics["expected_recall"] = expected_recall(case.get("expect", []), answer["text"])
        span = answer.get("answer_span") or {}
        phrase = "" if answer["refused"] else span.get("text", "")
        metrics["answer_em"], metrics["answer_f1"] = phrase_match(case.get("expect", []), phrase)
    if evidence:
        metrics |= retrieval_metrics(passages, evidence)
        metrics["hit_curve"] = hit_curve(passages, evidence)
    metrics |= citation_metrics(answer["citations"], evidence, read_source_text)
    if answerable and case.get("source_ids"):
        metrics["sources_cited"] = sources_cited(case["source_ids"], answer["citations"])
    return metrics


def run_case(
    engine: RagEngine, case: dict, k: int | None = None, baseline: BaselineRetriever | None = None
) -> dict:
    """Ask the case's question (every turn of a conversation, in one chat); score the last."""
    turns = case.get("turns") or [case["question"]]
    history: list[str] = []
    for turn in turns:
        answer = engine.ask(turn, history=history, k=k)
        history.append(answer.query)
    record = answer.to_dict()
    result = {
        "id": case["id"],
        "type": case.get("type"),
        "answerable": case.get("answerable", True),
        "expect": case.get("expect", []),
        "answer": record,
        "metrics": score_answer(case, record),
        "passed": case_passed(case, record),
    }
    if baseline is not None and case.get("evidence"):
        passages = baseline(answer.query, k or engine.settings.top_k)
        result["baseline"] = retrieval_metrics(passages, case["evidence"])
        result["baseline"]["hit_curve"] = hit_curve(passages, case["evidence"])
    return result


def run_eval(
    engine: RagEngine,
    cases: list[dict],
    k: int | None = None,
    baseline: BaselineRetriever | None = None,
) -> Iterator[dict]:
    """Records, one per case, as they finish (so a caller can show progress or stop early)."""
    for case in cases:
        yield run_case(engine, case, k, baseline)


def _mean_of(records: list[dict], key: str, section: str = "metrics") -> float | None:
    values = [r[section][key] for r in records if key in r.get(section, {})]
    return round(mean(values), 4) if values else None


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 2)


def aggregate(records: list[dict]) -> dict:
    """Means of the per-case metrics over a group of records."""
    answerable = [r for r in records if r["answerable"]]
    unanswerable = [r for r in records if not r["answerable"]]
    summary: dict = {
        "cases": len(records),
        "passed": sum(r["passed"] for r in records),
        "pass_rate": round(sum(r["passed"] for r in records) / len(records), 4)
        if records
        else None,
    }
    for key in RETRIEVAL_KEYS:
        summary[key] = _mean_of(answerable, key)
    summary["expected_recall"] = _mean_of(answerable, "expected_recall")
    summary["citation_precision"] = _mean_of(answerable, "citation_precision")
    summary["citation_validity"] = _mean_of(records, "citation_validity")
    summary["fragment_rate"] = _mean_of(records, "fragment_rate")
    summary["sources_cited"] = _mean_of(answerable, "sources_cited")
    summary["refusal_accuracy"] = _mean_of(unanswerable, "refused")
    summary["false_refusal_rate"] = _mean_of(answerable, "refused")
    summary["answer_em"] = _mean_of(answerable, "answer_em")
    summary["answer_f1"] = _mean_of(answerable, "answer_f1")
    confident = [
        r
        for r in records
        if not r["answer"].get("refused") and r["answer"].get("confidence") is not None
    ]
    if confident:
        summary["ece"], summary["reliability"] = calibration(
            [r["answer"]["confidence"] for r in confident], [r["passed"] for r in confident]
        )
    summary |= llm_metrics([r["answer"] for r in records])
    return summary


def llm_metrics(answers: list[dict]) -> dict:
    """LLM answers only: share of generated sentences the citation check kept, fallbacks.

    A fallback keeps none of its sentences; a refusal the model wrote counts as kept.
    """
    asked = [a for a in answers if a.get("generated_sentences") or a.get("fallback")]
    if not asked:
        return {}
    generated = sum(a["generated_sentences"] for a in asked)
    kept = sum(0 if a["fallback"] else a["generated_sentences"] - len(a["dropped"]) for a in asked)
    fallbacks = sum(a["fallback"] for a in asked)
    return {
        "llm_answers": len(asked),
        "generated_sentences": generated,
        "kept_share": round(kept / generated, 4) if generated else None,
        "fallbacks": fallbacks,
        "fallback_rate": round(fallbacks / len(answers), 4),
    }


def summarize(records: list[dict]) -> dict:
    """Overall metrics, latency percentiles, the baseline's retrieval, and per-group breakdowns."""
    summary = aggregate(records)
    summary["latency_ms"] = {
        stage: {
            "p50": _percentile(values, 0.5),
            "p95": _percentile(values, 0.95),
        }
        for stage in LATENCY_STAGES
        if (
            values := [
                r["answer"]["timings_ms"][stage]
                for r in records
                if stage in r["answer"]["timings_ms"]
            ]
        )
    }
    if any("baseline" in r for r in records):
        summary["baseline"] = {key: _mean_of(records, key, "baseline") for key in RETRIEVAL_KEYS}
    types = sorted({r["type"] for r in records if r["type"]})
    summary["by_type"] = {t: aggregate([r for r in records if r["type"] == t]) for t in types}
    summary["by_answerable"] = {
        "answerable": aggregate([r for r in records if r["answerable"]]),
        "unanswerable": aggregate([r for r in records if not r["answerable"]]),
    }
    yes_no = [r for r in records if r["answerable"] and is_yes_no(r["expect"])]
    if yes_no:
        summary["by_answer"] = {
            "yes/no": aggregate(yes_no),
            "phrase": aggregate([r for r in records if r["answerable"] and r not in yes_no]),
        }
    return summary
