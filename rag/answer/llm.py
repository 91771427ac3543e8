"""LLM answers through an OpenAI-compatible server (llama.cpp, Ollama, vLLM, hosted APIs).

The server writes; `rag.answer.verify` decides what reaches the user. Every failure of the
server (refused connection, timeout, an error status, a reply that is not the API's JSON)
becomes `LlmUnavailableError`, which the engine turns into the extractive answer with a
notice. The whole answer has a deadline as well as the per-read timeout, so a server that
trickles tokens cannot hold a question forever.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from urllib.parse import urlsplit, urlunsplit

import httpx
import openai
from llama_index.core.base.llms.types import ChatMessage, MessageRole
from llama_index.core.chat_engine.condense_question import DEFAULT_PROMPT
from llama_index.core.llms import LLM
from llama_index.llms.openai_like import OpenAILike

from rag.answer.verify import Embed, StreamingCheck, Verifier
from rag.config import Settings
from rag.errors import LlmUnavailableError, RagError
from rag.prompts import load_prompt
from rag.types import Citation, Dropped, Passage

logger = logging.getLogger(__name__)

# What a misbehaving server can make the client raise: openai's errors (connection, timeout,
# status, unparsable reply), httpx's (a stream cut mid-way), ValueError (bad JSON in a chunk).
_SERVER_FAILURES = (openai.APIError, httpx.HTTPError, ValueError)
_ROLES = {
    "system": MessageRole.SYSTEM,
    "user": MessageRole.USER,
    "assistant": MessageRole.ASSISTANT,
}


def make_llm(settings: Settings) -> LLM:
    """The configured server as a llama-index LLM (never llama-index's OpenAI default)."""
    if not settings.llm_url:
        raise RagError(
            "RAG_SYNTH=llm needs RAG_LLM_URL, the base URL of an OpenAI-compatible server "
            "(e.g. http://127.0.0.1:8080/v1). See the README, section LLM answers."
        )
    key = settings.llm_api_key.get_secret_value() if settings.llm_api_key else "none"
    return OpenAILike(
        model=settings.llm_model,
        api_base=settings.llm_url,
        api_key=key,
        is_chat_model=True,
        max_tokens=settings.llm_max_tokens,
        temperature=settings.llm_temperature,
        timeout=settings.llm_timeout_s,
        max_retries=0,  # a retry doubles the wait before the fallback; the user is waiting
    )


def answer_messages(question: str, passages: Sequence[Passage]) -> list[ChatMessage]:
    """The chat of `rag/prompt_templates/llm_answer.txt`, its last message holding the
    numbered passages."""
    messages: list[ChatMessage] = []
    for block in load_prompt("llm_answer").split("### ")[1:]:
        role, _, content = block.partition("\n")
        messages.append(ChatMessage(role=_ROLES[role.strip()], content=content.strip()))
    numbered = "\n".join(f"[{n}] {_one_line(p.text)}" for n, p in enumerate(passages, start=1))
    last = messages[-1]
    messages[-1] = ChatMessage(
        role=last.role, content=(last.content or "").format(passages=numbered, question=question)
    )
    return messages


_FENCE = re.compile(r"</?\s*passages\s*>", re.IGNORECASE)


def _one_line(text: str) -> str:
    """A passage on one line, unable to close the fence it is quoted in."""
    return _FENCE.sub("[passages]", " ".join(text.split()))


def condense_question(llm: LLM, question: str, previous_queries: list[str], url: str) -> str:
    """A standalone question from llama-index's condense prompt and the earlier turns."""
    history = "\n".join(f"Human: {q}" for q in previous_queries)
    prompt = DEFAULT_PROMPT.format(chat_history=history, question=question)
    try:
        return llm.complete(prompt, formatted=True).text.strip()
    except _SERVER_FAILURES as error:
        raise _unavailable(url, error) from error


def _unavailable(url: str, error: BaseException) -> LlmUnavailableError:
    timed_out = isinstance(error, openai.APITimeoutError | httpx.TimeoutException)
    kind = "timed out" if timed_out else "failed"
    shown = public_url(url)
    detail = str(error).splitlines()[0][:200] if str(error) else type(error).__name__
    detail = detail.replace(url, shown)
    return LlmUnavailableError(f"The language model at {shown} {kind}: {detail}")


def public_url(url: str) -> str:
    """The URL as users may see it: credentials and query string (keys, tokens) left out."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    return urlunsplit((parts.scheme, host, parts.path, "", ""))


@dataclass
class LlmResult:
    """The verified LLM answer, or why there is none (`failure`: show the extractive one)."""

    text: str = ""
    citations: list[Citation] = field(default_factory=list)
    refused: bool = False
    dropped: list[Dropped] = field(default_factory=list)
    generated_sentences: int = 0
    notice: str = ""
    failure: str = ""
    timings_ms: dict[str, float] = field(default_factory=dict)


def stream_answer(
    llm: LLM,
    question: str,
    passages: Sequence[Passage],
    embed: Embed,
    settings: Settings,
) -> Iterator[str | LlmResult]:
    """Verified answer text as it is written, then the `LlmResult`."""
    check = StreamingCheck(Verifier(passages, embed, settings.min_support))
    started = time.perf_counter()
    result = LlmResult()
    url = settings.llm_url or ""
    try:
        for delta in _tokens(llm, answer_messages(question, passages), settings, started):
            result.timings_ms.setdefault("first_token", _ms_since(started))
            if piece := check.feed(delta):
                yield piece
    except LlmUnavailableError as error:
        result.notice = str(error)
    except _SERVER_FAILURES as error:
        result.notice = str(_unavailable(url, error))
    if piece := check.finish():
        yield piece
    result.timings_ms["llm"] = _ms_since(started)
    result.text, result.citations, result.refused = check.text, check.citations(), check.refused
    result.dropped = check.dropped
    result.generated_sentences = len(check.verdicts)
    if not result.text and not result.refused:
        result.failure = result.notice or _nothing_kept(result, url)
    elif result.notice:
        result.notice += " The answer may be incomplete."
    yield result


def _nothing_kept(result: LlmResult, url: str) -> str:
    if not result.generated_sentences:
        return f"The language model at {url} returned no answer."
    return (
        f"None of the {result.generated_sentences} sentence(s) the language model wrote is "
        "supported by the passage it cites."
    )


def _tokens(
    llm: LLM, messages: list[ChatMessage], settings: Settings, started: float
) -> Iterator[str]:
    """The streamed text deltas; stops (raising) at the answer's deadline."""
    stream = llm.stream_chat(messages)
    for chunk in stream:
        if chunk.delta:
            yield chunk.delta
        if time.perf_counter() - started > settings.llm_total_timeout_s:
            raise LlmUnavailableError(
                f"The language model at {public_url(settings.llm_url or '')} did not finish within "
                f"{settings.llm_total_timeout_s:.0f} s (RAG_LLM_TOTAL_TIMEOUT_S)."
            )


def _ms_since(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 2)
