"""The Gradio UI end to end: a real engine, a real server, Debian chromium through Playwright."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from bench.ui_latency import CHROMIUM, CHROMIUM_ARGS
from bench.ui_load import free_port
from rag import RagEngine
from rag.loaders import read_source_text
from tests.conftest import make_pdf, serve_app

PESKOV_QUOTE = "First, we must have all details of the offer"
PESKOV_FILE = "ukraine-russia-ceasefire-2025-03-13.txt"
ANSWER_TIMEOUT_MS = 30_000
LOCAL_PREFIXES = ("http://127.0.0.1", "ws://127.0.0.1", "data:", "blob:", "about:")


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: install Debian's `chromium` to run browser tests")
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield browser
        browser.close()


def _open(browser: Browser, url: str) -> Iterator[Page]:
    """A fresh page (a new chat session) that fails the test on any non-local request."""
    page = browser.new_page()
    outside: list[str] = []

    def only_local(route):
        if route.request.url.startswith(LOCAL_PREFIXES):
            route.continue_()
        else:
            outside.append(route.request.url)
            route.abort()

    page.route("**/*", only_local)
    dialogs: list[str] = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    page.goto(url, wait_until="load")  # Gradio never reaches "networkidle"
    expect(page.locator("#question textarea")).to_be_visible(timeout=ANSWER_TIMEOUT_MS)
    yield page
    page.close()
    assert outside == [], f"the page reached beyond this machine: {outside}"
    assert dialogs == [], f"a dialog fired: {dialogs}"


@pytest.fixture
def page(browser: Browser, url: str) -> Iterator[Page]:
    yield from _open(browser, url)


@pytest.fixture
def own_page(browser: Browser, own_url: str) -> Iterator[Page]:
    yield from _open(browser, own_url)


def _ask(page: Page, question: str) -> None:
    """Ask, and wait until the answer has finished streaming."""
    answers = page.locator("#chat .message.bot")
    before = answers.count()
    box = page.locator("#question textarea")
    box.fill(question)
    box.press("Enter")
    expect(answers).to_have_count(before + 1, timeout=ANSWER_TIMEOUT_MS)
    expect(page.locator("#chat .pending, #chat .streaming")).to_have_count(
        0, timeout=ANSWER_TIMEOUT_MS
    )


def _last_answer(page: Page):
    return page.locator("#chat .message.bot").last


pytestmark = pytest.mark.browser


def test_answer_quotes_and_cites_the_source_with_the_quote_highlighted(page, tmp_path):
    _ask(page, "What did Peskov say?")
    expect(_last_answer(page)).to_contain_text(PESKOV_QUOTE, timeout=ANSWER_TIMEOUT_MS)
    sources = page.locator("#sources")
    expect(sources.get_by_text(PESKOV_FILE)).to_be_visible()
    expect(sources.locator("mark")).to_contain_text(PESKOV_QUOTE)
    page.screenshot(path=tmp_path / "answer.png", full_page=True)


def test_clicking_a_citation_brings_its_source_into_view(page, tmp_path):
    _ask(page, "What did Peskov say?")
    marker = _last_answer(page).locator("a.cite").first
    expect(marker).to_have_text("[1]", timeout=ANSWER_TIMEOUT_MS)
    pages_before = len(page.context.pages)
    marker.click()
    source = page.locator("#src-1")
    expect(source).to_have_class("source active")
    expect(source).to_be_in_viewport()
    assert len(page.context.pages) == pages_before  # no new tab
    page.screenshot(path=tmp_path / "citation-clicked.png", full_page=True)


def test_unanswerable_question_is_refused_with_related_passages(page, tmp_path):
    _ask(page, "Who won the 2022 FIFA World Cup?")
    expect(_last_answer(page)).to_contain_text("The documents don't say", timeout=ANSWER_TIMEOUT_MS)
    expect(page.locator("#sources")).to_contain_text("Related, not an answer")
    page.screenshot(path=tmp_path / "refused.png", full_page=True)


def test_top_k_in_the_settings_drawer_changes_the_passages_shown(page):
    page.locator("#settings").get_by_text("Settings").click()
    # The page's load event fills the drawer's document choice and re-renders the drawer:
    # wait for its options before setting top-k, or the load may reset the slider.
    page.locator("#only-documents input").click()
    expect(page.get_by_role("option", name=PESKOV_FILE)).to_be_visible()
    page.keyboard.press("Escape")
    slider = page.locator("#settings input[type=number]")
    slider.fill("2")
    slider.press("Tab")
    # The box hands its value to the slider asynchronously: ask only once the slider has it.
    expect(page.locator("#settings input[type=range]")).to_have_value("2")
    _ask(page, "Who won the 2022 FIFA World Cup?")
    expect(page.locator("#sources ol.related > li")).to_have_count(2, timeout=ANSWER_TIMEOUT_MS)


def test_follow_up_uses_the_previous_turn(page):
    _ask(page, "What did Trump say?")
    chat = page.locator("#chat")
    expect(chat).to_contain_text("We want to put this war behind us", timeout=ANSWER_TIMEOUT_MS)
    _ask(page, "Whose cooperation did he hope for?")
    searched = chat.locator(".searched")
    expect(searched).to_contain_text("Searched for:", timeout=ANSWER_TIMEOUT_MS)
    expect(searched).to_contain_text("Trump")
    expect(_last_answer(page)).to_contain_text("Putin")


_STORAGE = "localStorage.getItem('rag-conversation')"  # the chat, as BrowserState keeps it


def test_a_conversation_survives_a_reload_and_exports_every_citation(page, tmp_path):
    # Gradio writes the empty conversation when the page loads: wait for it, or it could be
    # taken for the first turn's.
    page.wait_for_function("localStorage.getItem('rag-conversation') !== null")
    for question in (
        "Who won the 2022 FIFA World Cup?",
        "What did Trump say?",
        "Whose cooperation did he hope for?",
    ):
        kept = page.evaluate(_STORAGE)
        _ask(page, question)
        page.wait_for_function(f"kept => {_STORAGE} !== kept", arg=kept)  # the turn is kept
    expect(page.locator("#export")).to_be_visible()
    page.reload(wait_until="load")
    chat = page.locator("#chat")
    expect(chat.locator(".message.bot")).to_have_count(3, timeout=ANSWER_TIMEOUT_MS)
    expect(chat).to_contain_text("We want to put this war behind us")
    expect(page.locator("#sources")).to_contain_text(PESKOV_FILE)
    _ask(page, "What did he say about the ceasefire?")  # the follow-up history came back too
    expect(chat.locator(".searched").last).to_contain_text("Trump", timeout=ANSWER_TIMEOUT_MS)
    for _ in range(20):  # the button gets the new file just after the answer is shown
        with page.expect_download() as download:
            page.locator("#export").click()
        exported = Path(download.value.path()).read_text(encoding="utf-8")
        if exported.count("**You:**") == 4:
            break
        page.wait_for_timeout(250)
    assert exported.count("**You:**") == 4 and "The documents don't say" in exported
    cited = re.findall(r"\[\d+\] `([^`]+)`, characters (\d+)–(\d+)[^:]*: “(.+)”", exported)
    assert len(cited) >= 3
    for source, start, end, quote in cited:  # each quote is the file's own words at its span
        assert " ".join(read_source_text(source)[int(start) : int(end)].split()) == quote
    kept = page.evaluate(_STORAGE)
    page.locator("#chat button[aria-label='Clear']").click()
    expect(chat.locator(".message.bot")).to_have_count(0)
    page.wait_for_function(f"kept => {_STORAGE} !== kept", arg=kept)  # forgotten there too
    page.reload(wait_until="load")
    expect(page.locator("#question textarea")).to_be_visible(timeout=ANSWER_TIMEOUT_MS)
    expect(chat.locator(".message.bot")).to_have_count(0)
    expect(page.locator("#export")).to_be_hidden()


def test_an_example_question_can_be_clicked_on_an_empty_chat(page):
    page.get_by_text("What did Peskov say?").first.click()
    expect(_last_answer(page)).to_contain_text(PESKOV_QUOTE, timeout=ANSWER_TIMEOUT_MS)


def test_thumbs_are_recorded_in_the_feedback_file(own_page, own_settings):
    _ask(own_page, "What did Peskov say?")
    expect(_last_answer(own_page)).to_contain_text(PESKOV_QUOTE, timeout=ANSWER_TIMEOUT_MS)
    own_page.get_by_label("Like").last.click()
    expect(own_page.get_by_text("Thanks for the feedback")).to_be_visible()
    entries = [json.loads(line) for line in own_settings.feedback_file.read_text().splitlines()]
    assert len(entries) == 1 and entries[0]["liked"] is True
    assert PESKOV_QUOTE in entries[0]["answer"]
    assert entries[0]["question"] == "What did Peskov say?"


def _upload(page: Page, *files: Path) -> None:
    page.get_by_role("tab", name="Documents").click()
    page.locator("#upload input[type=file]").set_input_files([str(f) for f in files])
    page.locator("#add").click()


def test_upload_ask_delete_then_the_answer_is_refused(own_page, tmp_path):
    note = tmp_path / "ferry notes.md"
    note.write_text("# Ferry notes\n\nThe Lindqvist ferry to Tromsø leaves at 07:40 daily.\n")
    empty = tmp_path / "empty.md"
    empty.write_text("")
    _upload(own_page, note, empty)
    result = own_page.locator("#ingest-result")
    expect(result).to_contain_text("ferry notes.md", timeout=ANSWER_TIMEOUT_MS)
    expect(result.locator("tr.added")).to_contain_text("added")
    expect(result.locator("tr.rejected")).to_contain_text("empty file")
    expect(own_page.locator("#documents")).to_contain_text("ferry notes.md")
    own_page.screenshot(path=tmp_path / "documents.png", full_page=True)

    own_page.get_by_role("tab", name="Chat").click()
    _ask(own_page, "When does the Lindqvist ferry leave?")
    expect(_last_answer(own_page)).to_contain_text("07:40", timeout=ANSWER_TIMEOUT_MS)
    expect(own_page.locator("#sources")).to_contain_text("ferry notes.md")

    own_page.get_by_role("tab", name="Documents").click()
    own_page.locator("#delete-choice input").click()
    own_page.get_by_role("option", name="ferry notes.md").click()
    own_page.locator("#delete").click()
    expect(own_page.locator("#ingest-result")).to_contain_text("Deleted ferry notes.md")
    expect(own_page.locator("#documents")).not_to_contain_text("ferry notes.md")

    own_page.get_by_role("tab", name="Chat").click()
    _ask(own_page, "When does the Lindqvist ferry leave?")
    expect(_last_answer(own_page)).to_contain_text(
        "The documents don't say", timeout=ANSWER_TIMEOUT_MS
    )


def test_searching_only_chosen_documents_leaves_the_others_out(own_page, tmp_path):
    note = tmp_path / "ferry notes.md"
    note.write_text("# Ferry notes\n\nThe Lindqvist ferry to Tromsø leaves at 07:40 daily.\n")
    _upload(own_page, note)
    expect(own_page.locator("#ingest-result tr.added")).to_contain_text(
        "added", timeout=ANSWER_TIMEOUT_MS
    )
    own_page.get_by_role("tab", name="Chat").click()
    own_page.locator("#settings").get_by_text("Settings").click()
    own_page.locator("#only-documents input").click()
    own_page.get_by_role("option", name="ferry notes.md").click()
    _ask(own_page, "What did Peskov say?")
    expect(_last_answer(own_page)).to_contain_text(
        "The documents don't say", timeout=ANSWER_TIMEOUT_MS
    )
    expect(own_page.locator("#sources")).not_to_contain_text(PESKOV_FILE)
    own_page.screenshot(path=tmp_path / "only-documents.png", full_page=True)

    own_page.locator("#only-documents").get_by_title("Clear").click()
    _ask(own_page, "What did Peskov say?")
    expect(_last_answer(own_page)).to_contain_text(PESKOV_QUOTE, timeout=ANSWER_TIMEOUT_MS)


def test_html_and_script_in_documents_render_as_text(own_page, tmp_path):
    evil = tmp_path / "evil.md"
    evil.write_text(
        "# Zanzibar memo\n\n"
        'The Zanzibar memo says <script>alert("script")</script> is harmless.\n'
        "The Zanzibar memo adds <img src=x onerror=\"alert('img')\"> as a picture.\n"
        "The Zanzibar memo links [click me](javascript:alert('link')) for details.\n"
    )
    _upload(own_page, evil)
    expect(own_page.locator("#ingest-result")).to_contain_text("added", timeout=ANSWER_TIMEOUT_MS)
    own_page.get_by_role("tab", name="Chat").click()
    _ask(own_page, "What does the Zanzibar memo say?")
    answer = _last_answer(own_page)
    expect(answer).to_contain_text("<script>", timeout=ANSWER_TIMEOUT_MS)
    expect(own_page.locator("#sources")).to_contain_text("Zanzibar")
    for selector in ("#chat script", "#chat img[src=x]", "#sources img", "#sources script"):
        assert own_page.locator(selector).count() == 0, selector
    assert own_page.locator("a[href^='javascript']").count() == 0
    own_page.get_by_text("click me", exact=False).first.click()  # inert text, no dialog


def test_basic_auth_refuses_a_wrong_password(seed_settings, browser):
    for url in serve_app(RagEngine(seed_settings), auth=[("ann", "s3cret")]):
        wrong = httpx.post(f"{url}login", data={"username": "ann", "password": "nope"})
        assert wrong.status_code in (400, 401)
        right = httpx.post(f"{url}login", data={"username": "ann", "password": "s3cret"})
        assert right.status_code == 200
        assert httpx.get(f"{url}config").status_code == 401  # nothing without a login
        page = browser.new_page()
        page.goto(url, wait_until="load")
        expect(page.get_by_text("Login").first).to_be_visible(timeout=ANSWER_TIMEOUT_MS)
        page.close()


def test_an_upload_over_the_size_limit_is_refused_and_the_index_kept(
    own_settings, browser, tmp_path
):
    small = own_settings.model_copy(update={"max_upload_mb": 1})
    for url in serve_app(RagEngine(small)):
        for page in _open(browser, url):
            big = tmp_path / "big.txt"
            big.write_text("Title\n" + "word " * 400_000)  # 2 MB
            _upload(page, big)
            toast = page.get_by_test_id("toast-text")
            expect(toast).to_contain_text("exceed the maximum allowed size", timeout=30_000)
            expect(toast).to_contain_text("big.txt")
            expect(page.locator("#documents")).to_contain_text(PESKOV_FILE)
            expect(page.locator("#documents")).not_to_contain_text("big.txt")
    assert not (small.uploads_dir / "big.txt").exists()


def test_rag_serve_watch_shows_a_file_dropped_into_the_folder_and_answers_from_it(
    browser, own_settings, tmp_path
):
    """`rag serve --watch DIR` as a user runs it: the documents tab names the folder and
    lists a file written into it a moment later, with no click; the chat answers from it."""
    folder = tmp_path / "inbox"
    folder.mkdir()
    port = free_port()
    env = os.environ | {"RAG_DATA_DIR": str(own_settings.data_dir)}
    command = [
        sys.executable,
        "-m",
        "rag.cli",
        "serve",
        "--port",
        str(port),
        "--watch",
        str(folder),
    ]
    server = subprocess.Popen(command, env=env, stderr=subprocess.PIPE, text=True)
    try:
        url = f"http://127.0.0.1:{port}/"
        deadline = time.monotonic() + 120
        while True:
            try:
                if httpx.get(url, timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert server.poll() is None and time.monotonic() < deadline, "rag serve did not start"
            time.sleep(0.5)
        for page in _open(browser, url):
            page.get_by_role("tab", name="Documents").click()
            expect(page.locator("#watched")).to_contain_text(str(folder))
            (folder / "ferry notes.md").write_text(
                "# Ferry notes\n\nThe Lindqvist ferry to Tromsø leaves at 07:40 daily.\n"
            )
            expect(page.locator("#documents")).to_contain_text(
                "ferry notes.md", timeout=ANSWER_TIMEOUT_MS
            )
            page.get_by_role("tab", name="Chat").click()
            _ask(page, "When does the Lindqvist ferry leave?")
            expect(_last_answer(page)).to_contain_text("07:40", timeout=ANSWER_TIMEOUT_MS)
    finally:
        server.terminate()
        _, stderr = server.communicate(timeout=30)
    assert f"Watching {folder}" in stderr and "added  " in stderr


def test_a_citation_is_shown_where_it_stands_in_its_document(page):
    _ask(page, "What did Peskov say?")
    choice = page.locator("#show-in-document")
    expect(choice).to_be_visible(timeout=ANSWER_TIMEOUT_MS)
    choice.get_by_label(re.compile(rf"\[1\] {re.escape(PESKOV_FILE)}")).check()
    quote = page.locator("#document-view mark#quote")
    expect(quote).to_contain_text(PESKOV_QUOTE, timeout=ANSWER_TIMEOUT_MS)
    expect(quote).to_be_in_viewport()  # its box scrolled to it
    expect(page.locator("#document-view .where")).to_contain_text(PESKOV_FILE)


def test_a_pdf_citation_shows_its_page_and_a_csv_citation_its_row(own_page, tmp_path):
    """The viewer for the two kinds the sources panel cannot show in place: a PDF's page,
    drawn, with the quote painted on it (the pixels are checked in test_source_view.py);
    a spreadsheet row, marked in the table it stands in."""
    pdf = tmp_path / "harbour guide.pdf"
    make_pdf(pdf, ["Harbour guide. Chapter one.", "The Lindqvist ferry has twelve cabins."])
    rows = tmp_path / "crew.csv"
    rows.write_text("Name,Role\nAlice Moreau,Ferry captain\nBjorn Lie,Engineer\n")
    _upload(own_page, pdf, rows)
    expect(own_page.locator("#documents")).to_contain_text("crew.csv", timeout=ANSWER_TIMEOUT_MS)
    own_page.get_by_role("tab", name="Chat").click()
    for question, label, shown in [
        ("How many cabins does the Lindqvist ferry have?", r"harbour guide\.pdf, page 2",
         "twelve cabins"),
        ("Who is the ferry captain?", r"crew\.csv, row 2", "Role: Ferry captain"),
    ]:  # fmt: skip
        _ask(own_page, question)  # the second is read as a follow-up: its file may be [2]
        own_page.locator("#show-in-document").get_by_label(re.compile(label)).check()
        expect(own_page.locator("#document-view mark#quote")).to_contain_text(
            shown, timeout=ANSWER_TIMEOUT_MS
        )
        expect(own_page.locator("#document-view mark#quote")).to_be_in_viewport()
        if label.endswith("page 2"):
            expect(own_page.locator('#document-view img[alt="page 2"]')).to_be_visible()
        else:
            expect(own_page.locator("#document-view img")).to_have_count(0)
