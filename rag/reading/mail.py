"""E-mail as text: a message (.eml) with its subject as the title, From, To, Cc and Date as
lines a question can be answered from (and as metadata for `--filter`), then the body (its
plain text, else its HTML read by the DOM). A mailbox (.mbox) is one document of its
messages in order, each under its subject, its locator "message N: subject". Attached
files are kept (name, bytes) for the loader to index as documents of their own."""

from __future__ import annotations

from collections.abc import Iterable
from email.message import EmailMessage

from rag.reading.html import html_to_text
from rag.reading.written import Written, one_line

_HEADERS = ("From", "To", "Cc", "Date")


def eml_to_text(message: EmailMessage) -> Written:
    subject = one_line(str(message.get("Subject", "")))
    written = Written(title=subject)
    if subject:
        written.metadata["subject"] = subject
    _write_message(message, written)
    return written


def mbox_to_text(messages: Iterable[EmailMessage]) -> Written:
    """The messages of a mailbox in order; their fields are not the document's metadata (a
    mailbox has many senders)."""
    written = Written()
    for number, message in enumerate(messages, start=1):
        subject = one_line(str(message.get("Subject", "")))
        written.mark(f"message {number}: {subject}" if subject else f"message {number}")
        _write_message(message, written, in_mailbox=True)
    return written


def _write_message(message: EmailMessage, written: Written, in_mailbox: bool = False) -> None:
    """The subject as a heading (in a mailbox, every message has one: it is where the
    message starts), the header lines, then the body's paragraphs."""
    subject = one_line(str(message.get("Subject", "")))
    written.add(f"# {subject}" if subject else "# (no subject)" if in_mailbox else "")
    for name in _HEADERS:
        value = one_line(str(message.get(name, "")))
        if value:
            if not in_mailbox:
                written.metadata[name.lower()] = value
            written.add(f"{name}: {value}")
    for part in message.iter_attachments():
        data = part.get_payload(decode=True)
        if part.get_filename() and isinstance(data, bytes) and data:
            written.attachments.append((str(part.get_filename()), data))
    body = message.get_body(preferencelist=("plain", "html"))
    if body is not None:
        content = body.get_content()
        if body.get_content_subtype() == "html":
            content, _ = html_to_text(content)
        for paragraph in content.replace("\r\n", "\n").split("\n\n"):
            written.add(paragraph.strip("\n"))
