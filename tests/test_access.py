"""What a client may send and what it is told: bounded questions and conversations, no
unauthenticated server beyond this machine, no request from another site, no credentials in
messages, no uploads kept in Gradio's cache."""

from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from rag import RagEngine, RagError
from rag.answer.llm import _unavailable, public_url
from rag.cli import app
from rag.engine import MAX_HISTORY_TURNS, MAX_QUESTION_CHARS
from tests.conftest import serve_app
from ui.guard import allowed_hosts, is_loopback


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
    assert is_loopback(host) is loopback


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


@pytest.mark.parametrize(
    ("bound", "extra", "hosts"),
    [("127.0.0.1", "", ["localhost", "127.0.0.1", "::1"]),
     ("10.0.0.7", "", ["localhost", "127.0.0.1", "::1", "10.0.0.7"]),
     ("0.0.0.0", "", ["*"]),  # reached by names it cannot know (a login is required there)
     ("0.0.0.0", "Rag.Example.org, 10.0.0.7", ["localhost", "127.0.0.1", "::1", "0.0.0.0",
                                               "rag.example.org", "10.0.0.7"])],
)  # fmt: skip
def test_the_ui_answers_to_its_own_host_names(bound, extra, hosts):
    assert allowed_hosts(bound, extra) == hosts


@pytest.mark.slow
def test_another_host_or_origin_is_refused_before_the_app(url):
    """DNS rebinding (another site's name resolving to 127.0.0.1) arrives with that name as
    Host; a cross-site form post or fetch arrives with that site's Origin. Both are refused,
    for the API as for the page; the UI's own page and scripts pass."""
    own = httpx.URL(url).netloc.decode()
    info = f"{url}gradio_api/info"
    assert httpx.get(info).status_code == 200  # a script: no Origin
    assert httpx.get(info, headers={"Origin": f"http://{own}"}).status_code == 200
    assert httpx.get(url, headers={"Host": "attacker.example"}).status_code == 400
    rebinding = {"Host": f"attacker.example:{httpx.URL(url).port}"}
    assert httpx.post(f"{url}gradio_api/upload", headers=rebinding).status_code == 400
    for origin in ("http://attacker.example", "null", f"http://{own}.attacker.example"):
        upload = httpx.post(
            f"{url}gradio_api/upload",
            headers={"Origin": origin},
            files={"files": ("a.txt", b"planted")},
        )
        assert upload.status_code == 403, origin
        assert upload.text == "Cross-origin requests are not allowed."
    # Gradio answers a preflight itself, without allowing the origin: the browser stops there.
    preflight = httpx.options(
        f"{url}gradio_api/call/ask",
        headers={"Origin": "http://attacker.example", "Access-Control-Request-Method": "POST"},
    )
    assert "access-control-allow-origin" not in preflight.headers
    question = {"data": ["What did Peskov say?"]}
    cross_site = httpx.post(
        f"{url}gradio_api/call/ask", json=question, headers={"Origin": "http://attacker.example"}
    )
    assert cross_site.status_code == 403
    assert httpx.post(f"{url}gradio_api/call/ask", json=question).status_code == 200


@pytest.mark.slow
def test_gradio_s_cache_of_uploads_is_emptied_when_the_server_stops(own_settings):
    served = serve_app(RagEngine(own_settings))
    url = next(served)
    response = httpx.post(f"{url}gradio_api/upload", files={"files": ("a.txt", b"cached")})
    (cached,) = response.json()
    assert Path(cached).read_bytes() == b"cached"
    served.close()  # as `rag serve` stops
    assert not Path(cached).exists()
