"""What a client may send and what it is told: bounded questions and conversations, no
unauthenticated server beyond this machine, no credentials in messages."""

import pytest
from typer.testing import CliRunner

from rag import RagError
from rag.answer.llm import _unavailable, public_url
from rag.cli import _loopback, app
from rag.engine import MAX_HISTORY_TURNS, MAX_QUESTION_CHARS


@pytest.mark.slow
def test_an_endless_question_or_conversation_gets_a_clear_message(seed_engine):
    with pytest.raises(RagError, match="at most 2,000"):
        seed_engine.ask("What did Peskov say? " * 200)
    assert not seed_engine.ask("What did Peskov say?" + " " * (MAX_QUESTION_CHARS - 30)).refused
    with pytest.raises(RagError, match="Start a new conversation"):
        seed_engine.ask("And Putin?", history=["What did Peskov say?"] * (MAX_HISTORY_TURNS + 1))
    answer = seed_engine.ask("And Putin?", history=["What did Peskov say?"] * MAX_HISTORY_TURNS)
    assert answer.text


@pytest.mark.parametrize(
    ("host", "loopback"),
    [("127.0.0.1", True), ("127.0.1.1", True), ("::1", True), ("localhost", True),
     ("0.0.0.0", False), ("192.168.1.5", False), ("::", False), ("example.org", False)],
)  # fmt: skip
def test_only_loopback_addresses_are_this_machine(host, loopback):
    assert _loopback(host) is loopback


def test_serving_beyond_this_machine_needs_a_login_or_an_explicit_flag(monkeypatch):
    monkeypatch.delenv("RAG_UI_AUTH", raising=False)
    result = CliRunner().invoke(app, ["serve", "--host", "0.0.0.0"])
    assert result.exit_code == 1
    assert "RAG_UI_AUTH" in result.stderr and "--insecure-no-auth" in result.stderr


def test_llm_server_credentials_never_reach_a_message():
    url = "https://alice:s3cret@llm.example.org:8443/v1?api_key=k3y"
    assert public_url(url) == "https://llm.example.org:8443/v1"
    error = _unavailable(url, ConnectionError(f"cannot reach {url}"))
    assert "s3cret" not in str(error) and "k3y" not in str(error)
    assert "https://llm.example.org:8443/v1" in str(error)
