"""Scans and photos read by OCR (rag.ocr: Debian's tesseract-ocr, really run): images,
multi-page TIFFs, scanned PDFs and a PDF's scanned pages, each cited by page; what happens
without Tesseract, and images too large to read."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from PIL import Image, ImageDraw, ImageFont
from pypdf import PdfReader, PdfWriter

from rag import RagEngine, Settings, ocr
from rag.file_text import Limits, extract
from rag.loaders import collect_files, load_documents, read_source_text
from tests.conftest import make_pdf

NOTICE = ["Ferry safety notice", "", "The Lindqvist ferry carries twelve lifeboats."]
TIMES = ["Winter timetable", "", "The last crossing leaves Bodo at 22:15."]


def scan(lines: list[str]) -> Image.Image:
    """A page as a scanner gives it: printed text on white, no text layer."""
    image = Image.new("L", (1700, 400), 255)
    draw = ImageDraw.Draw(image)
    font = ImageFont.load_default(size=36)
    for row, line in enumerate(lines):
        draw.text((60, 40 + 60 * row), line, fill=0, font=font)
    return image


def test_a_photo_of_text_is_read(tmp_path):
    scan(NOTICE).save(tmp_path / "notice.png")
    extracted = extract(tmp_path / "notice.png", Limits())
    assert "The Lindqvist ferry carries twelve lifeboats." in extracted.text
    assert extracted.page_starts == []  # one page: no page numbers


def test_each_frame_of_a_tiff_is_a_page(tmp_path):
    first, second = scan(NOTICE), scan(TIMES)
    first.save(tmp_path / "both.tiff", save_all=True, append_images=[second])
    extracted = extract(tmp_path / "both.tiff", Limits())
    assert extracted.page_at(extracted.text.index("22:15")) == 2
    assert extracted.locator_at(extracted.text.index("lifeboats")) == "page 1"


def test_only_the_pages_without_a_text_layer_are_read_by_ocr(tmp_path, monkeypatch):
    make_pdf(tmp_path / "typed.pdf", ["Harbour guide, typed page."])
    scan(TIMES).save(tmp_path / "scanned.pdf")
    writer = PdfWriter()
    for name in ("typed.pdf", "scanned.pdf"):
        writer.append(PdfReader(tmp_path / name))
    writer.write(tmp_path / "mixed.pdf")
    read = []
    real = ocr.image_text
    monkeypatch.setattr(ocr, "image_text", lambda image: read.append(1) or real(image))
    extracted = extract(tmp_path / "mixed.pdf", Limits())
    assert read == [1]  # the typed page was not OCRed
    assert extracted.text.startswith("Harbour guide, typed page.")
    assert extracted.page_at(extracted.text.index("22:15")) == 2


def test_without_tesseract_scans_are_refused_with_how_to_install_it(tmp_path, monkeypatch):
    monkeypatch.setattr(ocr, "available", lambda: False)
    scan(NOTICE).save(tmp_path / "scan.pdf")
    scan(NOTICE).save(tmp_path / "photo.jpg")
    make_pdf(tmp_path / "typed.pdf", ["A typed page."])
    documents, rejected = load_documents(collect_files([tmp_path])[0])
    assert [Path(d.metadata["file_path"]).name for d in documents] == ["typed.pdf"]
    reasons = {Path(r.path).name: r.reason for r in rejected}
    assert "install Debian's tesseract-ocr" in reasons["scan.pdf"]
    assert "OCR is not installed" in reasons["photo.jpg"]


@pytest.mark.parametrize(
    ("name", "make", "reason"),
    [
        # 20,000 x 20,000 pixels in a few kB: refused before it is decoded.
        ("bomb.png", lambda p: Image.new("1", (20_000, 20_000)).save(p), "too large to OCR"),
        ("junk.jpg", lambda p: p.write_bytes(b"\xff\xd8\xff\xe0 not a jpeg"), "malformed image"),
        ("white.png", lambda p: Image.new("L", (800, 600), 255).save(p), "OCR found no text"),
    ],
)
def test_bad_images_are_rejected_with_a_reason(tmp_path, name, make, reason):
    make(tmp_path / name)
    documents, rejected = load_documents([tmp_path / name])
    assert documents == [] and reason in rejected[0].reason, rejected


@pytest.mark.slow
def test_a_scanned_pdf_answers_with_its_page_cited_exactly(tmp_path):
    pages = [scan(NOTICE), scan(TIMES)]
    buffer = io.BytesIO()
    pages[0].save(buffer, format="PDF", save_all=True, append_images=pages[1:])
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "scanned.pdf").write_bytes(buffer.getvalue())
    engine = RagEngine(Settings(data_dir=tmp_path / "data"))
    assert engine.ingest([tmp_path / "docs"]).count("added") == 1
    answer = engine.ask("When does the last crossing leave Bodo?")
    cited = answer.citations[0]
    assert "22:15" in cited.quote and (cited.page, cited.locator) == (2, "page 2")
    assert read_source_text(cited.source)[cited.start : cited.end] == cited.quote
    assert cited.offsets == "extracted"


def test_a_page_is_read_once_and_kept_by_its_image(tmp_path, monkeypatch):
    """Citations re-read a file for its pages: a scan must not be OCRed at every restart."""
    monkeypatch.setenv("RAG_MODEL_CACHE_DIR", str(tmp_path / "cache"))
    scan(NOTICE).save(tmp_path / "notice.png")
    runs = []
    real = ocr._tesseract
    monkeypatch.setattr(ocr, "_tesseract", lambda png: runs.append(1) or real(png))
    first = extract(tmp_path / "notice.png", Limits())
    again = extract(tmp_path / "notice.png", Limits())
    assert first.text == again.text and runs == [1]
    assert len(list((tmp_path / "cache" / "ocr").iterdir())) == 1
