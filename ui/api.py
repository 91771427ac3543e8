"""The HTTP API of `rag serve`: OpenAI-compatible chat with citations, retrieval, documents.

A FastAPI app mounted on Gradio's own at `/v1` (its OpenAPI page: `/v1/docs`), so the chat
and the API share one engine, one port and the Host/Origin guards (ui.guard). Any OpenAI
client can talk to it (`base_url=http://HOST:PORT/v1`); the citations, which OpenAI's
format has no place for, travel beside `choices` in the same keys as `rag ask --json`.

Errors are OpenAI's shape, `{"error": {"message", "type", "code"}}`, with the message a
person can act on and the status that fits (400, 401, 404, 409, 413, 503).
"""

from __future__ import annotations

import hmac
import json
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import asdict
from pathlib import Path
from typing import Annotated, Any, Literal

from fastapi import Depends, FastAPI, Header, Request, UploadFile
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, StreamingResponse
from pydantic import BaseModel, ConfigDict, Field
from starlette.routing import Route

from rag import Answer, RagEngine, RagError
from rag.config import MAX_TOP_K
from rag.engine import MAX_HISTORY_TURNS
from rag.errors import (
    DocumentNotFoundError,
    IndexBusyError,
    IndexCorruptError,
    IndexMissingError,
    LlmUnavailableError,
    ModelMissingError,
    StoreUnavailableError,
)
from rag.retrieve import RETRIEVAL_MODES
from ui.source_view import document_view
from ui.uploads import ingest_uploads

MODEL = "rag"  # the one model `GET /v1/models` lists: this server's documents


class _Unauthorized(RagError):
    pass


class _TooLarge(RagError):
    def __init__(self, name: str, limit_mb: int) -> None:
        super().__init__(f"{name} is over the {limit_mb} MB upload limit (RAG_MAX_UPLOAD_MB).")


# Input mistakes are 400 (RagError's default); the rest say what the server cannot do now.
_STATUS: dict[type[RagError], int] = {
    _Unauthorized: 401,
    _TooLarge: 413,
    IndexMissingError: 503,
    StoreUnavailableError: 503,
    LlmUnavailableError: 503,
    IndexBusyError: 409,
    DocumentNotFoundError: 404,
    IndexCorruptError: 500,
    ModelMissingError: 500,
}


class Message(BaseModel):
    role: Literal["system", "developer", "user", "assistant", "tool"]
    content: str | list[dict[str, Any]] | None = None

    def text(self) -> str:
        """The content's text (OpenAI clients may send a list of typed parts)."""
        if isinstance(self.content, list):
            return " ".join(p.get("text", "") for p in self.content if p.get("type") == "text")
        return self.content or ""


class ChatRequest(BaseModel):
    # OpenAI clients send sampling options (temperature, max_tokens…): accepted, unused,
    # since the answer is the documents' own sentences.
    model_config = ConfigDict(extra="allow")

    model: str = MODEL
    messages: list[Message] = Field(min_length=1)
    stream: bool = False
    k: int | None = Field(None, ge=1, le=MAX_TOP_K, description="Passages to retrieve.")


class RetrieveRequest(BaseModel):
    query: str
    k: int | None = Field(None, ge=1, le=MAX_TOP_K)
    mode: str = Field("hybrid", pattern=f"^({'|'.join(RETRIEVAL_MODES)})$")


