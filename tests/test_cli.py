"""The `rag` command through Typer's runner: JSON contract, messages and exit codes."""

import json

import pytest
from typer.testing import CliRunner

from rag.cli import app
from tests.conftest import SHARED_DATASETS

runner = CliRunner()

ANSWER_KEYS = {"text", "refused", "query", "timings_ms", "citations", "retrieved"}
CITATION_KEYS = {"n", "source", "title", "quote", "start", "end", "passage", "score"}
PASSAGE_KEYS = {"rank", "source", "text", "score"}


def _rag(*args: str, data_dir=None):
    options = ["--data-dir", str(data_dir)] if data_dir else []
    return runner.invoke(app, [*options, *args])


@pytest.mark.slow
def test_ask_json_matches_the_contract(seed_settings):
    result = _rag("ask", "What did Peskov say?", "--json", data_dir=seed_settings.data_dir)
    assert result.exit_code == 0, result.stderr
    answer = json.loads(result.stdout)
    assert set(answer) >= ANSWER_KEYS
    assert answer["refused"] is False
    assert answer["query"] == "What did Peskov say?"
    assert "First, we must have all details of the offer." in answer["text"]
    assert answer["citations"] and all(set(c) >= CITATION_KEYS for c in answer["citations"])
    assert answer["retrieved"] and all(set(p) >= PASSAGE_KEYS for p in answer["retrieved"])


@pytest.mark.slow
def test_ask_prints_the_answer_and_its_sources(seed_settings):
    result = _rag("ask", "What did Peskov say?", data_dir=seed_settings.data_dir)
    assert result.exit_code == 0
    assert "[1]" in result.stdout
    assert "Sources:" in result.stdout
    assert "ukraine-russia-ceasefire-2025-03-13.txt" in result.stdout


@pytest.mark.parametrize("question", ["", "   ", "\n"])
def test_an_empty_question_is_a_clear_error(question, tmp_path):
    result = _rag("ask", question, data_dir=tmp_path)
    assert result.exit_code == 1
    assert "The question is empty" in result.stderr
    assert result.stdout == ""


def test_asking_without_an_index_is_a_clear_error(tmp_path):
    result = _rag("ask", "What did Peskov say?", data_dir=tmp_path / "nothing")
    assert result.exit_code == 1
    assert "No index in" in result.stderr and "rag ingest" in result.stderr


@pytest.mark.slow
def test_ingest_reports_each_file_and_rejects_bad_ones(tmp_path, seed_corpus):
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "note.md").write_text("# Note\n\nOslo is cold in winter.\n")
    (tmp_path / "docs" / "empty.txt").write_text("")
    result = _rag("ingest", str(tmp_path / "docs"), data_dir=tmp_path / "data")
    assert result.exit_code == 0, result.stderr
    assert "added" in result.stderr and "note.md" in result.stderr
    assert "empty.txt: empty file" in result.stderr
    assert "1 added" in result.stderr
    listed = _rag("docs", data_dir=tmp_path / "data")
    assert "note.md" in listed.stdout and "chunks" in listed.stdout


def test_ingest_of_nothing_usable_fails(tmp_path):
    (tmp_path / "empty.txt").write_text("")
    result = _rag("ingest", str(tmp_path / "empty.txt"), data_dir=tmp_path / "data")
    assert result.exit_code == 1
    assert "empty file" in result.stderr


@pytest.mark.slow
def test_eval_json_has_a_summary_and_one_record_per_case(seed_settings):
    question_set = SHARED_DATASETS / "seed" / "dev.jsonl"
    result = _rag(
        "eval", str(question_set), "--json", "--out", "report", data_dir=seed_settings.data_dir
    )
    assert result.exit_code == 0, result.stderr
    report = json.loads(result.stdout)
    cases = [json.loads(line) for line in question_set.read_text().splitlines() if line.strip()]
    assert [r["id"] for r in report["records"]] == [c["id"] for c in cases]
    assert report["summary"]["cases"] == len(cases)
    assert report["summary"]["passed"] == sum(r["passed"] for r in report["records"])
    by_id = {r["id"]: r for r in report["records"]}
    assert by_id["d-peskov"]["passed"] is True
    assert set(by_id["d-peskov"]["answer"]) >= ANSWER_KEYS
    assert by_id["d-no-worldcup"]["answer"]["refused"] is True
    # The conversation case records the answer to its last turn.
    assert by_id["d-followup-trump"]["answer"]["question"] == "Whose cooperation did he hope for?"
    assert "PASS  d-peskov" in result.stderr
    assert "Report: " in result.stderr
