"""HTML and DOCX to text by their structure, written in Markdown's block syntax.

One block per paragraph, heading (`#`), list item (`- `), definition term (`######`, a
label for its definition), table (`| a | b |` rows) and `pre` block (fenced), separated by
blank lines, with no inline markup: the same reader then reads it as it reads Markdown
(rag.reading.markdown). Navigation, page headers and footers, sidebars and permalink marks
are left out. This text is what citations of these files point into (`rag docs show`).
"""

from __future__ import annotations

import re
from typing import Any

_SPACE = re.compile(r"\s+")
_DROPPED_TAGS = {
    "script", "style", "noscript", "template", "head", "nav", "footer", "aside", "form",
    "button", "iframe", "svg", "select", "textarea", "input", "object", "embed", "canvas",
}  # fmt: skip
_DROPPED_ROLES = {"navigation", "banner", "contentinfo", "search", "complementary", "menu"}
# Class or id words of page furniture: Sphinx's "related" bar and "sphinxsidebar", breadcrumbs,
# "headerlink" and Texinfo's "copiable-anchor" (the ¶ after a heading or term), skip links,
# cookie notices.
_FURNITURE = re.compile(
    r"(?:^|[-_\s])(?:nav|navbar|navigation|sidebar|sphinxsidebar|related|breadcrumbs?|"
    r"footer|menu|skip-?link|headerlink|copiable-(?:anchor|link)|cookie\w*)(?:$|[-_\s])",
    re.IGNORECASE,
)
# Link relations of a manual's "Next: …, Previous: …, Up: …" bar (Texinfo, other generators).
_NAVIGATION_RELS = {"next", "prev", "previous", "up", "contents", "index", "top", "first", "last"}
_HEADINGS = {f"h{n}": n for n in range(1, 7)}
_BLOCKS = {
    "p", "div", "section", "article", "main", "header", "blockquote", "ul", "ol", "dl",
    "figure", "figcaption", "caption", "address", "details", "summary", "center", "body",
    "hr", "fieldset", "legend",
}  # fmt: skip
_TERM_MARK = "###### "  # a <dt>: the label of the <dd> under it


class _Writer:
    """Blocks of text as the DOM is walked; inline text gathers until a block ends."""

    def __init__(self) -> None:
        self.blocks: list[str] = []
        self._inline: list[str] = []
        self._prefix = ""

    def text(self, piece: str) -> None:
        self._inline.append(piece)

    def end_block(self, prefix: str = "") -> None:
        text = _SPACE.sub(" ", "".join(self._inline)).strip()
        self._inline = []
        if text:
            self.blocks.append((prefix or self._prefix) + text)
            self._prefix = ""

    def start_item(self, prefix: str) -> None:
        self.end_block()
        self._prefix = prefix

    def literal(self, block: str) -> None:
        self.end_block()
        if block.strip():
            self.blocks.append(block)


def _is_furniture(tag: Any) -> bool:
    if tag.name in _DROPPED_TAGS or (tag.get("role") or "") in _DROPPED_ROLES:
        return True
    if tag.name in ("ul", "ol") and _is_contents(tag):
        return True
    names = " ".join([*(tag.get("class") or []), tag.get("id") or ""])
    if names.strip() and _FURNITURE.search(names):
        return True
    return tag.name in ("p", "div") and _is_navigation_bar(tag)


def _is_navigation_bar(block: Any) -> bool:
    """A block of links to the next, previous and parent pages and little else (its own
    links only: a page's sections are not bars for holding one)."""
    links = block.find_all("a", recursive=False)
    rels = [set(a.get("rel") or ()) for a in links]
    if not rels or not all(r and r <= _NAVIGATION_RELS for r in rels):
        return False
    between = len(_SPACE.sub("", block.get_text())) - sum(
        len(_SPACE.sub("", a.get_text())) for a in links
    )
    return between <= 10 * len(links)


