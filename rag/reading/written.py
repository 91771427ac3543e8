"""Text written from a structured file (a spreadsheet, slides, an e-book, an e-mail) in
Markdown's block syntax, with where each part starts: the citation's locator ("slide 7",
"Sheet1!A12", a chapter's title)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

_SPACE = re.compile(r"\s+")


def one_line(text: str) -> str:
    """Whitespace runs as one space: a cell or a title as one line of a block."""
    return _SPACE.sub(" ", text).strip()


@dataclass
class Written:
    """Blocks separated by blank lines, each part's start offset and label, the title the
    file declares and header fields (an e-mail's From, To, Date, Subject)."""

    blocks: list[str] = field(default_factory=list)
    locators: list[tuple[int, str]] = field(default_factory=list)
    title: str = ""
    metadata: dict[str, str] = field(default_factory=dict)
    attachments: list[tuple[str, bytes]] = field(default_factory=list)  # files, messages
    _length: int = 0

    def mark(self, label: str) -> None:
        """The next block starts the part called `label`."""
        self.locators.append((self._length + (2 if self.blocks else 0), label))

    def add(self, block: str) -> None:
        if not block.strip():
            return
        if self.blocks:
            self._length += 2
        self.blocks.append(block)
        self._length += len(block)

    def add_table(self, rows: list[list[str]], header: list[str], labels: list[str]) -> None:
        """Rows as one Markdown table, each row's line marked with its label ("A12").

        Each cell says its column ("Age: 31"), so a row read on its own (one unit:
        rag.reading.markdown) still says what each value is; the table's own Markdown
        header is left empty, so it is no unit.
        """
        width = max((len(r) for r in rows), default=0)
        if not width:
            return
        names = header + [""] * width
        lines = ["|" + " |" * width, "|" + " --- |" * width]
        start = self._length + (2 if self.blocks else 0) + sum(len(x) + 1 for x in lines)
        for row, label in zip(rows, labels, strict=True):
            cells = [_cell(names[i], value) for i, value in enumerate(row)]
            line = "| " + " | ".join(cells + [""] * (width - len(cells))) + " |"
            self.locators.append((start, label))
            start += len(line) + 1
            lines.append(line)
        self.add("\n".join(lines))

    @property
    def text(self) -> str:
        return "\n\n".join(self.blocks)


def _cell(name: str, value: str) -> str:
    value = one_line(value).replace("|", "\\|")
    name = one_line(name).replace("|", "/")
    return f"{name}: {value}" if name and value else value
