"""The UI's `/ask` endpoint through the real gradio_client, alone and under concurrent load."""

import os
from pathlib import Path

import pytest
from gradio_client import Client

from bench.ui_load import run_load

pytestmark = pytest.mark.slow
PESKOV_QUOTE = "First, we must have all details of the offer"


def test_the_ask_api_returns_the_answer_dict(url):
    client = Client(url, verbose=False)
    result = client.predict("What did Peskov say?", api_name="/ask")
    assert result["refused"] is False
    assert PESKOV_QUOTE in result["citations"][0]["quote"]
    follow_up = client.predict(
        "Whose cooperation did he hope for?", ["What did Trump say?"], api_name="/ask"
    )
    assert "Trump" in follow_up["query"] and "Putin" in follow_up["text"]
    with pytest.raises(Exception, match="The question is empty"):
        client.predict("   ", api_name="/ask")


def test_concurrent_sessions_get_their_own_answers(url):
    """A short version of bench/ui_load.py: 8 sessions for 5 seconds, no error, no cross-talk."""
    result = run_load(url, sessions=8, seconds=5)
    assert result["errors"] == 0, result["error_examples"]
    assert result["sessions_with_answers"] == 8
    assert result["requests"] >= 16


def test_the_ask_api_takes_metadata_filters(url):
    client = Client(url, verbose=False)
    seed = "file_name=ukraine-russia-ceasefire-2025-03-13.txt"
    result = client.predict("What did Peskov say?", [], [seed], api_name="/ask")
    assert PESKOV_QUOTE in result["citations"][0]["quote"]
    elsewhere = client.predict("What did Peskov say?", [], ["file_name=other.txt"], api_name="/ask")
    assert elsewhere["refused"] is True
    assert elsewhere["refusal_reason"].startswith("No indexed document matches the filter")
    with pytest.raises(Exception, match="is not KEY=VALUE"):
        client.predict("What did Peskov say?", [], ["file_name"], api_name="/ask")


def test_the_api_compares_filter_paths_as_text(url):
    """A caller's relative path is not resolved against the server's working directory (nor
    its existence there revealed): it is compared with the stored paths as given."""
    client = Client(url, verbose=False)
    stored = client.predict("What did Peskov say?", api_name="/ask")["citations"][0]["source"]
    relative = os.path.relpath(stored)  # names the seed from the server's (the test's) cwd
    assert Path(relative).resolve() == Path(stored)
    result = client.predict("What did Peskov say?", [], [f"file_path={relative}"], api_name="/ask")
    assert result["refused"] is True
    assert f"file_path = {relative!r}" in result["refusal_reason"]
    exact = client.predict("What did Peskov say?", [], [f"file_path={stored}"], api_name="/ask")
    assert exact["refused"] is False