def build_api(engine: RagEngine, require_key: bool) -> FastAPI:
    """The API over `engine`. `require_key`: refuse every request while RAG_API_KEY is unset
    (the server is bound beyond loopback: the same rule as the UI's login)."""
    api = FastAPI(
        title="rag",
        summary="Answers from your documents, with citations (OpenAI-compatible chat).",
        dependencies=[Depends(_authorizer(engine, require_key))],
    )
    api.add_exception_handler(RagError, _rag_error)  # type: ignore[arg-type]
    api.add_exception_handler(RequestValidationError, _bad_request)  # type: ignore[arg-type]

    @api.get("/models")
    def models() -> dict[str, Any]:
        """The one model: answers from this server's documents."""
        card = {"id": MODEL, "object": "model", "created": 0, "owned_by": "rag"}
        return {"object": "list", "data": [card]}

    @api.post("/chat/completions", response_model=None)
    def chat_completions(request: ChatRequest) -> dict[str, Any] | StreamingResponse:
        """The answer to the last user message; earlier user messages are the conversation
        (follow-ups are condensed as in the chat). Streamed as server-sent events with
        `"stream": true`; the last event carries the citations."""
        question, history = _conversation(request.messages)
        stream = engine.ask_stream(question, history=history, k=request.k)
        first = next(stream)  # raises here, before a 200 is sent, if the question is refused
        if request.stream:
            return StreamingResponse(_events(first, stream), media_type="text/event-stream")
        answer = first if isinstance(first, Answer) else _last(stream)
        return _completion(answer)

    @api.post("/retrieve")
    def retrieve(request: RetrieveRequest) -> dict[str, Any]:
        """The passages an answer would come from, best first, with scores and char spans."""
        passages = engine.retrieve(request.query, request.k, request.mode)
        return {"query": request.query, "passages": [p.to_dict() for p in passages]}

    @api.get("/documents")
    def documents() -> dict[str, Any]:
        """The indexed documents."""
        listed = engine.documents()
        return {"documents": [asdict(d) for d in listed]}

    @api.get("/documents/view", response_class=HTMLResponse)
    def view_document(source: str, start: int, end: int) -> HTMLResponse:
        """A quote (a citation's `source`, `start`, `end`) where it stands in its indexed
        document, as HTML: its text around the quote, a PDF's page drawn with the quote
        marked. 404 for a source that is not an indexed document."""
        return HTMLResponse(document_view(engine, source, start, end))

    @api.post("/documents")
    def add_documents(files: list[UploadFile]) -> dict[str, Any]:
        """Index uploaded files (stored like the UI's uploads: never over another document)."""
        limit = engine.settings.max_upload_mb * 2**20
        with tempfile.TemporaryDirectory() as folder:
            temps = []
            for upload in files:
                temp = Path(folder) / Path(upload.filename or "upload.txt").name
                temp.write_bytes(upload.file.read(limit + 1))
                if temp.stat().st_size > limit:
                    raise _TooLarge(upload.filename or "", engine.settings.max_upload_mb)
                temps.append(temp)
            report, names = ingest_uploads(engine, temps)
        results = [
            {"file": names.get(path, Path(path).name), "source": path, "outcome": outcome}
            for path, outcome in report.outcomes.items()
        ] + [
            {"file": names.get(r.path, Path(r.path).name), "source": r.path,
             "outcome": "rejected", "reason": r.reason}
            for r in report.rejected
        ]  # fmt: skip
        return {"results": results, "chunks": report.chunks}

    @api.delete("/documents")
    def delete_document(source: str) -> dict[str, Any]:
        """Remove a document (`source`: its path, as `GET /v1/documents` lists it)."""
        return {"deleted": asdict(engine.delete(source))}

    @api.get("/health")
    def health() -> dict[str, Any]:
        return _health(engine)

    return api


def health_route(engine: RagEngine) -> Route:
    """`GET /health` at the server's root, outside the API's auth: whether it can answer."""

    def endpoint(request: Request) -> JSONResponse:
        body = _health(engine)
        return JSONResponse(body, status_code=200 if body["index_loaded"] else 503)

    return Route("/health", endpoint, methods=["GET"])


def _health(engine: RagEngine) -> dict[str, Any]:
    from importlib.metadata import version

    body: dict[str, Any] = {"store": engine.settings.store, "version": version("rag")}
    try:
        if not engine.has_index():
            return body | {"index_loaded": False, "error": "No index yet: add documents."}
        listed = engine.documents()
    except RagError as err:
        return body | {"index_loaded": False, "error": str(err)}
    chunks = sum(d.chunks for d in listed)
    return body | {"index_loaded": True, "documents": len(listed), "chunks": chunks}


def _authorizer(engine: RagEngine, require_key: bool):
    def authorize(authorization: Annotated[str | None, Header()] = None) -> None:
        refusal = key_refusal(engine, require_key, authorization)
        if refusal:
            raise _Unauthorized(refusal)

    return authorize


