"""Eval reports: report.md (tables), report.json (summary + records) and PNG plots."""

from __future__ import annotations

import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only, no display
import matplotlib.pyplot as plt  # noqa: E402

from evals import metrics  # noqa: E402
from evals.runner import LATENCY_STAGES, RETRIEVAL_KEYS  # noqa: E402

ANSWER_KEYS = (
    "pass_rate",
    "expected_recall",
    "citation_precision",
    "citation_validity",
    "fragment_rate",
    "sources_cited",
    "refusal_accuracy",
    "false_refusal_rate",
    "answer_em",
    "answer_f1",
    "ece",
)
LLM_KEYS = ("llm_answers", "generated_sentences", "kept_share", "fallbacks", "fallback_rate")
TYPE_KEYS = (
    "cases",
    "pass_rate",
    "hit@1",
    "full_recall@10",
    "expected_recall",
    "sources_cited",
)


def _fmt(value) -> str:
    if value is None:
        return "–"
    return f"{value:.3f}" if isinstance(value, float) else str(value)


def _delta(now, before) -> str:
    if not isinstance(now, int | float) or not isinstance(before, int | float):
        return "–"
    return f"{now - before:+.3f}"


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return lines + ["| " + " | ".join(row) + " |" for row in rows]


def _summary_rows(summary: dict, previous: dict | None) -> list[list[str]]:
    baseline = summary.get("baseline", {})
    rows = []
    llm = tuple(k for k in LLM_KEYS if k in summary)  # only when RAG_SYNTH=llm
    for key in (*RETRIEVAL_KEYS, *ANSWER_KEYS, *llm):
        row = [key, _fmt(summary.get(key))]
        if baseline:
            row.append(_fmt(baseline.get(key)))
        if previous is not None:
            row.append(_delta(summary.get(key), previous.get(key)))
        rows.append(row)
    return rows


def _worst(records: list[dict], n: int = 10) -> list[dict]:
    """Failed cases first, the lowest expected-phrase recall and retrieval hit first."""
    failed = [r for r in records if not r["passed"]]
    return sorted(
        failed,
        key=lambda r: (r["metrics"].get("expected_recall", 0), r["metrics"].get("hit@10", 0)),
    )[:n]


def _case_block(record: dict) -> list[str]:
    answer = record["answer"]
    lines = [
        f"### {record['id']} ({'answerable' if record['answerable'] else 'unanswerable'})",
        f"- question: {answer['question']}",
        f"- expected: {' · '.join(record['expect']) or '(a refusal)'}",
        f"- answer{' (refused)' if answer['refused'] else ''}: {answer['text'][:400]}",
    ]
    lines += [
        f"  - [{c['n']}] {Path(c['source']).name}: {c['quote'][:200]}" for c in answer["citations"]
    ]
    return lines + [""]


def _flipped(records: list[dict], previous_records: list[dict]) -> list[str]:
    before = {r["id"]: r["passed"] for r in previous_records}
    return [
        f"- {r['id']}: {'fail → pass' if r['passed'] else 'pass → fail'}"
        for r in records
        if r["id"] in before and before[r["id"]] != r["passed"]
    ]


def render_markdown(
    name: str, summary: dict, records: list[dict], previous: dict | None = None
) -> str:
    """The report as Markdown: summary, per-type table, latency, worst cases, flips."""
    header = ["metric", "ours"]
    if summary.get("baseline"):
        header.append("llama-index default")
    if previous is not None:
        header.append("Δ vs previous")
    lines = [f"# Eval report: {name}", ""]
    if summary.get("partial"):
        lines += ["**Partial run** (interrupted): only the finished cases are scored.", ""]
    lines += [
        f"{summary['cases']} cases, {summary['passed']} passed. Retrieval metrics are over "
        "answerable cases with evidence; the baseline column is retrieval only.",
        "",
        *_table(header, _summary_rows(summary, previous and previous["summary"])),
        "",
        "![hit@k](hit_at_k.png) ![metrics by group](by_group.png) ![latency](latency.png)"
        + (" ![reliability](reliability.png)" if summary.get("reliability") else ""),
        "",
    ]
    if summary["by_type"]:
        rows = [[t] + [_fmt(s.get(k)) for k in TYPE_KEYS] for t, s in summary["by_type"].items()]
        lines += ["## By type", "", *_table(["type", *TYPE_KEYS], rows), ""]
    rows = [[g] + [_fmt(s.get(k)) for k in TYPE_KEYS] for g, s in summary["by_answerable"].items()]
    lines += ["## Answerable / unanswerable", "", *_table(["group", *TYPE_KEYS], rows), ""]
    if summary.get("by_answer"):
        rows = [[g] + [_fmt(s.get(k)) for k in TYPE_KEYS] for g, s in summary["by_answer"].items()]
        lines += ["## Yes/no and phrase answers", "", *_table(["answer", *TYPE_KEYS], rows), ""]
    if summary.get("reliability"):
        rows = [
            [
                f"{b['low']:.1f}–{b['high']:.1f}",
                str(b["count"]),
                _fmt(b["confidence"]),
                _fmt(b["accuracy"]),
            ]
            for b in summary["reliability"]
        ]
        lines += [
            "## Calibration",
            "",
            f"Expected calibration error {_fmt(summary['ece'])} over the answered cases "
            "(confidence against the share that passed).",
            "",
            *_table(["confidence", "answers", "mean confidence", "passed"], rows),
            "",
        ]
    latency = summary["latency_ms"]
    rows = [[stage, _fmt(v["p50"]), _fmt(v["p95"])] for stage, v in latency.items()]
    lines += ["## Latency (ms)", "", *_table(["stage", "p50", "p95"], rows), ""]
    if previous is not None:
        flips = _flipped(records, previous["records"])
        lines += ["## Cases that flipped", "", *(flips or ["(none)"]), ""]
    lines += ["## Worst cases", ""]
    for record in _worst(records):
        lines += _case_block(record)
    lines += ["## Metric definitions", "", "```", metrics.__doc__.strip(), "```", ""]
    return "\n".join(lines)


