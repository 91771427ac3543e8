"""The Gradio UI end to end: a real engine on the seed corpus, a real server, Debian chromium."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from gradio_client import Client
from playwright.sync_api import Browser, Page, expect, sync_playwright

from rag import Answer, Citation, Passage, RagEngine, Settings
from ui.app import build_app, render_sources

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
PESKOV_QUOTE = "First, we must have all details of the offer"
PESKOV_FILE = "ukraine-russia-ceasefire-2025-03-13.txt"
ANSWER_TIMEOUT_MS = 30_000


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def url(seed_settings: Settings) -> Iterator[str]:
    """A running app over the session's seed index."""
    engine = RagEngine(seed_settings)
    port = _free_port()
    app = build_app(engine)
    app.launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True)
    try:
        yield f"http://127.0.0.1:{port}/"
    finally:
        app.close()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: install Debian's `chromium` to run browser tests")
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(browser: Browser, url: str) -> Iterator[Page]:
    """A fresh page, so each test starts a new chat session."""
    page = browser.new_page()
    page.goto(url, wait_until="load")  # Gradio never reaches "networkidle"
    yield page
    page.close()


def _ask(page: Page, question: str) -> None:
    box = page.locator("#question textarea")
    box.fill(question)
    box.press("Enter")


@pytest.mark.browser
def test_answer_quotes_and_cites_the_source(page: Page, tmp_path: Path) -> None:
    _ask(page, "What did Peskov say?")
    expect(page.locator("#chat")).to_contain_text(PESKOV_QUOTE, timeout=ANSWER_TIMEOUT_MS)
    sources = page.locator("#sources")
    expect(sources).to_contain_text(PESKOV_FILE)
    expect(sources.get_by_text(PESKOV_FILE)).to_be_visible()
    page.screenshot(path=tmp_path / "peskov.png", full_page=True)


@pytest.mark.browser
def test_unanswerable_question_is_refused_with_related_passages(page: Page) -> None:
    _ask(page, "Who won the 2022 FIFA World Cup?")
    expect(page.locator("#chat")).to_contain_text(
        "The documents don't say", timeout=ANSWER_TIMEOUT_MS
    )
    expect(page.locator("#sources")).to_contain_text("Related, not an answer")


@pytest.mark.browser
def test_follow_up_uses_the_previous_turn(page: Page) -> None:
    _ask(page, "What did Trump say?")
    chat = page.locator("#chat")
    expect(chat).to_contain_text("We want to put this war behind us", timeout=ANSWER_TIMEOUT_MS)
    _ask(page, "Whose cooperation did he hope for?")
    searched = chat.locator(".searched")
    expect(searched).to_contain_text("Searched for:", timeout=ANSWER_TIMEOUT_MS)
    expect(searched).to_contain_text("Trump")
    last_answer = chat.locator(".message.bot").last
    expect(last_answer).to_contain_text("Putin")


@pytest.mark.slow
def test_ask_api_returns_the_answer_dict(url: str) -> None:
    client = Client(url, verbose=False)
    result = client.predict("What did Peskov say?", api_name="/ask")
    assert isinstance(result, dict)
    assert result["refused"] is False
    assert PESKOV_QUOTE in result["citations"][0]["quote"]
    with pytest.raises(Exception, match="The question is empty"):
        client.predict("   ", api_name="/ask")


def test_sources_escape_document_text() -> None:
    evil = '<img src=x onerror="alert(1)"><script>alert(2)</script>'
    citation = Citation(1, "d", f"/tmp/{evil}.txt", evil, evil, 0, 1, evil, 1.0)
    passage = Passage(1, "c", "d", f"/tmp/{evil}.txt", evil, evil, 0, 1, 1.0)
    answered = Answer(evil, evil, evil, [citation], [passage])
    refused = Answer(evil, evil, "", [], [passage], refused=True, refusal_reason=evil)
    for answer in (answered, refused):
        rendered = render_sources(answer)
        assert "<img" not in rendered and "<script" not in rendered
        assert "&lt;script&gt;" in rendered
