"""The MCP tools of `rag serve` (ui.mcp_tools) through a real MCP client session."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator

import httpx
import pytest
from mcp import ClientSession
from mcp.client.streamable_http import streamable_http_client
from pydantic import SecretStr

from rag import RagEngine, Settings
from rag.loaders import read_source_text
from tests.conftest import serve_app

pytestmark = pytest.mark.slow
PESKOV_QUOTE = "First, we must have all details of the offer"


async def _session_calls(url: str, headers: dict[str, str] | None = None) -> dict:
    """List the tools and call each once, as an assistant would."""
    async with (
        httpx.AsyncClient(headers=headers, timeout=60) as http,
        streamable_http_client(f"{url}mcp", http_client=http) as (read, write, _),
        ClientSession(read, write) as session,
    ):
        await session.initialize()
        tools = await session.list_tools()
        asked = await session.call_tool("ask", {"question": "What did Peskov say?"})
        refused = await session.call_tool("ask", {"question": "Who won the 1998 World Cup?"})
        found = await session.call_tool("search", {"query": "Peskov", "k": 2})
    return {
        "tools": {tool.name: tool for tool in tools.tools},
        "ask": asked.structuredContent,
        "refused": refused.structuredContent,
        "search": found.structuredContent,
    }


def test_an_mcp_client_lists_the_tools_and_gets_cited_answers(url):
    got = asyncio.run(_session_calls(url))
    assert set(got["tools"]) == {"ask", "search"}
    assert "citations" in (got["tools"]["ask"].description or "")
    answer = got["ask"]
    assert answer["refused"] is False and PESKOV_QUOTE in answer["text"]
    citation = answer["citations"][0]
    assert (
        read_source_text(citation["source"])[citation["start"] : citation["end"]]
        == (citation["quote"])
    )
    assert got["refused"]["refused"] is True and got["refused"]["citations"] == []
    passages = got["search"]["result"]
    assert len(passages) == 2 and PESKOV_QUOTE in passages[0]["text"]


@pytest.fixture
def keyed_url(seed_settings: Settings) -> Iterator[str]:
    settings = seed_settings.model_copy(update={"api_key": SecretStr("mcp-key")})
    yield from serve_app(RagEngine(settings))


def test_the_tools_need_the_api_key_when_one_is_set(keyed_url):
    refused = httpx.post(f"{keyed_url}mcp", json={"jsonrpc": "2.0", "id": 1, "method": "ping"})
    assert (
        refused.status_code == 401 and "RAG_API_KEY" in json.loads(refused.text)["error"]["message"]
    )
    got = asyncio.run(_session_calls(keyed_url, {"Authorization": "Bearer mcp-key"}))
    assert PESKOV_QUOTE in got["ask"]["text"]
