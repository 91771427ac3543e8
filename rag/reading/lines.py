"""Blocks of line-oriented text: hard-wrapped plain text (FAQs, NEWS, man pages, PDF text)
and reStructuredText.

Both grammars live in the lines: blank lines, indentation, list markers, underlined titles,
literal blocks. Plain text adds what its writers do by habit: lines wrapped at a fixed width
(joined only when the next word would not have fitted, or the next line goes on in lower
case), FAQ question lines, man-page option tags, aligned tables.

reStructuredText is read by these rules rather than by docutils: docutils resolves the
markup into a document tree whose nodes keep a line number only for some elements (a
paragraph's is often its last line), so spans could not be mapped back to the source;
the block grammar itself is the line rules below.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from rag.reading.blocks import (
    ASKS,
    CODE,
    ENDS_CLAUSE,
    HEADING,
    ITEM,
    QUESTION,
    ROW,
    TERM,
    TEXT,
    TOC,
    Block,
)

_TAB = 8
# A line that only draws: "*****", "-----", "_____", "=== ===" (not under a title).
_RULE = re.compile(r"[ \t]*([-=*_~#+^.:'\"`<>])(?:[ \t]*\1){3,}[ \t]*")
_ADORNMENT = re.compile(r"[ \t]*([-=~^\"'`#*+<>_:.])\1{2,}[ \t]*")
# A list item's marker: "* ", "- ", "o   " (man pages), "1. ", "a) ", "(iv) ", "#. " (RST).
_BULLET = re.compile(
    r"[ \t]*(?:[-*+•‣◦]|o(?=[ \t]{2})|\(?(?:\d{1,3}|[a-zA-Z]|[ivxIVX]{1,5}|#)[.)])[ \t]+"
)
# A section number opening a line: "3.8.1\tWhy does …", "1.0  General Concepts".
_SECTION_NUMBER = re.compile(r"[ \t]*(\d{1,3}(?:\.\d{1,3})+)\.?[ \t]+")
_QA_MARK = re.compile(r"[ \t]*(Q|Question)[:.][ \t]+", re.IGNORECASE)
# A man page's tagged paragraph: the tag, two blanks, the text ("     Port    Specifies …").
_TAGGED = re.compile(r"([ \t]*)(\S+(?: \S+)?)([ \t]{2,})(\S)")
_BOX = re.compile(r"\|[ \t].*[ \t]\|")
_WIDE_GAP = re.compile(r"\S( {3,})(?=\S)")
_MAX_QUESTION = 200  # characters: an FAQ's question is a line or two, not a paragraph
# reStructuredText
_DIRECTIVE = re.compile(r"[ \t]*\.\.[ \t]+([\w:.-]+)::")
_COMMENT = re.compile(r"[ \t]*\.\.(?:[ \t]|$)")
_FIELD = re.compile(r"[ \t]*:[^:\s][^:]*:(?:[ \t]+|$)")
_GRID_BORDER = re.compile(r"[ \t]*\+[-=+]+\+[ \t]*")
_GRID_ROW = re.compile(r"[ \t]*\|.*\|[ \t]*")
_SIMPLE_TABLE_BORDER = re.compile(r"[ \t]*=+(?:[ \t]+=+)+[ \t]*")
_CODE_DIRECTIVES = {"code", "code-block", "sourcecode", "highlight", "literalinclude", "doctest"}
_TEXT_DIRECTIVES = {
    "note", "warning", "tip", "important", "admonition", "attention", "caution", "danger",
    "error", "hint", "seealso", "topic", "sidebar", "rubric", "versionadded", "versionchanged",
    "deprecated",
}  # fmt: skip
# A line that opens a shell command example.
_PROMPT = re.compile(r"[ \t]*[$%#>][ \t]+\S")


@dataclass
class _Line:
    start: int
    end: int  # after the last non-blank character
    indent: int  # columns of leading blanks, tabs to 8
    body: str  # the text without leading and trailing blanks

    @property
    def blank(self) -> bool:
        return not self.body

    @property
    def width(self) -> int:
        return self.indent + len(self.body.expandtabs(_TAB))


def indent_width(line: str) -> int:
    """How far a line's text is indented, tabs counted to the next tab stop."""
    return len(line[: len(line) - len(line.lstrip())].expandtabs(_TAB))


