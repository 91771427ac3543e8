"""The HTTP API of `rag serve` (ui.api) through real clients: the official `openai` client,
llama-index's OpenAILike, and plain HTTP for the errors, on a real server."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import openai
import pytest
from llama_index.core.llms import ChatMessage
from llama_index.llms.openai_like import OpenAILike
from pydantic import SecretStr

from rag import RagEngine, Settings
from rag.loaders import read_source_text
from tests.conftest import serve_app

pytestmark = pytest.mark.slow
PESKOV_QUOTE = "First, we must have all details of the offer"
PESKOV = [{"role": "user", "content": "What did Peskov say?"}]


def _client(url: str, key: str = "unused") -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{url}v1", api_key=key, max_retries=0)


def _call(url: str, method: str, path: str, body: object = None, key: str | None = None):
    """(status, JSON body) of one request; errors are answers too."""
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(f"{url}{path}", data=data, method=method)
    request.add_header("Content-Type", "application/json")
    if key:
        request.add_header("Authorization", f"Bearer {key}")
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def _verbatim(citation: dict) -> None:
    text = read_source_text(citation["source"])
    assert text[citation["start"] : citation["end"]] == citation["quote"]


def test_the_openai_client_gets_the_quote_and_its_citation(url):
    client = _client(url)
    assert [m.id for m in client.models.list()] == ["rag"]
    reply = client.chat.completions.create(model="rag", messages=PESKOV)  # type: ignore[arg-type]
    assert PESKOV_QUOTE in (reply.choices[0].message.content or "")
    extra = reply.model_extra or {}
    assert extra["refused"] is False and extra["query"] == "What did Peskov say?"
    assert PESKOV_QUOTE in extra["citations"][0]["quote"]
    _verbatim(extra["citations"][0])
    assert set(extra["citations"][0]) >= {"n", "source", "quote", "start", "end", "page"}

    chunks = list(client.chat.completions.create(model="rag", messages=PESKOV, stream=True))  # type: ignore[arg-type]
    streamed = "".join(c.choices[0].delta.content or "" for c in chunks)
    assert streamed == reply.choices[0].message.content
    assert chunks[-1].choices[0].finish_reason == "stop"
    last = chunks[-1].model_extra or {}
    assert last["citations"] == extra["citations"]


def test_a_conversation_is_condensed_and_unanswerable_questions_are_refused(url):
    client = _client(url)
    follow_up = [
        {"role": "system", "content": "Answer from the documents."},
        {"role": "user", "content": "What did Trump say?"},
        {"role": "assistant", "content": "Trump said he hoped for Putin's cooperation. [1]"},
        {
            "role": "user",
            "content": [{"type": "text", "text": "Whose cooperation did he hope for?"}],
        },
    ]
    reply = client.chat.completions.create(model="rag", messages=follow_up)  # type: ignore[arg-type]
    assert "Trump" in (reply.model_extra or {})["query"]
    assert "Putin" in (reply.choices[0].message.content or "")
    refused = client.chat.completions.create(
        model="rag",
        messages=[{"role": "user", "content": "What is the capital of Australia?"}],
    )
    assert (refused.model_extra or {})["refused"] is True
    assert (refused.model_extra or {})["citations"] == []
    assert "The documents don't say" in (refused.choices[0].message.content or "")


def test_llama_index_can_use_it_as_an_llm(url):
    llm = OpenAILike(api_base=f"{url}v1", api_key="unused", model="rag", is_chat_model=True)
    reply = llm.chat([ChatMessage(role="user", content="What did Peskov say?")])
    assert PESKOV_QUOTE in (reply.message.content or "")


def test_retrieve_and_health(url):
    status, body = _call(url, "POST", "v1/retrieve", {"query": "What did Peskov say?", "k": 3})
    assert status == 200 and [p["rank"] for p in body["passages"]] == [1, 2, 3]
    assert PESKOV_QUOTE in body["passages"][0]["text"]
    assert "units" not in body["passages"][0]
    dense = _call(url, "POST", "v1/retrieve", {"query": "Peskov", "k": 2, "mode": "dense"})
    assert dense[0] == 200 and len(dense[1]["passages"]) == 2
    assert _call(url, "POST", "v1/retrieve", {"query": "Peskov", "mode": "xdensex"})[0] == 400
    status, health = _call(url, "GET", "health")
    assert status == 200 and health["index_loaded"] is True
    assert health["documents"] == 1 and health["chunks"] > 0 and health["store"] == "faiss"


@pytest.mark.parametrize(
    ("body", "status", "message"),
    [
        ({"messages": []}, 400, "messages"),
        ({"messages": [{"role": "user", "content": "   "}]}, 400, "The question is empty"),
        ({"messages": [{"role": "user", "content": "x" * 2_001}]}, 400, "at most 2,000"),
        ({"messages": [{"role": "assistant", "content": "Hi"}]}, 400, "must be the user's"),
        ({"messages": [{"role": "wizard", "content": "Hi"}]}, 400, "role"),
        ({"messages": PESKOV, "k": 0}, 400, "k"),
        ("not a request", 400, "Bad request"),
    ],
)
def test_bad_requests_get_a_message_and_400(url, body, status, message):
    got, answer = _call(url, "POST", "v1/chat/completions", body)
    assert got == status
    assert message in answer["error"]["message"] and answer["error"]["code"] == status


@pytest.fixture
def keyed_url(seed_settings: Settings) -> Iterator[str]:
    settings = seed_settings.model_copy(update={"api_key": SecretStr("s3cret-key")})
    yield from serve_app(RagEngine(settings))


def test_the_api_key_is_required_when_set(keyed_url):
    assert _call(keyed_url, "GET", "v1/models")[0] == 401
    assert _call(keyed_url, "GET", "v1/models", key="wrong")[0] == 401
    assert _call(keyed_url, "GET", "v1/models", key="s3cret-key")[0] == 200
    with pytest.raises(openai.AuthenticationError, match="RAG_API_KEY"):
        _client(keyed_url, "wrong").chat.completions.create(model="rag", messages=PESKOV)  # type: ignore[arg-type]
    reply = _client(keyed_url, "s3cret-key").chat.completions.create(model="rag", messages=PESKOV)  # type: ignore[arg-type]
    assert PESKOV_QUOTE in (reply.choices[0].message.content or "")


def test_beyond_loopback_without_a_key_the_api_answers_nothing(seed_settings):
    """`rag serve --host 0.0.0.0` (with a UI login): no RAG_API_KEY, no API."""
    from ui.app import launch_options

    engine = RagEngine(seed_settings)
    beyond = launch_options(engine, "0.0.0.0")["app_kwargs"]
    with contextmanager(serve_app)(engine, app_kwargs=beyond) as url:
        status, body = _call(url, "GET", "v1/models")
        assert status == 401 and "set RAG_API_KEY" in body["error"]["message"]


def test_documents_are_added_listed_and_deleted(own_url, tmp_path):
    otters = tmp_path / "otters.txt"
    otters.write_text("Otters\nSea otters hold hands while they sleep.\n")
    binary = tmp_path / "blob.txt"
    binary.write_bytes(b"\x00\x01\x02" * 100)
    results = _upload(own_url, [otters, binary])["results"]
    by_file = {r["file"]: r for r in results}
    assert by_file["otters.txt"]["outcome"] == "added"
    assert (
        by_file["blob.txt"]["outcome"] == "rejected" and "binary" in by_file["blob.txt"]["reason"]
    )
    assert not Path(by_file["blob.txt"]["source"]).exists()  # no copy of what was rejected
    status, listed = _call(own_url, "GET", "v1/documents")
    sources = [d["source"] for d in listed["documents"]]
    assert by_file["otters.txt"]["source"] in sources and len(sources) == 2
    reply = _client(own_url).chat.completions.create(
        model="rag", messages=[{"role": "user", "content": "Do sea otters hold hands?"}]
    )
    assert "hold hands" in (reply.choices[0].message.content or "")
    source = by_file["otters.txt"]["source"]
    status, deleted = _call(own_url, "DELETE", f"v1/documents?source={source}")
    assert status == 200 and deleted["deleted"]["chunks"] == 1
    status, missing = _call(own_url, "DELETE", f"v1/documents?source={source}")
    assert status == 404 and "not in the index" in missing["error"]["message"]


def _upload(url: str, paths: list[Path]) -> dict:
    """A multipart POST of `paths` as `files` (what `curl -F files=@PATH` sends)."""
    boundary = "rag-test-boundary"
    parts = b""
    for path in paths:
        parts += (
            (
                f'--{boundary}\r\nContent-Disposition: form-data; name="files"; '
                f'filename="{path.name}"\r\nContent-Type: application/octet-stream\r\n\r\n'
            ).encode()
            + path.read_bytes()
            + b"\r\n"
        )
    parts += f"--{boundary}--\r\n".encode()
    request = urllib.request.Request(f"{url}v1/documents", data=parts, method="POST")
    request.add_header("Content-Type", f"multipart/form-data; boundary={boundary}")
    with urllib.request.urlopen(request, timeout=120) as response:
        return json.loads(response.read())


def test_no_index_is_503_with_what_to_do(tmp_path):
    engine = RagEngine(Settings(data_dir=tmp_path / "empty"))
    with contextmanager(serve_app)(engine) as url:
        status, body = _call(url, "POST", "v1/chat/completions", {"messages": PESKOV})
        assert status == 503 and "rag ingest" in body["error"]["message"]
        status, health = _call(url, "GET", "health")
        assert status == 503 and health["index_loaded"] is False


def test_an_upload_over_the_limit_is_413(own_settings, tmp_path):
    engine = RagEngine(own_settings.model_copy(update={"max_upload_mb": 1}))
    big = tmp_path / "big.txt"
    big.write_text("word " * 500_000)  # 2.5 MB
    with contextmanager(serve_app)(engine) as url:
        with pytest.raises(urllib.error.HTTPError) as refused:
            _upload(url, [big])
        assert refused.value.code == 413
        assert "RAG_MAX_UPLOAD_MB" in json.loads(refused.value.read())["error"]["message"]
        assert _call(url, "GET", "v1/documents")[1]["documents"][0]["source"].endswith(".txt")
        assert not (own_settings.uploads_dir / "big.txt").exists()
