"""`rag eval` end to end on the seed set: records, summary, report files, compare, Ctrl-C."""

import json
import shutil
from pathlib import Path

import pytest

from evals.corpus import corpus_fingerprint, engine_for_corpus
from evals.runner import summarize
from evals.session import run_question_set
from rag import Settings

pytestmark = pytest.mark.slow


@pytest.fixture
def seed_set(datasets: Path) -> Path:
    return datasets / "seed" / "dev.jsonl"


def test_a_run_writes_markdown_json_and_plots(seed_settings, tmp_path, seed_set):
    result = run_question_set(seed_set, seed_settings, out_dir=tmp_path / "out")
    out = tmp_path / "out"
    assert {p.name for p in out.iterdir()} == {
        "report.md",
        "report.json",
        "hit_at_k.png",
        "by_group.png",
        "latency.png",
        "reliability.png",  # the reader's confidence against the answers that passed
    }
    report = json.loads((out / "report.json").read_text())
    assert report["summary"] == result.summary
    assert len(report["records"]) == 11
    summary = result.summary
    assert summary["citation_validity"] == 1.0
    assert summary["refusal_accuracy"] == 1.0  # the three unanswerable seed questions
    assert summary["hit@10"] == 1.0
    assert summary["by_answerable"]["unanswerable"]["cases"] == 3
    assert set(summary["latency_ms"]) == {"embed", "search", "synthesize", "total"}
    markdown = (out / "report.md").read_text()
    assert "| hit@1 |" in markdown and "## Latency (ms)" in markdown
    assert "## Metric definitions" in markdown
    assert "## Calibration" in markdown and 0 <= summary["ece"] <= 1
    assert summary["answer_em"] is not None and summary["answer_f1"] >= summary["answer_em"]


def test_compare_shows_deltas_and_the_cases_that_flipped(seed_settings, tmp_path, seed_set):
    first = run_question_set(seed_set, seed_settings, out_dir=tmp_path / "a", limit=3)
    previous = json.loads((tmp_path / "a" / "report.json").read_text())
    previous["records"][0]["passed"] = not previous["records"][0]["passed"]
    previous["summary"]["pass_rate"] = 0.25
    (tmp_path / "a" / "report.json").write_text(json.dumps(previous))
    run_question_set(
        seed_set,
        seed_settings,
        out_dir=tmp_path / "b",
        limit=3,
        compare=tmp_path / "a" / "report.json",
    )
    markdown = (tmp_path / "b" / "report.md").read_text()
    assert "Δ vs previous" in markdown
    rate = first.summary["pass_rate"]
    assert f"| pass_rate | {rate:.3f} | {rate - 0.25:+.3f} |" in markdown
    flipped = previous["records"][0]["id"]
    assert f"- {flipped}: " in markdown.split("## Cases that flipped")[1]


def test_ctrl_c_keeps_the_finished_cases_and_writes_a_partial_report(
    seed_settings, tmp_path, seed_set
):
    seen = []

    def interrupt_after_two(record):
        seen.append(record["id"])
        if len(seen) == 2:
            raise KeyboardInterrupt

    result = run_question_set(
        seed_set, seed_settings, out_dir=tmp_path / "out", on_record=interrupt_after_two
    )
    assert result.summary["partial"] is True
    assert [r["id"] for r in result.records] == seen
    assert "Partial run" in (tmp_path / "out" / "report.md").read_text()


def test_a_corpus_is_indexed_once_and_reindexed_when_it_changes(tmp_path):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "a.txt").write_text("Alpha\nThe alpha file mentions Oslo.\n")
    settings = Settings(data_dir=tmp_path / "data")
    engine, report = engine_for_corpus(corpus, settings)
    assert report is not None and report.count("added") == 1
    again, second = engine_for_corpus(corpus, settings)
    assert second is None
    assert again.settings.data_dir == engine.settings.data_dir
    assert "Oslo" in again.ask("Which city does the alpha file mention?").text
    before = corpus_fingerprint(corpus, settings)
    copy = shutil.copytree(corpus, tmp_path / "copy")  # its citations point at other files
    assert corpus_fingerprint(copy, settings) != before
    (corpus / "a.txt").write_text("Alpha\nThe alpha file mentions Bergen.\n")
    assert corpus_fingerprint(corpus, settings) != before


def test_summaries_group_by_type_and_report_yes_no_answers_apart():
    def record(case_type, passed, hit, expect=("Oslo",)):
        metrics = {"refused": 0.0, "expected_recall": float(passed), "hit@1": hit}
        return {
            "id": f"{case_type}-{passed}-{hit}",
            "type": case_type,
            "answerable": True,
            "expect": list(expect),
            "passed": passed,
            "metrics": metrics,
            "answer": {"timings_ms": {"total": 10.0}},
        }

    records = [
        record("bridge", True, 1.0),
        record("bridge", False, 0.0),
        record("yesno", True, 1.0, expect=["yes"]),
    ]
    summary = summarize(records)
    assert summary["pass_rate"] == pytest.approx(2 / 3, abs=1e-4)
    assert summary["by_type"]["bridge"]["hit@1"] == 0.5
    assert summary["by_type"]["yesno"]["pass_rate"] == 1.0
    assert summary["latency_ms"]["total"] == {"p50": 10.0, "p95": 10.0}
    assert summary["false_refusal_rate"] == 0.0
    assert summary["by_answer"]["yes/no"]["cases"] == 1
    assert summary["by_answer"]["phrase"]["expected_recall"] == 0.5
