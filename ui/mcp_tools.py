"""The Model Context Protocol tools of `rag serve`: `ask` and `search` over the documents,
so an assistant (Claude Desktop, an IDE, any MCP client) can query them with citations.

Served by the `mcp` package's FastMCP over streamable HTTP at `/mcp`, on the same app, port
and Host/Origin guards as the chat (ui.guard does the DNS-rebinding checks FastMCP would
otherwise add for loopback only), behind the API's key rule (ui.api.key_refusal).
Gradio's own MCP server is not used: its extra pins pydantic below the version we run.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from mcp.server.fastmcp import FastMCP
from mcp.server.transport_security import TransportSecuritySettings
from starlette.datastructures import Headers
from starlette.responses import JSONResponse
from starlette.routing import BaseRoute, Route
from starlette.types import ASGIApp, Receive, Scope, Send

from rag import RagEngine
from rag.config import MAX_TOP_K
from ui.api import key_refusal

MCP_PATH = "/mcp"


def build_mcp(engine: RagEngine) -> FastMCP:
    """The two tools over `engine`."""
    server = FastMCP(
        "rag",
        instructions=(
            "Answers questions from the user's own documents. Every sentence of an answer is "
            "a sentence of a document, cited with its file and character span; when the "
            "documents do not hold the answer, `refused` is true. Quote the citations."
        ),
        streamable_http_path=MCP_PATH,
        stateless_http=True,  # each call stands alone: no session to keep per client
        json_response=True,
        transport_security=TransportSecuritySettings(enable_dns_rebinding_protection=False),
    )

    @server.tool()
    def ask(question: str) -> dict[str, Any]:
        """Answer a question from the indexed documents. Returns `text` (the answer, with
        [n] markers), `citations` (n, source file, quote, start/end character offsets, page,
        section), `refused` and `refusal_reason`, and `confidence`."""
        answer = engine.ask(question).to_dict()
        keys = ("text", "citations", "refused", "refusal_reason", "confidence", "query")
        return {key: answer[key] for key in keys}

    @server.tool()
    def search(query: str, k: int = 5) -> list[dict[str, Any]]:
        """The k passages of the documents most relevant to `query` (1 to 50), best first:
        source file, title, text, start/end character offsets, page, section and score."""
        passages = engine.retrieve(query, max(1, min(k, MAX_TOP_K)))
        keys = ("rank", "source", "title", "text", "start", "end", "page", "section", "score")
        return [{key: getattr(p, key) for key in keys} for p in passages]

    return server


def mcp_routes(server: FastMCP, engine: RagEngine, require_key: bool) -> list[BaseRoute]:
    """The `/mcp` route, with the API's key check in front."""
    (route,) = [r for r in server.streamable_http_app().routes if isinstance(r, Route)]
    return [Route(MCP_PATH, endpoint=_KeyChecked(route.app, engine, require_key))]


def mcp_lifespan(server: FastMCP):
    """The app lifespan that runs FastMCP's session manager (its task group)."""

    @asynccontextmanager
    async def lifespan(app: Any) -> AsyncIterator[None]:
        async with server.session_manager.run():
            yield

    return lifespan


class _KeyChecked:
    def __init__(self, app: ASGIApp, engine: RagEngine, require_key: bool) -> None:
        self.app, self.engine, self.require_key = app, engine, require_key

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        authorization = Headers(scope=scope).get("authorization")
        refusal = key_refusal(self.engine, self.require_key, authorization)
        if refusal:
            body = {"error": {"message": refusal, "type": "authentication_error", "code": 401}}
            await JSONResponse(body, status_code=401)(scope, receive, send)
            return
        await self.app(scope, receive, send)