def _plot_hit_curve(records: list[dict], path: Path) -> None:
    fig, ax = plt.subplots(figsize=(5, 3.5))
    for label, section in (("ours", "metrics"), ("llama-index default", "baseline")):
        curves = [r[section]["hit_curve"] for r in records if "hit_curve" in r.get(section, {})]
        if curves:
            ks = range(1, len(curves[0]) + 1)
            ax.plot(
                ks, [sum(c[k - 1] for c in curves) / len(curves) for k in ks], "o-", label=label
            )
    ax.set(xlabel="k", ylabel="hit@k", ylim=(0, 1.02), title="Evidence in the top k")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def _plot_groups(summary: dict, path: Path) -> None:
    groups = {**summary["by_type"], **summary["by_answerable"]}
    groups = {g: s for g, s in groups.items() if s["cases"]}
    keys = ("pass_rate", "hit@1", "full_recall@10", "expected_recall")
    fig, ax = plt.subplots(figsize=(7, 3.5))
    width = 0.8 / len(keys)
    for i, key in enumerate(keys):
        values = [groups[g].get(key) or 0 for g in groups]
        ax.bar([x + i * width for x in range(len(groups))], values, width, label=key)
    ax.set_xticks([x + 0.4 - width / 2 for x in range(len(groups))], list(groups))
    ax.set(ylim=(0, 1.05), title="Metrics by group")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def _plot_latency(records: list[dict], path: Path) -> None:
    fig, ax = plt.subplots(figsize=(5, 3.5))
    for stage in LATENCY_STAGES:
        values = [r["answer"]["timings_ms"].get(stage) for r in records]
        values = [v for v in values if v is not None]
        if values:
            ax.hist(values, bins=30, alpha=0.5, label=stage)
    ax.set(xlabel="ms", ylabel="questions", title="Latency per stage")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def write_report(
    out_dir: Path, name: str, summary: dict, records: list[dict], previous: dict | None = None
) -> Path:
    """Write report.md, report.json and the plots into out_dir; returns report.md's path."""
    out_dir.mkdir(parents=True, exist_ok=True)
    report = {"set": name, "summary": summary, "records": records}
    (out_dir / "report.json").write_text(json.dumps(report, indent=1, ensure_ascii=False))
    (out_dir / "report.md").write_text(render_markdown(name, summary, records, previous))
    if records:
        _plot_hit_curve(records, out_dir / "hit_at_k.png")
        _plot_groups(summary, out_dir / "by_group.png")
        _plot_latency(records, out_dir / "latency.png")
    if summary.get("reliability"):
        _plot_reliability(summary["reliability"], out_dir / "reliability.png")
    return out_dir / "report.md"


def _plot_reliability(table: list[dict], path: Path) -> None:
    """Confidence against the share of answers that passed, per bin (the diagonal: ideal)."""
    fig, ax = plt.subplots(figsize=(4, 4))
    ax.plot([0, 1], [0, 1], linestyle=":", color="grey", label="calibrated")
    mids = [(b["low"] + b["high"]) / 2 for b in table]
    ax.bar(mids, [b["accuracy"] for b in table], width=0.09, alpha=0.6, label="passed")
    ax.plot([b["confidence"] for b in table], [b["accuracy"] for b in table], marker="o")
    ax.set(
        xlabel="confidence", ylabel="share passed", xlim=(0, 1), ylim=(0, 1), title="Reliability"
    )
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
