"""E-books (EPUB) as text: the chapters in reading order, each read as HTML by its DOM
(rag.reading.html); a chapter's locator is its title (its first heading)."""

from __future__ import annotations

from typing import Any

from rag.reading.html import html_to_text
from rag.reading.written import Written, one_line


def epub_to_text(book: Any) -> Written:
    from ebooklib import ITEM_DOCUMENT

    titles = book.get_metadata("DC", "title")
    written = Written(title=one_line(titles[0][0]) if titles else "")
    for number, (item_id, _) in enumerate(book.spine, start=1):
        item = book.get_item_with_id(item_id)
        if item is None or item.get_type() != ITEM_DOCUMENT:
            continue
        text, page_title = html_to_text(item.get_content().decode("utf-8", "replace"))
        if not text.strip():
            continue
        heading = next((line for line in text.splitlines() if line.startswith("#")), "")
        label = one_line(heading.lstrip("#")) or page_title or f"chapter {number}"
        written.mark(label)
        written.add(text.strip())
    return written
