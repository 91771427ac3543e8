"""The blocks a document is made of, and which reader reads which file format."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from rag.ocr import IMAGE_SUFFIXES

# Block kinds, one letter each: they are stored with every chunk (rag.reading.units).
TEXT = "t"  # a paragraph: split into sentences
ITEM = "i"  # a list item: split into sentences
HEADING = "h"  # a heading or a label: context for the blocks under it, never an answer
QUESTION = "q"  # an FAQ question line: context for its answer, never an answer
TERM = "d"  # a definition list's term (a man page option, an HTML <dt>): context
CODE = "c"  # a code block or command example: one unit, shown as code
ROW = "r"  # a table row: one unit
TOC = "x"  # a table of contents entry: neither answer nor context
LEGAL = "l"  # a sentence of a licence or copyright notice: an answer only when asked for

LABELS = frozenset({HEADING, QUESTION, TERM})  # what makes a section
NOT_ANSWERS = LABELS | {TOC}

# The formats a reader exists for; the extracted text of HTML and DOCX (rag.reading.html),
# spreadsheets, slides, e-books and e-mail (rag.reading.written) is written in the Markdown
# block syntax, without inline markup.
MARKDOWN, RST, PLAIN, EXTRACTED = "markdown", "rst", "plain", "extracted"
_FORMATS = {
    ".md": MARKDOWN,
    ".markdown": MARKDOWN,
    ".rst": RST,
    ".html": EXTRACTED,
    ".htm": EXTRACTED,
    ".docx": EXTRACTED,
    ".csv": EXTRACTED,
    ".xlsx": EXTRACTED,
    ".pptx": EXTRACTED,
    ".epub": EXTRACTED,
    ".eml": EXTRACTED,
    ".mbox": EXTRACTED,
}


# A text that ends a clause: punctuation, then closing quotes, brackets or markup.
ENDS_CLAUSE = re.compile(r"[.!?;,][\"'”’)\]*_`]*$")
ASKS = re.compile(r"\?[\"'”’)\]*_`]*$")  # a text that ends in a question mark


@dataclass(frozen=True)
class Block:
    """A span of the text (markers such as `#` or `- ` left out) and what it is.

    `rank` orders labels: a label closes the sections of labels whose rank is not lower.
    """

    start: int
    end: int
    kind: str
    rank: tuple[int, ...] = ()


def format_of(path: str | Path) -> str:
    """The reader for a file, by its suffix: plain text (and PDF) unless it has markup."""
    return _FORMATS.get(Path(path).suffix.lower(), PLAIN)


def text_format(path: str | Path) -> str:
    """Whether citation offsets index the file's own text or the text extracted from it."""
    suffix = Path(path).suffix.lower()
    scanned = suffix == ".pdf" or suffix in IMAGE_SUFFIXES
    return "extracted" if scanned or _FORMATS.get(suffix) == EXTRACTED else "file"