def _lines(text: str) -> list[_Line]:
    lines, at = [], 0
    for raw in text.split("\n"):
        body = raw.strip()
        lead = len(raw) - len(raw.lstrip())
        lines.append(_Line(at + lead, at + len(raw.rstrip()), indent_width(raw), body))
        at += len(raw) + 1
    return lines


@dataclass
class _Group:
    """Lines read as one block, before its kind is known."""

    first: int  # line numbers
    last: int
    start: int  # character span (a marker left out)
    end: int
    indent: int  # column of the text's first character
    marker: str = ""  # "bullet", "number", "question", "term", "tag"
    kind: str = ""  # set when the lines decide it (a title, a row, code)
    rank: tuple[int, ...] = ()
    blank_before: bool = False
    blank_after: bool = False
    lines: list[_Line] = field(default_factory=list)


class _Reader:
    def __init__(self, text: str, rst: bool) -> None:
        self.text = text
        self.rst = rst
        self.lines = _lines(text)
        self.width = None if rst else _wrap_width(self.lines)
        self.groups: list[_Group] = []
        self.adornments: list[str] = []  # title underline characters, in order of appearance

    # --- grouping lines into blocks ---

    def read(self) -> list[Block]:
        i = 0
        while i < len(self.lines):
            i = self._step(i)
        self._mark_blank_after()
        self._classify()
        return [
            Block(g.start, g.end, g.kind or TEXT, g.rank) for g in self.groups if g.end > g.start
        ]

    def _step(self, i: int) -> int:
        """Read the block starting at line i (or skip it); the next line to read."""
        line = self.lines[i]
        if line.blank:
            return i + 1
        nxt = self.lines[i + 1] if i + 1 < len(self.lines) else None
        title = self._title(i)
        if title:
            return title
        if self.rst:
            skipped = self._rst_construct(i)
            if skipped:
                return skipped
        if _RULE.fullmatch(line.body) or _GRID_BORDER.fullmatch(line.body):
            return i + 1
        if _BOX.fullmatch(line.body):
            return self._box(i)
        if self._table_line(i):
            self._add(i, i, line.start, line.end, line.indent, kind=ROW)
            return i + 1
        tagged = self._tagged(line, nxt)
        if tagged is not None:
            tag_end, text_start, column = tagged
            self._add(i, i, line.start, tag_end, line.indent, marker="tag")
            return self._paragraph(i, text_start, column, marker="tagged")
        marked = self._marker(line)
        if marked is not None:
            kind, skip = marked
            return self._paragraph(i, line.start + skip, self._column(line, skip), marker=kind)
        return self._paragraph(i, line.start, line.indent)

    def _box(self, i: int) -> int:
        """Text framed by `|` on both sides: one paragraph, the frame left out."""
        last = i
        while last + 1 < len(self.lines) and _BOX.fullmatch(self.lines[last + 1].body):
            last += 1
        start = self.lines[i].start + 1
        end = self.lines[last].end - 1
        start += len(self.text[start:end]) - len(self.text[start:end].lstrip())
        end -= len(self.text[start:end]) - len(self.text[start:end].rstrip())
        self._add(i, last, start, end, self.lines[i].indent + 2)
        return last + 1

    def _paragraph(self, i: int, start: int, column: int, marker: str = "") -> int:
        """Lines from i that continue one paragraph; its group is added."""
        last = i
        while last + 1 < len(self.lines) and self._continues(last, last + 1, column, marker):
            last += 1
        self._add(i, last, start, self.lines[last].end, column, marker=marker)
        if self.rst and self.text[start : self.lines[last].end].endswith("::"):
            literal = self._indented_after(last, self.lines[last].indent)
            self._code_lines(literal)  # a literal block: every line indented under it
            return (literal[-1] + 1) if literal else last + 1
        return last + 1

    def _continues(self, prev_i: int, next_i: int, column: int, marker: str) -> bool:
        """Whether line next_i goes on with the paragraph whose text starts at `column`."""
        prev, line = self.lines[prev_i], self.lines[next_i]
        # An item's wrapped line may go back to the marker's column instead of hanging under
        # its text ("4.1. My program … Valgrind reports\n'still reachable' memory leaks …").
        lazy = bool(marker) and line.indent == prev.indent < column
        if line.blank or (line.indent != column and not lazy) or self._starts_block(next_i):
            return False
        if self.rst or (marker and line.indent > self.lines[prev_i].indent):
            return True  # a paragraph is all its lines; an item's text hangs under itself
        if self.width is None:
            return False  # one paragraph per line
        if prev.body.endswith("-") and line.body[:1].islower():
            return True
        if line.body[:1].islower() or line.body[:1] in "([{\"'`":
            return True
        if prev.width + 1 + len(line.body.split()[0]) > self.width:
            return True  # the next word would not have fitted: a wrap
        # A long line that ends mid-sentence was wrapped early (before a long word).
        return not ENDS_CLAUSE.search(prev.body) and prev.width >= 0.6 * self.width

    def _starts_block(self, i: int) -> bool:
        line = self.lines[i]
        text = self.text[line.start : line.end]
        if _RULE.fullmatch(text) or self._marker(line) is not None or self._table_line(i):
            return True
        if i + 1 < len(self.lines) and self._is_underline(i + 1, i):
            return True
        return bool(self.rst and (_DIRECTIVE.match(text) or _COMMENT.match(text)))

    def _column(self, line: _Line, chars: int) -> int:
        """The column of the character `chars` after the line's first non-blank one."""
        return len(
            (" " * line.indent + self.text[line.start : line.start + chars]).expandtabs(_TAB)
        )

    def _add(self, first: int, last: int, start: int, end: int, indent: int, **kw: object) -> None:
        blank_before = first == 0 or self.lines[first - 1].blank
        group = _Group(first, last, start, end, indent, blank_before=blank_before, **kw)  # type: ignore[arg-type]
        group.lines = self.lines[first : last + 1]
        self.groups.append(group)

    # --- titles, markers, tables ---

    def _is_underline(self, i: int, title_i: int) -> bool:
        line, title = self.lines[i], self.lines[title_i]
        if title.blank or line.blank or line.indent > title.indent + 1:
            return False
        if not _ADORNMENT.fullmatch(line.body) or _ADORNMENT.fullmatch(title.body):
            return False
        if not self.rst and len(line.body) > 1.3 * len(title.body) + 2:
            return False  # a rule across the page under a short line, not its underline
        return len(line.body) >= max(3, 0.7 * len(title.body))

    def _title(self, i: int) -> int:
        """A title underlined (and maybe overlined) from line i: its group; the next line."""
        over = 0
        if (
            _ADORNMENT.fullmatch(self.lines[i].body)
            and i + 2 < len(self.lines)
            and self._is_underline(i + 2, i + 1)
            and self.lines[i + 2].body == self.lines[i].body
        ):
            over = 1
        title_i = i + over
        if title_i + 1 >= len(self.lines) or not self._is_underline(title_i + 1, title_i):
            return 0
        title = self.lines[title_i]
        char = ("o" if over else "") + self.lines[title_i + 1].body[0]
        if char not in self.adornments:
            self.adornments.append(char)
        rank = (-1, self.adornments.index(char))  # titles enclose every other label
        self._add(title_i, title_i, title.start, title.end, title.indent, kind=HEADING, rank=rank)
        return title_i + 2

    def _marker(self, line: _Line) -> tuple[str, int] | None:
        """A list item, section number or question mark opening the line: (kind, its length)."""
        if line.blank:
            return None
        raw = self.text[line.start : line.end]
        qa = _QA_MARK.match(raw)
        if qa:
            return "question", qa.end()
        number = _SECTION_NUMBER.match(raw)
        if number and not self.rst and line.indent <= 1 and not raw[number.end()].islower():
            return "number", number.end()
        if self.rst and _FIELD.match(raw):
            return "bullet", 0
        bullet = _BULLET.match(raw)
        if bullet and bullet.end() < len(raw):
            return "bullet", bullet.end()
        return None

    def _tagged(self, line: _Line, nxt: _Line | None) -> tuple[int, int, int] | None:
        """A man page's tag and text on one line, the text going on under itself:
        (end of the tag, start of the text, the text's column)."""
        if self.rst or nxt is None or nxt.blank:
            return None
        raw = self.text[line.start : line.end]
        match = _TAGGED.match(raw)
        if not match or len(match.group(2)) > 24 or self._marker(line) is not None:
            return None
        column = self._column(line, match.start(4))
        if nxt.indent != column or column <= line.indent:
            return None
        return line.start + match.end(2), line.start + match.start(4), column

    def _table_line(self, i: int) -> bool:
        """A row of an aligned table: a gap of 3+ blanks that a neighbouring line has too."""
        if self.rst:
            line = self.lines[i]
            return bool(_GRID_ROW.fullmatch(line.body)) or self._in_simple_table(i)
        gaps = self._gaps(i)
        if not gaps:
            return False
        return any(0 <= j < len(self.lines) and gaps & self._gaps(j) for j in (i - 1, i + 1))

    def _gaps(self, i: int) -> set[int]:
        """Columns where a wide gap between words ends, in line i (none for a list item)."""
        line = self.lines[i]
        if line.blank or "\t" in line.body or self._marker(line) is not None:
            return set()
        raw = self.text[line.start : line.end]
        return {line.indent + m.end(1) for m in _WIDE_GAP.finditer(raw)}

    def _in_simple_table(self, i: int) -> bool:
        borders = [j for j, x in enumerate(self.lines) if _SIMPLE_TABLE_BORDER.fullmatch(x.body)]
        return any(a < i < b for a, b in zip(borders, borders[1:], strict=False))

    # --- reStructuredText constructs ---

    def _rst_construct(self, i: int) -> int:
        """Directives, comments and literal blocks from line i: the next line to read (0: none)."""
        line = self.lines[i]
        raw = self.text[line.start : line.end]
        directive = _DIRECTIVE.match(raw)
        if directive:
            name = directive.group(1).lower()
            body = self._indented_after(i, line.indent)
            if name in _CODE_DIRECTIVES:
                self._code_lines(body, options=True)
            elif name in _TEXT_DIRECTIVES:  # its content is read as text, its first line too
                rest = raw[directive.end() :]
                if rest.strip():
                    start = line.start + directive.end() + len(rest) - len(rest.lstrip())
                    self._add(i, i, start, line.end, line.indent)
                return i + 1
            return (body[-1] + 1) if body else i + 1
        if _COMMENT.match(raw) or _SIMPLE_TABLE_BORDER.fullmatch(line.body):
            body = self._indented_after(i, line.indent)
            return (body[-1] + 1) if body else i + 1
        if line.body == "::":
            body = self._indented_after(i, line.indent)
            self._code_lines(body)
            return (body[-1] + 1) if body else i + 1
        return 0

    def _indented_after(self, i: int, indent: int) -> list[int]:
        """The lines after i indented deeper than `indent` (blank lines inside included)."""
        found, j = [], i + 1
        while j < len(self.lines) and (self.lines[j].blank or self.lines[j].indent > indent):
            found.append(j)
            j += 1
        while found and self.lines[found[-1]].blank:
            found.pop()
        return found

    def _code_lines(self, body: list[int], options: bool = False) -> None:
        if options:  # a directive's ":linenos:" options come first
            while body and self.lines[body[0]].body.startswith(":"):
                body = body[1:]
        body = [j for j in body if j >= (body[0] if body else 0)]
        while body and self.lines[body[0]].blank:
            body = body[1:]
        if body:
            first, last = self.lines[body[0]], self.lines[body[-1]]
            self._add(body[0], body[-1], first.start, last.end, first.indent, kind=CODE)

    # --- what each block is ---

    def _mark_blank_after(self) -> None:
        for g in self.groups:
            g.blank_after = g.last + 1 >= len(self.lines) or self.lines[g.last + 1].blank

    def _classify(self) -> None:
        groups = self.groups
        for n, g in enumerate(groups):
            if g.kind:
                continue
            after = groups[n + 1] if n + 1 < len(groups) else None
            before = groups[n - 1] if n else None
            g.kind, g.rank = self._kind(g, before, after)
        self._mark_code()
        self._mark_toc()

    def _kind(
        self, g: _Group, before: _Group | None, after: _Group | None
    ) -> tuple[str, tuple[int, ...]]:
        text = self.text[g.start : g.end]
        one_line = g.first == g.last
        ends_sentence = bool(ENDS_CLAUSE.search(text))
        if g.marker == "tag":
            return TERM, (g.indent, 8)
        if g.marker == "question":
            return QUESTION, (g.indent, 6)
        if g.marker == "number":
            raw = self.text[g.lines[0].start : g.end]
            number = _SECTION_NUMBER.match(raw)
            depth = _depth(number.group(1)) if number else 1
            if ASKS.search(text):
                return QUESTION, (0, 1 + depth)
            if not ends_sentence and len(text) <= 80:
                return HEADING, (0, 1 + depth)
            return ITEM, ()
        if g.marker:  # an item's own paragraphs stand at its text's column
            deeper_next = (
                after is not None
                and after.indent >= g.indent
                and not after.marker
                and g.blank_after
                and after.kind != ROW
            )
        else:
            deeper_next = after is not None and after.indent > g.indent
        deeper_next = deeper_next and after is not None and after.first <= g.last + 2
        label_like = one_line and not ends_sentence and len(text) <= 80 and "://" not in text
        if (
            ASKS.search(text)
            and g.last - g.first < 3
            and len(text) <= _MAX_QUESTION
            and after is not None
            and after.indent >= g.indent
            and g.blank_before
            and not self.rst
        ):
            return QUESTION, (g.indent, 6)
        if label_like and g.indent <= 3 and _all_caps(text) and not self.rst:
            return HEADING, (g.indent, 0)
        if label_like and deeper_next and (g.marker == "bullet" or not text.endswith(":")):
            return TERM, (g.indent, 8)
        if g.marker == "bullet":
            return ITEM, ()
        if self.rst:
            return TEXT, ()
        if (
            label_like
            and g.blank_before
            and g.blank_after
            and text[-1:].isalnum()
            and "  " not in text
            and after is not None
            and after.indent >= g.indent
            and self.width is not None
        ):
            return HEADING, (g.indent, 5)
        return TEXT, ()

    def _mark_code(self) -> None:
        """A block indented under a line that ends in ':' is its example (and the blocks at
        that depth after it); so is a block of shell prompts."""
        code_indent = None
        for n, g in enumerate(self.groups):
            before = self.groups[n - 1] if n else None
            text = self.text[g.start : g.end]
            if code_indent is not None and g.indent >= code_indent and g.kind in (TEXT, CODE):
                g.kind = CODE
                continue
            code_indent = None
            introduced = (
                before is not None
                and before.kind in (TEXT, ITEM)
                and self.text[before.start : before.end].endswith(":")
                and g.indent > before.indent
            )
            literal = self.rst and before is not None and self._ends_literal(before)
            if g.kind in (TEXT, ITEM) and (introduced or literal) and g.marker != "bullet":
                g.kind, code_indent = CODE, g.indent
            elif g.kind == TEXT and not self.rst and _PROMPT.match(text):
                g.kind = CODE

    def _ends_literal(self, g: _Group) -> bool:
        return self.text[g.start : g.end].endswith("::")

    def _mark_toc(self) -> None:
        """Numbered headings and questions whose number comes again further on: the table
        of contents lists the sections that follow."""
        numbered = [
            g for g in self.groups if g.marker == "number" and g.kind in (HEADING, QUESTION)
        ]
        numbers = [_SECTION_NUMBER.match(self.text[g.lines[0].start : g.end]) for g in numbered]
        keys = [m.group(1) if m else "" for m in numbers]
        for n, (g, key) in enumerate(zip(numbered, keys, strict=True)):
            if key and key in keys[n + 1 :]:
                g.kind = TOC


