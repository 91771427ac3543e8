"""E-mail as text: a message (.eml) with its subject as the title, From, To, Cc and Date as
lines a question can be answered from (and as metadata for `--filter`), then the body (its
plain text, else its HTML read by the DOM). Attached files are kept (name, bytes) for the
loader to index as documents of their own.

A mailbox (.mbox) keeps each message as its own .eml, which the loader indexes as a
document of its own: its fields are its metadata, so `--filter from=…` picks one message out
of a mailbox, and a message's attached files come too."""

from __future__ import annotations

from collections.abc import Iterable
from email.message import EmailMessage

from rag.reading.html import html_to_text
from rag.reading.written import Written, one_line

_HEADERS = ("From", "To", "Cc", "Date")


def eml_to_text(message: EmailMessage) -> Written:
    """The subject as a heading, the header lines, then the body's paragraphs."""
    subject = one_line(str(message.get("Subject", "")))
    written = Written(title=subject)
    if subject:
        written.metadata["subject"] = subject
        written.add(f"# {subject}")
    _write_fields_and_body(message, written)
    return written


def mbox_to_text(messages: Iterable[bytes]) -> Written:
    """A mailbox: its messages (each as its bytes) kept as .eml files to index on their own
    (`attachments`), and a line that counts them. Its text lists no subjects or senders: with
    a table of them, the rules read the table and the message as two documents that answer
    together, and answers led with the table's row instead of the message's sentence."""
    written = Written()
    for number, raw in enumerate(messages, start=1):
        written.attachments.append((f"message-{number:04d}.eml", raw))
    count = len(written.attachments)
    written.add(f"{count} message{'' if count == 1 else 's'}.")
    return written


def _write_fields_and_body(message: EmailMessage, written: Written) -> None:
    for name in _HEADERS:
        value = one_line(str(message.get(name, "")))
        if value:
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
