"""Show me where it says that: a quote where it stands in its document.

The document's text (what citation spans index) around the quote, the quote marked; for a
PDF, its page rendered (pypdfium2) with the quote's boxes painted over it. Only indexed
documents are shown: the source a request names is looked up among them, never opened as
given.
"""

from __future__ import annotations

import base64
import io
from pathlib import Path

from rag import RagEngine
from rag.errors import DocumentNotFoundError, RagError
from rag.file_text import page_at
from ui.render import esc

# Characters shown before and after the quote: enough context, not a whole book.
CONTEXT_CHARS = 4000
_SCALE = 1.5  # PDF points to pixels: a page 918 px wide
_HIGHLIGHT = (255, 221, 0, 110)


def document_view(engine: RagEngine, source: str, start: int, end: int) -> str:
    """The HTML of the quote `start:end` of an indexed document, in its context."""
    if source not in {d.source for d in engine.documents()}:
        raise DocumentNotFoundError(f"{Path(source).name} is not an indexed document.")
    text = engine.document_text(source)
    if not 0 <= start < end <= len(text):
        raise RagError(f"Characters {start}–{end} are not in {Path(source).name}.")
    quote = text[start:end]
    lo, hi = max(0, start - CONTEXT_CHARS), min(len(text), end + CONTEXT_CHARS)
    before = ("…" if lo else "") + text[lo:start]
    after = text[end:hi] + ("…" if hi < len(text) else "")
    page = page_at(source, start) if source.lower().endswith(".pdf") else None
    image = _page_image(source, page, quote) if page else ""
    where = f"page {page}, " if page else ""
    return (
        f'<div class="document-view"><p class="where"><strong>{esc(Path(source).name)}</strong>'
        f" · {where}characters {start}–{end}</p>{image}"
        f'<pre class="document">{esc(before)}<mark id="quote">{esc(quote)}</mark>'
        f"{esc(after)}</pre></div>"
    )


def _page_image(source: str, page: int, quote: str) -> str:
    """The page as a PNG data URI, the quote's boxes painted; "" if it cannot be drawn."""
    try:
        png = page_png(Path(source), page, quote)
    except Exception:  # a PDF pypdf read but pdfium cannot draw: the text view still shows
        return ""
    data = base64.b64encode(png).decode()
    return f'<img class="page" alt="page {page}" src="data:image/png;base64,{data}">'


def page_png(path: Path, page_number: int, quote: str) -> bytes:
    """One page of a PDF as PNG, with the boxes of the quote's characters highlighted."""
    import pypdfium2 as pdfium
    from PIL import Image, ImageDraw

    document = pdfium.PdfDocument(path)
    try:
        page = document[page_number - 1]
        boxes = quote_boxes(page, quote)
        image = page.render(scale=_SCALE).to_pil().convert("RGBA")
        height = page.get_height()
    finally:
        document.close()
    overlay = Image.new("RGBA", image.size, (0, 0, 0, 0))
    draw = ImageDraw.Draw(overlay)
    for left, bottom, right, top in boxes:
        draw.rectangle(
            [left * _SCALE, (height - top) * _SCALE, right * _SCALE, (height - bottom) * _SCALE],
            fill=_HIGHLIGHT,
        )
    out = io.BytesIO()
    Image.alpha_composite(image, overlay).convert("RGB").save(out, format="PNG", optimize=True)
    return out.getvalue()


def quote_boxes(page, quote: str) -> list[tuple[float, float, float, float]]:
    """The rectangles (PDF points: left, bottom, right, top) of the quote on the page.

    pdfium reads the page's text itself, and its line breaks and hyphens need not be where
    pypdf put them: each line of the quote is searched on its own, in order.
    """
    textpage = page.get_textpage()
    boxes: list[tuple[float, float, float, float]] = []
    position = 0
    for line in (" ".join(part.split()) for part in quote.splitlines()):
        if not line:
            continue
        found = textpage.search(line, index=position).get_next()
        if found is None:
            continue
        index, count = found
        boxes += [textpage.get_rect(i) for i in range(textpage.count_rects(index, count))]
        position = index + count
    return boxes
