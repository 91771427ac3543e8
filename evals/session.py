"""One eval run end to end: pick the index, run the cases with progress, write the report."""

from __future__ import annotations

import datetime as dt
import json
import sys
from dataclasses import dataclass
from pathlib import Path

from tqdm import tqdm

from evals.baseline import LlamaIndexDefault
from evals.corpus import engine_for_corpus
from evals.report import write_report
from evals.runner import load_cases, run_eval, summarize
from rag.config import Settings
from rag.engine import RagEngine


@dataclass(frozen=True)
class EvalResult:
    summary: dict
    records: list[dict]
    report_path: Path


def default_out_dir(question_set: Path) -> Path:
    """evals/results/<set>-<date>/, the set named by its folder and file (squad-v2-dev)."""
    name = f"{question_set.parent.name}-{question_set.stem}"
    return Path("evals") / "results" / f"{name}-{dt.date.today().isoformat()}"


def run_question_set(
    question_set: Path,
    settings: Settings,
    *,
    corpus: Path | None = None,
    k: int = 10,
    out_dir: Path | None = None,
    compare: Path | None = None,
    baseline: str | None = None,
    limit: int | None = None,
    on_record=None,
) -> EvalResult:
    """Run every case (Ctrl-C stops early and still writes the report of what finished)."""
    cases = load_cases(question_set)[:limit]
    previous = json.loads(compare.read_text()) if compare else None
    if corpus is not None:
        engine, _ = engine_for_corpus(corpus, settings, show_progress=True)
    else:
        engine = RagEngine(settings)
    retriever = LlamaIndexDefault(engine, show_progress=True) if baseline else None
    records: list[dict] = []
    interrupted = False
    progress = tqdm(total=len(cases), desc="eval", unit="case", file=sys.stderr)
    try:
        for record in run_eval(engine, cases, k=k, baseline=retriever):
            records.append(record)
            progress.update()
            if on_record:
                on_record(record)
    except KeyboardInterrupt:
        interrupted = True
    finally:
        progress.close()
    summary = summarize(records)
    summary["partial"] = interrupted
    summary["k"] = k
    name = f"{question_set.parent.name}/{question_set.name}"
    report = write_report(
        out_dir or default_out_dir(question_set), name, summary, records, previous
    )
    return EvalResult(summary, records, report)