def key_refusal(engine: RagEngine, require_key: bool, authorization: str | None) -> str:
    """Why a request with this Authorization header is refused ("" when it is not): the key
    rule of the API, and of the MCP tools (ui.mcp_tools)."""
    key = engine.settings.api_key
    if key is None:
        if require_key:
            return (
                "This server is reachable beyond this machine: set RAG_API_KEY and send it "
                "as `Authorization: Bearer KEY`."
            )
        return ""
    scheme, _, token = (authorization or "").partition(" ")
    given = token.strip().encode() if scheme.lower() == "bearer" else b""
    if hmac.compare_digest(given, key.get_secret_value().encode()):
        return ""
    return "Send the API key (RAG_API_KEY) as `Authorization: Bearer KEY`."


def _conversation(messages: list[Message]) -> tuple[str, list[str]]:
    """The question (the last message, a user's) and the earlier user messages, latest last."""
    if messages[-1].role != "user":
        raise RagError("The last message must be the user's question.")
    asked = [m.text() for m in messages if m.role == "user"]
    return asked[-1], asked[:-1][-MAX_HISTORY_TURNS:]  # a long chat reads its latest turns


def _last(stream: Iterator[str | Answer]) -> Answer:
    for item in stream:
        if isinstance(item, Answer):
            return item
    raise AssertionError("ask_stream ends with an Answer")


def _completion(answer: Answer) -> dict[str, Any]:
    message = {"role": "assistant", "content": answer.text}
    return {
        "id": f"chatcmpl-{uuid.uuid4().hex}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": MODEL,
        "choices": [{"index": 0, "message": message, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0},
        **_extension(answer),
    }


def _extension(answer: Answer) -> dict[str, Any]:
    """What an OpenAI reply has no keys for: the citations (as `rag ask --json`) and more."""
    data = answer.to_dict()
    keys = ("citations", "refused", "refusal_reason", "confidence", "query", "notice")
    return {key: data[key] for key in keys} | {"answer_span": data["answer_span"]}


def _events(first: str | Answer, stream: Iterator[str | Answer]) -> Iterator[str]:
    """Server-sent chunks: the answer's verified pieces as the LLM writes them (the whole
    text at once for extractive answers), then a last chunk with the citations."""
    reply_id, created = f"chatcmpl-{uuid.uuid4().hex}", int(time.time())

    def chunk(delta: dict[str, Any], finish: str | None = None, **more: Any) -> str:
        choice = {"index": 0, "delta": delta, "finish_reason": finish}
        body = {"id": reply_id, "object": "chat.completion.chunk", "created": created,
                "model": MODEL, "choices": [choice], **more}  # fmt: skip
        return f"data: {json.dumps(body, ensure_ascii=False)}\n\n"

    yield chunk({"role": "assistant", "content": ""})
    shown = ""
    item = first
    while not isinstance(item, Answer):
        shown += item
        yield chunk({"content": item})
        item = next(stream)
    if item.text != shown:  # extractive, or an LLM answer that fell back: the text follows
        yield chunk({"content": ("\n\n" if shown else "") + item.text})
    yield chunk({}, "stop", **_extension(item))
    yield "data: [DONE]\n\n"


def _error(status: int, message: str, kind: str) -> JSONResponse:
    body = {"error": {"message": message, "type": kind, "code": status}}
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    return JSONResponse(body, status_code=status, headers=headers)


def _rag_error(request: Request, error: RagError) -> JSONResponse:
    status = next((s for kind, s in _STATUS.items() if isinstance(error, kind)), 400)
    kind = {401: "authentication_error"}.get(status, "invalid_request_error")
    return _error(status, str(error), kind if status < 500 else "server_error")


def _bad_request(request: Request, error: RequestValidationError) -> JSONResponse:
    problems = "; ".join(
        f"{'.'.join(str(p) for p in e['loc'] if p != 'body')}: {e['msg']}" for e in error.errors()
    )
    return _error(400, f"Bad request: {problems}", "invalid_request_error")