def _depth(number: str) -> int:
    """How deep a section number is: "1.2.1" is 3; "1.0" is a chapter, as "1" is."""
    parts = number.split(".")
    while len(parts) > 1 and parts[-1] == "0":
        parts.pop()
    return len(parts)


def _all_caps(text: str) -> bool:
    letters = [c for c in text if c.isalpha()]
    return len(letters) >= 3 and all(c.isupper() for c in letters)


def _wrap_width(lines: list[_Line]) -> int | None:
    """The column a hard-wrapped text is wrapped at; None when lines are paragraphs.

    Lines followed by another line of the same paragraph are the wrapped ones; most of them
    end near the width. A text with many long lines is not wrapped.
    """
    widths = [x.width for x in lines if not x.blank]
    if not widths or sum(w > 100 for w in widths) > 0.1 * len(widths):
        return None
    candidates = sorted(
        a.width for a, b in zip(lines, lines[1:], strict=False) if not a.blank and not b.blank
    )
    if len(candidates) < 3:
        return None
    return candidates[int(0.9 * (len(candidates) - 1))]


def plain_blocks(text: str) -> list[Block]:
    """The blocks of a plain-text file (or a PDF's text)."""
    return _Reader(text, rst=False).read()


def rst_blocks(text: str) -> list[Block]:
    """The blocks of a reStructuredText file."""
    return _Reader(text, rst=True).read()
