"""Spreadsheets (CSV, XLSX), slide decks (PPTX), e-books (EPUB) and e-mail (EML): read by
their structure, cited by exact spans with a locator a person can find (row, slide,
chapter), and rejected with a reason when malformed. Files are written by the same
libraries people's tools use (openpyxl, python-pptx, EbookLib) or by hand (CSV, EML)."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import pytest
from typer.testing import CliRunner

from rag import RagEngine, Settings
from rag.answer.structure import asks_mail_field
from rag.cli import app
from rag.file_text import Limits, extract
from rag.loaders import collect_files, load_documents, read_source_text
from tests.conftest import make_pdf

STAFF_CSV = "Name;Role;Office\nAlice Moreau;Ferry captain;Tromsø\nBjørn Lie;Engineer;Bodø\n"
EML = (
    "From: Alice Moreau <alice@example.org>\n"
    "To: Bjørn Lie <bjorn@example.org>\n"
    "Date: Mon, 02 Mar 2026 09:15:00 +0100\n"
    "Subject: Radar upgrade approved\n"
    "Content-Type: text/plain; charset=utf-8\n\n"
    "Hi Bjørn,\n\nThe board approved the radar upgrade. Installation starts on\n"
    "14 April in Bodø.\n\nAlice\n"
)
MBOX = (
    "From alice@example.org Mon Mar  2 09:15:00 2026\n"
    "From: Alice Moreau <alice@example.org>\n"
    "Subject: Crew rota\n\n"
    "Carl works the morning shift in March.\n\n"
    "From bjorn@example.org Tue Mar  3 10:00:00 2026\n"
    "From: Bjørn Lie <bjorn@example.org>\n"
    "Subject: Dry dock\n"
    "Content-Type: text/plain; charset=utf-8\n\n"
    "The Lindqvist goes into dry dock on 9 May.\n"
    ">From the yard: bring the hull survey.\n"
)


def make_xlsx(path: Path) -> None:
    from openpyxl import Workbook

    workbook = Workbook()
    budget = workbook.active
    budget.title = "Budget"
    budget.append(["Item", "Cost (EUR)", "Owner"])
    budget.append(["New hull paint", 12500, "Alice Moreau"])
    budget.append([None, None, None])  # an empty row: skipped, the next keeps its number
    budget.append(["Radar upgrade", 48000, "Bjørn | Lie"])
    crew = workbook.create_sheet("Crew")
    crew.append(["Name", "Certificate"])
    crew.append(["Carl Nilsen", "STCW Basic Safety"])
    workbook.save(path)


def make_pptx(path: Path) -> None:
    from pptx import Presentation

    deck = Presentation()
    first = deck.slides.add_slide(deck.slide_layouts[1])
    first.shapes.title.text = "Ferry timetable 2026"
    first.placeholders[1].text = "The Lindqvist ferry leaves Tromsø at 07:40 daily."
    first.notes_slide.notes_text_frame.text = "Mention the winter schedule."
    second = deck.slides.add_slide(deck.slide_layouts[1])
    second.shapes.title.text = "Fleet"
    second.placeholders[1].text = "Two electric vessels serve the northern route."
    deck.save(path)


def make_epub(path: Path) -> None:
    from ebooklib import epub

    book = epub.EpubBook()
    book.set_identifier("northern-ferries")
    book.set_title("Northern Ferries")
    book.set_language("en")
    chapters = []
    for name, heading, text in [
        ("c1.xhtml", "Early years", "The first ferry crossed the fjord in 1921."),
        ("c2.xhtml", "Modern fleet", "Today electric ferries cross the fjord every hour."),
    ]:
        chapter = epub.EpubHtml(title=heading, file_name=name, lang="en")
        chapter.content = f"<h1>{heading}</h1><p>{text}</p>"
        book.add_item(chapter)
        chapters.append(chapter)
    book.toc = chapters
    book.spine = ["nav", *chapters]
    book.add_item(epub.EpubNcx())
    book.add_item(epub.EpubNav())
    epub.write_epub(str(path), book)


def make_corpus(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "staff.csv").write_text(STAFF_CSV, encoding="utf-8")
    (folder / "note.eml").write_text(EML, encoding="utf-8")
    (folder / "inbox.mbox").write_text(MBOX, encoding="utf-8")
    make_xlsx(folder / "budget.xlsx")
    make_pptx(folder / "deck.pptx")
    make_epub(folder / "book.epub")
    return folder


def _at(path: Path, label: str) -> str:
    """The line of the extracted text where the locator `label` starts."""
    extracted = extract(path, Limits())
    start = next(s for s, name in extracted.locators if name == label)
    return extracted.text[start:].split("\n", 1)[0]


def test_each_format_is_written_as_blocks_with_locators_at_their_parts(tmp_path):
    corpus = make_corpus(tmp_path / "corpus")
    assert (
        _at(corpus / "staff.csv", "row 3") == "| Name: Bjørn Lie | Role: Engineer | Office: Bodø |"
    )
    assert _at(corpus / "budget.xlsx", "Budget!A4").startswith("| Item: Radar upgrade |")
    assert "Owner: Bjørn \\| Lie" in _at(corpus / "budget.xlsx", "Budget!A4")  # escaped
    assert _at(corpus / "budget.xlsx", "Crew") == "## Crew"
    assert _at(corpus / "deck.pptx", "slide 2") == "# Slide 2: Fleet"
    assert _at(corpus / "book.epub", "Modern fleet") == "# Modern fleet"
    deck = extract(corpus / "deck.pptx", Limits())
    assert deck.title == "Ferry timetable 2026"
    assert deck.text.count("Ferry timetable 2026") == 1  # the title shape is not repeated
    assert "Notes: Mention the winter schedule." in deck.text
    assert deck.locator_at(deck.text.index("Two electric")) == "slide 2"
    assert extract(corpus / "budget.xlsx", Limits()).title == "budget"  # none declared
    assert extract(corpus / "book.epub", Limits()).title == "Northern Ferries"
    mailbox = extract(corpus / "inbox.mbox", Limits())
    assert mailbox.metadata == {}  # a mailbox has many senders: no document-wide fields
    assert mailbox.text == "2 messages."  # their words are the messages' own documents
    assert [name for name, _ in mailbox.attachments] == ["message-0001.eml", "message-0002.eml"]
    (tmp_path / "message-0002.eml").write_bytes(mailbox.attachments[1][1])
    message = extract(tmp_path / "message-0002.eml", Limits())
    assert message.metadata["from"] == "Bjørn Lie <bjorn@example.org>"
    assert message.text.startswith("# Dry dock") and "9 May" in message.text


def test_an_emails_fields_are_its_title_lines_and_metadata(tmp_path):
    corpus = make_corpus(tmp_path / "corpus")
    documents, rejected = load_documents([corpus / "note.eml"])
    assert rejected == []
    meta = documents[0].metadata
    assert meta["title"] == meta["subject"] == "Radar upgrade approved"
    assert meta["from"] == "Alice Moreau <alice@example.org>"
    assert meta["date"] == "Mon, 02 Mar 2026 09:15:00 +0100"
    assert "From: Alice Moreau" in documents[0].text
    assert "from" in documents[0].excluded_embed_metadata_keys  # in the text already


def _zip(path: Path, entries: dict[str, bytes]) -> None:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in entries.items():
            archive.writestr(name, data)


@pytest.mark.parametrize(
    ("name", "make", "reason"),
    [
        ("junk.xlsx", lambda p: p.write_bytes(b"PK\x03\x04 nope"), "malformed XLSX"),
        ("junk.pptx", lambda p: _zip(p, {"a.txt": b"not a deck"}), "malformed PPTX"),
        ("junk.epub", lambda p: _zip(p, {"mimetype": b"application/epub+zip"}), "malformed EPUB"),
        ("bomb.xlsx", lambda p: _zip(p, {"x.xml": b"0" * 9 * 2**20}), "over the 8 MB limit"),
        ("empty.csv", lambda p: p.write_text("\n\n"), "empty file"),
        ("header.csv", lambda p: p.write_text("Name,Role\n"), "CSV without text"),
        ("blank.eml", lambda p: p.write_text("Subject: \n\n"), "EML without text"),
    ],
)
def test_malformed_files_are_rejected_with_a_reason(tmp_path, name, make, reason):
    make(tmp_path / name)
    (tmp_path / "good.csv").write_text(STAFF_CSV, encoding="utf-8")
    files, _ = collect_files([tmp_path])
    documents, rejected = load_documents(files, Limits(max_text_chars=8 * 2**20))
    assert [Path(d.metadata["file_path"]).name for d in documents] == ["good.csv"]
    assert len(rejected) == 1 and reason in rejected[0].reason, rejected


@pytest.mark.slow
def test_answers_cite_rows_slides_chapters_and_emails_exactly(tmp_path):
    corpus = make_corpus(tmp_path / "corpus")
    engine = RagEngine(Settings(data_dir=tmp_path / "data"))
    report = engine.ingest([corpus])
    assert report.count("added") == 8 and report.rejected == []  # 6 files, 2 messages
    cases = {
        "When does the Lindqvist ferry leave Tromsø?": ("deck.pptx", "slide 1", "07:40"),
        "How much does the radar upgrade cost?": ("budget.xlsx", "Budget!A4", "48000"),
        "Who is the ferry captain?": ("staff.csv", "row 2", "Alice Moreau"),
        "When did the first ferry cross the fjord?": ("book.epub", "Early years", "1921"),
        "When does the radar installation start?": ("note.eml", None, "14 April"),
        "Which certificate does Carl Nilsen hold?": ("budget.xlsx", "Crew!A2", "STCW"),
        "When does the Lindqvist go into dry dock?": ("message-0002.eml", None, "9 May"),
    }
    for question, (name, locator, phrase) in cases.items():
        answer = engine.ask(question)
        first = answer.citations[0]
        assert (Path(first.source).name, first.locator) == (name, locator), question
        assert phrase in first.quote and first.offsets == "extracted"
        for c in answer.citations:
            assert read_source_text(c.source)[c.start : c.end] == c.quote
    radar = engine.ask("How much does the radar upgrade cost?")
    assert "Owner: Bjørn | Lie" in radar.text  # shown without the table's escape
    assert "Owner: Bjørn \\| Lie" in radar.citations[0].quote  # quoted as written
    for passage in engine.retrieve("electric vessels on the northern route"):
        if Path(passage.source).name == "deck.pptx":
            assert passage.locator in ("slide 1", "slide 2")


@pytest.mark.slow
def test_an_emails_sender_filters_and_the_json_carries_the_locator(tmp_path, monkeypatch):
    corpus = make_corpus(tmp_path / "corpus")
    monkeypatch.setenv("RAG_DATA_DIR", str(tmp_path / "data"))
    runner = CliRunner()
    assert runner.invoke(app, ["ingest", str(corpus)]).exit_code == 0
    only_mail = runner.invoke(
        app,
        ["ask", "radar upgrade", "--json", "--filter", "from=Alice Moreau <alice@example.org>"],
    )
    assert only_mail.exit_code == 0, only_mail.stderr
    answer = json.loads(only_mail.stdout)
    # Her e-mail, and her message in the mailbox: each message is a document of its own.
    assert {Path(p["source"]).name for p in answer["retrieved"]} == {"note.eml", "message-0001.eml"}
    one_message = runner.invoke(
        app, ["ask", "dry dock", "--json", "--filter", "from=Bjørn Lie <bjorn@example.org>"]
    )
    answer = json.loads(one_message.stdout)
    assert {Path(p["source"]).name for p in answer["retrieved"]} == {"message-0002.eml"}
    assert "9 May" in answer["citations"][0]["quote"]
    sheet = json.loads(
        runner.invoke(app, ["ask", "How much does the radar upgrade cost?", "--json"]).stdout
    )
    assert sheet["citations"][0]["locator"] == "Budget!A4"
    assert "locator" in sheet["retrieved"][0]
    shown = runner.invoke(app, ["docs", "show", str(corpus / "budget.xlsx")])
    assert "| Item: Radar upgrade | Cost (EUR): 48000 |" in shown.stdout
    plain = runner.invoke(app, ["ask", "How much does the radar upgrade cost?"])
    assert "Budget!A4" in plain.stdout


def _mail_with(path: Path, files: dict[str, bytes], body: str = "Reports attached.") -> Path:
    from email.message import EmailMessage

    message = EmailMessage()
    message["From"], message["To"] = "alice@example.org", "crew@example.org"
    message["Subject"] = "Inspection reports"
    message.set_content(body)
    for name, data in files.items():
        message.add_attachment(data, maintype="application", subtype="octet-stream", filename=name)
    path.write_bytes(message.as_bytes())
    return path


@pytest.mark.slow
def test_an_emails_attached_files_are_documents_of_their_own_and_go_with_it(tmp_path):
    pdf = tmp_path / "hull.pdf"
    make_pdf(pdf, ["Cover page.", "The hull survey found corrosion on frame 12."])
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    attached = {
        "hull.pdf": pdf.read_bytes(),
        "../../escape.txt": b"The radar mast was repainted in April.\n",
        "tool.exe": b"MZ not a document",
    }
    mail = _mail_with(inbox / "reports.eml", attached)
    engine = RagEngine(Settings(data_dir=tmp_path / "data"))
    report = engine.sync([inbox])
    stored = tmp_path / "data" / "attachments"
    names = {Path(s).name: o for s, o in report.outcomes.items()}
    assert names == {"reports.eml": "added", "hull.pdf": "added", "escape.txt": "added"}
    assert all(Path(s).is_relative_to(stored) for s in report.outcomes if s != str(mail))
    assert not (tmp_path / "escape.txt").exists()  # the name's directory part is dropped
    answer = engine.ask("What did the hull survey find?")
    cited = answer.citations[0]
    assert (Path(cited.source).name, cited.page) == ("hull.pdf", 2)
    assert read_source_text(cited.source)[cited.start : cited.end] == cited.quote

    _mail_with(mail, {"hull.pdf": pdf.read_bytes()}, body="Only the hull report now.")
    engine.sync([inbox])
    assert {Path(d.source).name for d in engine.documents()} == {"reports.eml", "hull.pdf"}

    mail.unlink()
    engine.sync([inbox])
    assert engine.documents() == [] and not any(stored.iterdir())


@pytest.mark.slow
def test_deleting_an_email_deletes_its_attached_files_documents(tmp_path):
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    mail = _mail_with(inbox / "note.eml", {"notes.txt": b"Lifeboat drill on Friday.\n"})
    engine = RagEngine(Settings(data_dir=tmp_path / "data"))
    engine.ingest([mail])
    assert len(engine.documents()) == 2
    engine.delete(mail)
    assert engine.documents() == []
    assert not any((tmp_path / "data" / "attachments").iterdir())


@pytest.mark.slow
def test_a_mailboxs_messages_and_their_attached_files_come_and_go_with_it(tmp_path):
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    with_file = _mail_with(tmp_path / "a.eml", {"drill.txt": b"Lifeboat drill on Friday.\n"})
    plain = _mail_with(tmp_path / "b.eml", {}, body="The radar mast was repainted in April.")
    envelope = b"From alice@example.org Mon Mar  2 09:15:00 2026\n"
    mailbox = inbox / "crew.mbox"
    mailbox.write_bytes(envelope + with_file.read_bytes() + b"\n" + envelope + plain.read_bytes())
    engine = RagEngine(Settings(data_dir=tmp_path / "data"))
    engine.sync([inbox])
    names = {Path(d.source).name for d in engine.documents()}
    assert names == {"crew.mbox", "message-0001.eml", "message-0002.eml", "drill.txt"}
    drill = engine.retrieve("When is the lifeboat drill?")[0]
    assert Path(drill.source).name == "drill.txt"
    assert read_source_text(drill.source) == "Lifeboat drill on Friday.\n"

    mailbox.write_bytes(envelope + plain.read_bytes())  # the message with the file is gone
    engine.sync([inbox])
    assert {Path(d.source).name for d in engine.documents()} == {"crew.mbox", "message-0001.eml"}
    assert "Friday" not in engine.ask("When is the lifeboat drill?").text

    mailbox.write_bytes(envelope + with_file.read_bytes())
    engine.sync([inbox])
    assert len(engine.documents()) == 3
    engine.delete(mailbox)
    stored = tmp_path / "data" / "attachments"
    assert engine.documents() == [] and not any(stored.iterdir())


@pytest.mark.parametrize(
    ("question", "asks"),
    [
        ("Who sent the e-mail about the dry dock?", True),
        ("Who sent me the message about the rota?", True),
        ("Who was the email from?", True),
        ("When was the e-mail about the radar upgrade sent?", True),
        ("When did Alice send the email about the radar?", True),
        ("When was the mail from Alice received?", True),
        ("Who sent the package?", False),  # no message
        ("When was the article published?", False),  # the document's date: front matter
        ("When does the Lindqvist go into dry dock?", False),
    ],
)
def test_questions_about_a_messages_sender_or_date_are_told_apart(question, asks):
    assert asks_mail_field(question) is asks


@pytest.mark.slow
def test_who_sent_a_message_and_when_are_its_from_and_date_lines(tmp_path):
    engine = RagEngine(Settings(data_dir=tmp_path / "data"))
    engine.ingest([make_corpus(tmp_path / "corpus")])
    cases = {
        "Who sent the e-mail about the dry dock?": (
            "message-0002.eml",
            "From: Bjørn Lie <bjorn@example.org>",
        ),
        "Who sent the email about the crew rota?": (
            "message-0001.eml",
            "From: Alice Moreau <alice@example.org>",
        ),
        "When was the e-mail about the radar upgrade sent?": (
            "note.eml",
            "Date: Mon, 02 Mar 2026 09:15:00 +0100",
        ),
    }
    for question, (name, line) in cases.items():
        answer = engine.ask(question)
        first = answer.citations[0]
        assert (Path(first.source).name, first.quote) == (name, line), question
        assert read_source_text(first.source)[first.start : first.end] == line
    # The subject must still be found: no message about it, no sender.
    assert engine.ask("Who sent the e-mail about the submarine?").refused
