"""Scans and photos read by OCR (rag.ocr: Debian's tesseract-ocr, really run): images,
multi-page TIFFs, scanned PDFs and a PDF's scanned pages, each cited by page; what happens
without Tesseract, and images too large to read."""

from __future__ import annotations

import io
import random
from pathlib import Path

import pytest
from PIL import Image, ImageDraw, ImageFilter, ImageFont
from pypdf import PdfReader, PdfWriter
from rapidfuzz.distance import Levenshtein

from rag import RagEngine, Settings, ocr
from rag.file_text import ExtractionError, Limits, extract
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
    real = ocr.pdf_page_text
    monkeypatch.setattr(
        ocr,
        "pdf_page_text",
        lambda data, digest, page: read.append(page) or real(data, digest, page),
    )
    extracted = extract(tmp_path / "mixed.pdf", Limits())
    assert read == [1]  # the scanned page (index 1) alone: the typed page was not OCRed
    assert extracted.text.startswith("Harbour guide, typed page.")
    assert extracted.page_at(extracted.text.index("22:15")) == 2


def _scanned_pdf(path: Path, count: int) -> Path:
    pages = [
        scan([f"Page {n} of the scanned log.", "", "Nothing to report."]) for n in range(count)
    ]
    pages[0].save(path, format="PDF", save_all=True, append_images=pages[1:])
    return path


def _slow_ocr(monkeypatch, seconds: float) -> list[int]:
    """OCR of a PDF's page that takes `seconds` more (a dense page, a busy machine); counts
    its calls."""
    import time

    calls: list[int] = []
    real = ocr.pdf_page_text

    def slow(data, digest, page):
        calls.append(page)
        time.sleep(seconds)
        return real(data, digest, page)

    monkeypatch.setattr(ocr, "pdf_page_text", slow)
    return calls


def test_a_long_scan_is_read_whole_its_ocr_time_aside_from_the_timeout(tmp_path, monkeypatch):
    pdf = _scanned_pdf(tmp_path / "log.pdf", 3)
    _slow_ocr(monkeypatch, 0.4)  # 1.2 s of OCR against a 0.5 s budget for parsing
    extracted = extract(pdf, Limits(max_seconds=0.5))
    assert extracted.page_at(extracted.text.index("Page 2 of the scanned log.")) == 3


def test_a_page_whose_ocr_takes_too_long_still_runs_the_timeout_down(tmp_path, monkeypatch):
    import rag.file_text

    pdf = _scanned_pdf(tmp_path / "log.pdf", 3)
    _slow_ocr(monkeypatch, 0.4)
    monkeypatch.setattr(rag.file_text, "OCR_SECONDS_PER_PAGE", 0.05)  # as if far over ~3 s
    with pytest.raises(ExtractionError, match="RAG_EXTRACT_TIMEOUT_S"):
        extract(pdf, Limits(max_seconds=0.5))


def test_a_scan_over_the_ocr_page_limit_is_refused_before_any_ocr(tmp_path, monkeypatch):
    pdf = _scanned_pdf(tmp_path / "log.pdf", 3)
    calls = _slow_ocr(monkeypatch, 0)
    with pytest.raises(ExtractionError, match=r"3 pages to read by OCR .* \(RAG_MAX_OCR_PAGES\)"):
        extract(pdf, Limits(max_ocr_pages=2))
    assert calls == []
    scan(NOTICE).save(tmp_path / "frames.tiff", save_all=True, append_images=[scan(TIMES)] * 2)
    with pytest.raises(ExtractionError, match="RAG_MAX_OCR_PAGES"):
        extract(tmp_path / "frames.tiff", Limits(max_ocr_pages=2))


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


def test_a_scanned_pdfs_page_read_once_is_not_drawn_again(tmp_path, monkeypatch):
    """Drawing a page at 300 dpi to look it up cost 0.3 s a page: a 50-page scan's citation
    took 18 s in every new process."""
    monkeypatch.setenv("RAG_MODEL_CACHE_DIR", str(tmp_path / "cache"))
    pdf = _scanned_pdf(tmp_path / "log.pdf", 2)
    drawn, runs = [], []
    real_draw, real_read = ocr.pdf_page_image, ocr._tesseract
    monkeypatch.setattr(ocr, "pdf_page_image", lambda d, i: drawn.append(i) or real_draw(d, i))
    monkeypatch.setattr(ocr, "_tesseract", lambda png: runs.append(1) or real_read(png))
    first = extract(pdf, Limits())
    again = extract(pdf, Limits())
    assert first.text == again.text and "Page 1 of the scanned log." in again.text
    assert drawn == [0, 1] and runs == [1, 1]  # the second read drew and OCRed nothing


NOTICE_TEXT = """Ferry safety notice
The Lindqvist ferry carries twelve lifeboats and 340 life jackets.
Passengers must board ten minutes before departure; the ramp closes at 07:35.
In rough weather (wind over 20 m/s) crossings may be cancelled without notice.
Questions? Ask the crew at the information desk on deck 4."""


def _printed(text: str) -> Image.Image:
    font = ImageFont.load_default(size=30)  # Pillow's own font: no system fonts needed
    image = Image.new("L", (2000, 500), 255)
    draw = ImageDraw.Draw(image)
    for row, line in enumerate(text.splitlines()):
        draw.text((60, 40 + 70 * row), line, fill=0, font=font)
    return image


def _scanned(image: Image.Image) -> Image.Image:
    """As a cheap scanner: tilted 1.2°, blurred, specks, half the resolution."""
    rng = random.Random(0)
    worn = image.rotate(1.2, fillcolor=255, resample=Image.BICUBIC)
    worn = worn.filter(ImageFilter.GaussianBlur(1.2))
    pixels = worn.load()
    for _ in range(20_000):
        x, y = rng.randrange(worn.width), rng.randrange(worn.height)
        pixels[x, y] = rng.choice((0, 255))
    return worn.resize((worn.width // 2, worn.height // 2)).resize(worn.size)


@pytest.mark.parametrize(("page", "at_least"), [("printed", 0.99), ("scanned", 0.90)])
def test_ocr_character_accuracy_on_a_rendered_page(page, at_least):
    """1 - edit distance / length, whitespace runs as one space. Measured with Tesseract
    5.3.0: 1.000 printed, 0.944 scanned (README)."""
    image = _printed(NOTICE_TEXT)
    read = ocr.image_text(_scanned(image) if page == "scanned" else image)
    expected, found = " ".join(NOTICE_TEXT.split()), " ".join(read.split())
    assert 1 - Levenshtein.normalized_distance(expected, found) >= at_least