def _is_contents(listing: Any) -> bool:
    """A list of links to the page's own headings: its table of contents."""
    links = listing.find_all("a")
    if not links or not all((a.get("href") or "").startswith("#") for a in links):
        return False
    linked = "".join(a.get_text() for a in links)
    return len(_SPACE.sub("", linked)) >= 0.9 * len(_SPACE.sub("", listing.get_text()))


def _walk(node: Any, out: _Writer) -> None:
    from bs4 import Comment, NavigableString, Tag

    for child in node.children:
        if isinstance(child, Comment):
            continue
        if isinstance(child, NavigableString):
            if type(child) is NavigableString:  # not a Doctype, CData or processing instruction
                out.text(str(child))
            continue
        if not isinstance(child, Tag) or _is_furniture(child):
            continue
        _element(child, out)


def _element(tag: Any, out: _Writer) -> None:
    name = tag.name
    if name in _HEADINGS:
        out.end_block()
        _walk(tag, out)
        out.end_block("#" * _HEADINGS[name] + " ")
    elif name == "pre":
        out.literal(_fenced(tag.get_text()))
    elif name == "li":
        out.start_item("- ")
        _walk(tag, out)
        out.end_block()
    elif name == "dt":
        out.end_block()
        _walk(tag, out)
        out.end_block(_TERM_MARK)
    elif name == "table":
        out.literal(_table(tag))
    elif name == "br":
        out.text(" ")
    elif name in _BLOCKS or name in ("dd", "tr", "td", "th"):
        out.end_block()
        _walk(tag, out)
        out.end_block()
    else:
        _walk(tag, out)


def _fenced(code: str) -> str:
    code = code.strip("\n")
    fence = "```"
    while fence in code:
        fence += "`"
    return f"{fence}\n{code}\n{fence}"


def _table(table: Any) -> str:
    rows = []
    for tr in table.find_all("tr"):
        cells = [
            _SPACE.sub(" ", cell.get_text(" ")).strip().replace("|", "\\|")
            for cell in tr.find_all(["td", "th"], recursive=False)
        ]
        if any(cells):
            rows.append(cells)
    return _table_rows(rows)


def _table_rows(rows: list[list[str]]) -> str:
    """Rows as a Markdown table (its first row as the header, as Markdown wants one)."""
    if not rows:
        return ""
    width = max(len(r) for r in rows)
    lines = ["| " + " | ".join(r + [""] * (width - len(r))) + " |" for r in rows]
    lines.insert(1, "|" + " --- |" * width)
    return "\n".join(lines)


def html_to_text(markup: str) -> tuple[str, str]:
    """(the page's text, its title) from its DOM."""
    import warnings

    from bs4 import BeautifulSoup, MarkupResemblesLocatorWarning

    with warnings.catch_warnings():
        # Short markup such as ".TXT" "looks like a filename" to BeautifulSoup; it is text here.
        warnings.simplefilter("ignore", MarkupResemblesLocatorWarning)
        soup = BeautifulSoup(markup, "html.parser")
    title_tag = soup.find("title")
    title = _SPACE.sub(" ", title_tag.get_text()).strip() if title_tag else ""
    out = _Writer()
    _walk(soup, out)
    out.end_block()
    return "\n\n".join(out.blocks), title


def docx_to_text(document: Any) -> str:
    """A python-docx Document's paragraphs and tables, in order, headings and list items
    marked by their styles."""
    from docx.table import Table

    blocks: list[str] = []
    for part in document.iter_inner_content():
        if isinstance(part, Table):
            rows = [[_SPACE.sub(" ", c.text).strip() for c in row.cells] for row in part.rows]
            blocks.append(_table_rows([r for r in rows if any(r)]))
            continue
        text = _SPACE.sub(" ", part.text).strip()
        if text:
            blocks.append(_styled(text, part.style.name if part.style is not None else ""))
    return "\n\n".join(b for b in blocks if b)


def _styled(text: str, style: str) -> str:
    heading = re.fullmatch(r"Heading (\d)", style)
    if heading:
        return "#" * min(int(heading.group(1)), 6) + " " + text
    if style == "Title":
        return "# " + text
    if style.startswith("List"):
        return "- " + text
    return text
