"""E-mail (.eml) as text: the subject as the title, From, To, Cc and Date as lines a
question can be answered from (and as metadata for `--filter`), then the body (its plain
text, else its HTML read by the DOM). Attachments are not read."""

from __future__ import annotations

from email.message import EmailMessage

from rag.reading.html import html_to_text
from rag.reading.written import Written, one_line

_HEADERS = ("From", "To", "Cc", "Date")


def eml_to_text(message: EmailMessage) -> Written:
    subject = one_line(str(message.get("Subject", "")))
    written = Written(title=subject)
    written.add(f"# {subject}" if subject else "")
    for name in _HEADERS:
        value = one_line(str(message.get(name, "")))
        if value:
            written.metadata[name.lower()] = value
            written.add(f"{name}: {value}")
    if subject:
        written.metadata["subject"] = subject
    body = message.get_body(preferencelist=("plain", "html"))
    if body is not None:
        content = body.get_content()
        if body.get_content_subtype() == "html":
            content, _ = html_to_text(content)
        for paragraph in content.replace("\r\n", "\n").split("\n\n"):
            written.add(paragraph.strip("\n"))
    return written
