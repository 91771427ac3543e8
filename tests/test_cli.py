"""The `rag` command through Typer's runner: JSON contract, messages and exit codes."""

import json

import httpx
import pytest
from gradio_client import Client
from typer.testing import CliRunner

from bench.ui_load import free_port, serve_seed_index
from rag import Settings
from rag.cli import app

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


@pytest.mark.slow
def test_a_question_without_keywords_is_refused_and_not_echoed_back(seed_settings):
    result = _rag("ask", "the of and", data_dir=seed_settings.data_dir)
    assert result.exit_code == 0, result.stderr
    assert result.stdout.startswith("The documents don't say")
    # Only its first letter was capitalised for the search: nothing to show.
    assert "searched for" not in result.stdout


@pytest.mark.parametrize("k", ["0", "51"])
def test_a_passage_count_out_of_range_is_refused_before_loading(k, tmp_path):
    result = _rag("ask", "What did Peskov say?", "--k", k, data_dir=tmp_path)
    assert result.exit_code == 2
    assert "Invalid value for '--k'" in result.stderr


def test_asking_without_an_index_is_a_clear_error(tmp_path):
    result = _rag("ask", "What did Peskov say?", data_dir=tmp_path / "nothing")
    assert result.exit_code == 1
    assert "No index in" in result.stderr and "rag ingest" in result.stderr


@pytest.mark.slow
def test_ingest_reports_each_file_and_rejects_bad_ones(tmp_path, seed_corpus):
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "note.md").write_text("# Note\n\nOslo is cold in winter.\n")
    (tmp_path / "docs" / "empty.txt").write_text("")
    # A data dir relative to the working directory, as `make run`'s default "data" is.
    result = _rag("ingest", str(tmp_path / "docs"), data_dir="data")
    assert result.exit_code == 0, result.stderr
    assert "added" in result.stderr and "note.md" in result.stderr
    assert "empty.txt: empty file" in result.stderr
    assert "1 added" in result.stderr
    listed = _rag("docs", data_dir="data")
    assert "note.md" in listed.stdout and "chunks" in listed.stdout
    asked = _rag("ask", "Where is it cold in winter?", data_dir="data")
    assert asked.exit_code == 0, asked.stderr
    assert "Oslo" in asked.stdout


def test_ingest_of_nothing_usable_fails(tmp_path):
    (tmp_path / "empty.txt").write_text("")
    result = _rag("ingest", str(tmp_path / "empty.txt"), data_dir=tmp_path / "data")
    assert result.exit_code == 1
    assert "empty file" in result.stderr


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b'{"id": "a", "question": "What did Peskov say?"}\nnot json\n', ":2: not a JSON object"),
        (b'{"question": "What did Peskov say?"}\n', ":1: a case needs an `id`"),
        (b'["a list"]\n', ":1: a case needs an `id`"),
        (b'{"id": "a", "question": ""}\n', ":1: a case needs a `question` or `turns`"),
        (b"\n\n", "holds no cases"),
        (b'{"id": "a", "question": "Caf\xe9?"}\n', "Cannot read the question set"),
    ],
)
def test_a_malformed_question_set_is_a_clear_error(content, message, tmp_path):
    question_set = tmp_path / "set.jsonl"
    question_set.write_bytes(content)
    report = tmp_path / "report"
    result = _rag("eval", str(question_set), "--out", str(report), data_dir=tmp_path / "data")
    assert result.exit_code == 1
    assert message in result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    assert not report.exists()


@pytest.mark.slow
def test_eval_json_has_a_summary_and_one_record_per_case(seed_settings, datasets):
    question_set = datasets / "seed" / "dev.jsonl"
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


@pytest.mark.slow
def test_chat_carries_follow_ups_and_survives_bad_input(seed_settings):
    turns = "What did Trump say?\n\n   \nWhose cooperation did he hope for?\n"
    result = runner.invoke(app, ["--data-dir", str(seed_settings.data_dir), "chat"], input=turns)
    assert result.exit_code == 0, result.stderr
    assert "We want to put this war behind us" in result.stdout
    assert "(searched for: Whose cooperation did Trump hope for?)" in result.stdout
    assert "Putin" in result.stdout.split("searched for")[1]


@pytest.mark.slow
def test_docs_rm_deletes_a_document_and_names_unknown_ones(tmp_path, seed_corpus):
    note = tmp_path / "note.md"
    note.write_text("# Note\n\nThe vault opens on Tuesdays.\n")
    data = tmp_path / "data"
    assert _rag("ingest", str(seed_corpus), str(note), data_dir=data).exit_code == 0
    removed = _rag("docs", "rm", str(note), data_dir=data)
    assert removed.exit_code == 0, removed.stderr
    assert "deleted" in removed.stderr and "note.md" in removed.stderr
    assert "note.md" not in _rag("docs", data_dir=data).stdout
    again = _rag("docs", "rm", str(note), data_dir=data)
    assert again.exit_code == 1 and "is not in the index" in again.stderr


@pytest.mark.slow
def test_serve_starts_the_chat_on_the_given_port(tmp_path):
    """`rag ingest` then `rag serve` as real processes; the served UI answers over HTTP."""
    port = free_port()
    server = serve_seed_index(tmp_path / "data", port)
    try:
        page = httpx.get(f"http://127.0.0.1:{port}/", timeout=30)
        assert page.status_code == 200 and "Ask your documents" in page.text
        answer = Client(f"http://127.0.0.1:{port}/", verbose=False).predict(
            "What did Peskov say?", api_name="/ask"
        )
        assert "all details of the offer" in answer["text"]
    finally:
        server.terminate()
        server.wait(timeout=30)


def test_help_lists_every_setting():
    result = runner.invoke(app, ["--help"], terminal_width=200)
    assert result.exit_code == 0
    for name in Settings.model_fields:
        assert f"RAG_{name.upper()}" in result.stdout
