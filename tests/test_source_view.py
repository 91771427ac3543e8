"""Show me where it says that (ui.source_view): a citation's quote marked in its document's
text, a PDF's page drawn with the quote's boxes painted; only indexed documents, over the
HTTP API too."""

from __future__ import annotations

import html
import io
import re
import urllib.error
import urllib.parse
import urllib.request
from contextlib import contextmanager
from pathlib import Path

import pypdfium2 as pdfium
import pytest
from PIL import Image

from rag import RagEngine, Settings
from rag.errors import DocumentNotFoundError, RagError
from tests.conftest import make_pdf, serve_app
from ui.source_view import CONTEXT_CHARS, document_view, page_png, quote_boxes

pytestmark = pytest.mark.slow

FERRY = "The Lindqvist ferry leaves Tromso\nat 07:40 daily."
PAGES = ["Harbour guide. Chapter one.", f"{FERRY} It has twelve cabins.", "Index."]


@pytest.fixture(scope="module")
def ferry(tmp_path_factory) -> tuple[RagEngine, Path, Path]:
    """An index of a three-page PDF and a long text file."""
    folder = tmp_path_factory.mktemp("view")
    pdf = folder / "guide.pdf"
    make_pdf(pdf, PAGES)
    notes = folder / "notes.txt"
    notes.write_text("Filler sentence about nothing.\n" * 400 + "The tide turns at noon.\n")
    engine = RagEngine(Settings(data_dir=folder / "data"))
    engine.ingest([pdf, notes])
    return engine, pdf, notes


def test_the_quote_is_marked_in_its_text_with_a_bounded_context(ferry):
    engine, _, notes = ferry
    answer = engine.ask("When does the tide turn?")
    cited = answer.citations[0]
    view = document_view(engine, cited.source, cited.start, cited.end)
    marked = view.split('<mark id="quote">', 1)[1].split("</mark>", 1)[0]
    assert html.unescape(marked) == cited.quote == "The tide turns at noon."
    inner = view.split('<pre class="document">', 1)[1].split("</pre>", 1)[0]
    shown = html.unescape(re.sub(r"<[^>]+>", "", inner))
    assert shown.startswith("…") and len(shown) <= CONTEXT_CHARS + len(cited.quote) + 2
    assert notes.name in view and "<img" not in view


def test_a_pdf_quote_is_painted_on_its_drawn_page(ferry):
    engine, pdf, _ = ferry
    answer = engine.ask("When does the Lindqvist ferry leave?")
    cited = answer.citations[0]
    assert (Path(cited.source).name, cited.page) == ("guide.pdf", 2)
    view = document_view(engine, cited.source, cited.start, cited.end)
    assert 'alt="page 2"' in view and "data:image/png;base64," in view
    document = pdfium.PdfDocument(pdf)
    boxes = quote_boxes(document[1], FERRY)
    document.close()
    assert len(boxes) == 2  # one per line of the quote
    image = Image.open(io.BytesIO(page_png(pdf, 2, FERRY))).convert("RGB")
    left, bottom, right, top = boxes[0]
    inside = image.getpixel((int(left * 1.5) + 2, int((792 - top) * 1.5) + 2))
    outside = image.getpixel((int(right * 1.5) + 40, int((792 - top) * 1.5) + 2))
    assert inside != outside == (255, 255, 255)  # painted where the quote stands only


def test_only_indexed_documents_and_spans_inside_them_are_shown(ferry, tmp_path):
    engine, _, notes = ferry
    secret = tmp_path / "secret.txt"
    secret.write_text("Do not show this.")
    for source in (str(secret), "/etc/passwd", f"{notes}/../{notes.name}"):
        with pytest.raises(DocumentNotFoundError, match="not an indexed document"):
            document_view(engine, source, 0, 5)
    with pytest.raises(RagError, match="are not in"):
        document_view(engine, str(notes), 10, 10**9)


def test_the_http_api_serves_the_view_and_refuses_other_paths(ferry):
    engine, _, notes = ferry
    with contextmanager(serve_app)(engine) as url:
        answer = engine.ask("When does the tide turn?").citations[0]
        query = urllib.parse.urlencode(
            {"source": answer.source, "start": answer.start, "end": answer.end}
        )
        with urllib.request.urlopen(f"{url}v1/documents/view?{query}", timeout=60) as reply:
            assert reply.headers["content-type"].startswith("text/html")
            assert '<mark id="quote">The tide turns at noon.</mark>' in reply.read().decode()
        query = urllib.parse.urlencode({"source": "/etc/passwd", "start": 0, "end": 4})
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(f"{url}v1/documents/view?{query}", timeout=60)
        assert refused.value.code == 404
