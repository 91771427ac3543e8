"""Text out of files: plain text in any common encoding, HTML, PDF (with page starts), DOCX,
spreadsheets (CSV, XLSX), slides (PPTX), e-books (EPUB), e-mail (EML, MBOX), and scans (images,
PDF pages without a text layer) by OCR.

The extracted text is what the index chunks and what citations point into, so extraction is
deterministic: the same file always gives the same text (`source_text` re-extracts it).
"""

from __future__ import annotations

import email
import email.policy
import hashlib
import io
import logging
import re
import stat
import time
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from rag import ocr
from rag.reading.ebooks import epub_to_text
from rag.reading.html import docx_to_text, html_to_text
from rag.reading.mail import eml_to_text, mbox_to_text
from rag.reading.sheets import csv_to_text, xlsx_to_text
from rag.reading.slides import pptx_to_text
from rag.reading.written import Written

PLAIN_SUFFIXES = (".txt", ".md", ".markdown", ".rst")
# Read by their structure into text in Markdown's block syntax, with a locator per part.
MAIL_SUFFIXES = (".eml", ".mbox")  # their attached files become documents of their own
STRUCTURED_SUFFIXES = (".csv", ".xlsx", ".pptx", ".epub", *MAIL_SUFFIXES)
IMAGE_SUFFIXES = ocr.IMAGE_SUFFIXES  # scans and photos, read by OCR
PAGED_SUFFIXES = (".pdf", *IMAGE_SUFFIXES)  # their text keeps where each page starts
SUPPORTED_SUFFIXES = (
    *PLAIN_SUFFIXES,
    ".html",
    ".htm",
    ".pdf",
    ".docx",
    *STRUCTURED_SUFFIXES,
    *IMAGE_SUFFIXES,
)

logger = logging.getLogger(__name__)

# A malformed PDF is reported as a rejection; pypdf's own warnings about it are noise.
logging.getLogger("pypdf").setLevel(logging.ERROR)

_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_BLANK_RUNS = re.compile(r"\n{3,}")
_START_TAG = re.compile(r"<[A-Za-z]")  # an HTML element's start tag
_BOMS = ((b"\xef\xbb\xbf", "utf-8-sig"), (b"\xff\xfe", "utf-16"), (b"\xfe\xff", "utf-16"))


# A page's OCR time up to this is not counted against the extraction budget (`_excused`).
OCR_SECONDS_PER_PAGE = 10.0


class ExtractionError(Exception):
    """Why a file yields no usable text (shown to the user as the rejection reason)."""


@dataclass(frozen=True)
class Limits:
    """What one file may cost to read: a hostile or broken file is rejected, not read whole."""

    max_bytes: int = 100 * 2**20  # the file (RAG_MAX_FILE_MB)
    max_text_chars: int = 50 * 2**20  # its text, and a DOCX's unpacked XML (RAG_MAX_TEXT_MB)
    max_pdf_pages: int = 5_000  # RAG_MAX_PDF_PAGES
    max_seconds: float = 120.0  # extracting a PDF's text, OCR aside (RAG_EXTRACT_TIMEOUT_S)
    max_html_elements: int = 200_000  # RAG_MAX_HTML_ELEMENTS
    max_ocr_pages: int = 300  # pages read by OCR (RAG_MAX_OCR_PAGES)


# Re-reading a file already accepted at ingest (for its citations): its own size bounds it.
_NO_LIMITS = Limits(
    max_bytes=2**62,
    max_text_chars=2**62,
    max_pdf_pages=2**62,
    max_seconds=1e9,
    max_html_elements=2**62,
    max_ocr_pages=2**62,
)


@dataclass(frozen=True)
class Extracted:
    """A file's text, the sha256 of its bytes, where each page starts (PDF only), the title
    the file declares (HTML's <title>, a deck's first slide title, an e-mail's subject),
    where each part starts and what it is called (a slide, a spreadsheet row, a chapter),
    header fields (an e-mail's from, to, date, subject) and an e-mail's attached files."""

    text: str
    sha256: str
    page_starts: list[int] = field(default_factory=list)
    title: str = ""
    locators: list[tuple[int, str]] = field(default_factory=list)
    metadata: dict[str, str] = field(default_factory=dict)
    attachments: list[tuple[str, bytes]] = field(default_factory=list, repr=False)

    def page_at(self, offset: int) -> int | None:
        """The 1-based page holding a char offset, for PDFs."""
        if not self.page_starts:
            return None
        return sum(1 for start in self.page_starts if start <= offset)

    def locator_at(self, offset: int) -> str | None:
        """Where a char offset stands as a person would find it: "page 3", "slide 7",
        "Sheet1!A12", a chapter's title; None for formats without parts."""
        page = self.page_at(offset)
        if page is not None:
            return f"page {page}"
        found = [label for start, label in self.locators if start <= offset]
        return found[-1] if found else None


def _normalize_newlines(text: str) -> str:
    return text.replace("\r\n", "\n").replace("\r", "\n")


def decode_text(data: bytes) -> str:
    """Bytes → text: BOMs honoured, UTF-8 first, then charset detection; binary refused."""
    if not data.strip():
        raise ExtractionError("empty file")
    for bom, codec in _BOMS:
        if data.startswith(bom):
            try:
                return _checked(data.decode(codec))
            except UnicodeDecodeError as err:
                raise ExtractionError(f"not valid {codec} text (byte {err.start})") from err
    if b"\x00" in data:
        raise ExtractionError("binary file (contains NUL bytes)")
    try:
        return _checked(data.decode("utf-8"))
    except UnicodeDecodeError:
        pass
    from charset_normalizer import from_bytes

    # Detection cannot tell the single-byte Latin code pages apart on short texts (it reads
    # "crème" as cp1250 "crčme", “quotes” as cp775): Windows-1252, by far the most common,
    # wins when its reading looks like a Latin-script text.
    try:
        western = data.decode("cp1252")
        if _mostly_ascii_letters(western):
            return _checked(western)
    except UnicodeDecodeError:
        pass
    best = from_bytes(data).best()
    if best is None:
        raise ExtractionError("not text: no character encoding fits")
    return _checked(str(best))


def _mostly_ascii_letters(text: str) -> bool:
    """In Latin-script text accented letters are the exception (not so in misread Cyrillic)."""
    letters = [c for c in text if c.isalpha()]
    return bool(letters) and sum(not c.isascii() for c in letters) <= 0.3 * len(letters)


def _checked(text: str) -> str:
    text = _normalize_newlines(text)
    if not text.strip():
        raise ExtractionError("empty file")
    if len(_CONTROL.findall(text)) > max(8, len(text) // 100):
        raise ExtractionError("binary file (control characters)")
    return text


def _html_text(data: bytes, limits: Limits) -> tuple[str, str]:
    # Counted before parsing: bs4's tree costs ~1.3 KB and ~25 µs per element, so a page of
    # a million (12 MB of <div>s) took 29 s and 1.3 GB where real pages hold thousands.
    markup = decode_text(data)
    elements = sum(1 for _ in _START_TAG.finditer(markup))
    if elements > limits.max_html_elements:
        raise ExtractionError(
            f"{elements} HTML elements are over the {limits.max_html_elements} element limit "
            "(RAG_MAX_HTML_ELEMENTS)"
        )
    try:
        text, title = html_to_text(markup)
    except RecursionError as err:  # the tree is walked recursively: ~500 levels fit
        raise ExtractionError("HTML nested too deeply to read (hundreds of levels)") from err
    if not text.strip():
        raise ExtractionError("HTML without visible text")
    return _normalize_newlines(text), title


def _pdf_text(data: bytes, digest: str, limits: Limits) -> tuple[str, list[int]]:
    """`digest`: the sha256 of `data`, which keeps what OCR read of its pages."""
    from pypdf import PdfReader

    started = time.monotonic()
    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted:
            raise ExtractionError("encrypted PDF (decrypt it first)")
        if len(reader.pages) > limits.max_pdf_pages:
            raise ExtractionError(
                f"{len(reader.pages)} pages are over the {limits.max_pdf_pages} page limit "
                "(RAG_MAX_PDF_PAGES)"
            )
        pages: list[str] = []
        chars = 0
        for pdf_page in reader.pages:
            pages.append(_normalize_newlines(pdf_page.extract_text() or "").strip())
            chars += len(pages[-1])
            _check_budget(chars, started, limits)
    except ExtractionError:
        raise
    except Exception as err:  # pypdf raises its own errors, limits, recursion, key errors…
        raise ExtractionError(f"malformed PDF ({type(err).__name__}: {err})") from err
    if not all(pages):
        pages = _ocr_blank_pages(data, digest, pages, started, limits)
    return _joined_pages(pages)


def _joined_pages(pages: list[str]) -> tuple[str, list[int]]:
    """The pages' texts separated by blank lines, and where each starts."""
    starts, offset = [], 0
    for page in pages:
        starts.append(offset)
        offset += len(page) + 2
    return "\n\n".join(pages), starts


def _ocr_blank_pages(
    data: bytes, digest: str, pages: list[str], started: float, limits: Limits
) -> list[str]:
    """The pages without a text layer (a scan, a scanned appendix) read by OCR (rag.ocr).

    Without Tesseract, a PDF with some text keeps its text pages; one with none is refused.
    """
    if not ocr.available():
        if any(pages):
            logger.warning("Pages without a text layer skipped: %s", ocr.INSTALL_HINT)
            return pages
        raise ExtractionError(f"PDF without a text layer (scanned?): {ocr.INSTALL_HINT}")
    blank = [index for index, text in enumerate(pages) if not text]
    _check_ocr_pages(len(blank), limits)
    read = list(pages)
    chars = sum(len(p) for p in pages)
    try:
        for index in _ocr_progress(blank):
            ocr_started = time.monotonic()
            read[index] = _clean_ocr(ocr.pdf_page_text(data, digest, index))
            started += _excused(time.monotonic() - ocr_started)
            chars += len(read[index])
            _check_budget(chars, started, limits)
    except ocr.OcrError as err:
        raise ExtractionError(str(err)) from err
    if not any(read):
        raise ExtractionError("scanned PDF in which OCR found no text")
    return read


def _excused(ocr_seconds: float) -> float:
    """How much of one page's OCR time RAG_EXTRACT_TIMEOUT_S does not count: a scan of many
    pages takes minutes and is read whole, while a page that takes far longer than a dense
    A4 page (~3 s here) still runs the budget down."""
    return min(ocr_seconds, OCR_SECONDS_PER_PAGE)


def _check_ocr_pages(count: int, limits: Limits) -> None:
    """What bounds a scan's OCR time with `_excused`: its number of pages to read."""
    if count > limits.max_ocr_pages:
        raise ExtractionError(
            f"{count} pages to read by OCR are over the {limits.max_ocr_pages} page limit "
            "(RAG_MAX_OCR_PAGES)"
        )


def _ocr_progress(pages: list[int]) -> Iterator[int]:
    """The pages, with a progress bar on a terminal when there are more than a few."""
    if len(pages) <= 3:
        return iter(pages)
    from tqdm.auto import tqdm

    return iter(
        tqdm(pages, desc="Reading scanned pages (OCR)", unit="page", leave=False, disable=None)
    )


def _clean_ocr(text: str) -> str:
    return _BLANK_RUNS.sub("\n\n", _normalize_newlines(text)).strip()


def _image_text(data: bytes, limits: Limits) -> tuple[str, list[int]]:
    """A scan or photo read by OCR, one page per frame (a multi-page TIFF)."""
    started = time.monotonic()
    pages: list[str] = []
    try:
        for number, frame in enumerate(ocr.image_pages(data), start=1):
            _check_ocr_pages(number, limits)
            ocr_started = time.monotonic()
            pages.append(_clean_ocr(ocr.image_text(frame)))
            started += _excused(time.monotonic() - ocr_started)
            _check_budget(sum(len(p) for p in pages), started, limits)
    except ocr.OcrError as err:
        raise ExtractionError(str(err)) from err
    if not any(pages):
        raise ExtractionError("image in which OCR found no text")
    return _joined_pages(pages)


def _docx_text(data: bytes, limits: Limits) -> str:
    from docx import Document as DocxDocument

    _check_unpacked_size(data, limits)
    try:
        document = DocxDocument(io.BytesIO(data))
    except Exception as err:  # python-docx raises zipfile, KeyError, lxml errors alike
        raise ExtractionError(f"malformed DOCX ({type(err).__name__})") from err
    text = docx_to_text(document)
    if not text.strip():
        raise ExtractionError("DOCX without text")
    return _normalize_newlines(text)


def _structured(suffix: str, data: bytes, limits: Limits) -> Written:
    """A spreadsheet, deck, e-book or e-mail written as text (rag.reading.written)."""
    kind = suffix[1:].upper()
    if suffix in (".xlsx", ".pptx", ".epub"):
        _check_unpacked_size(data, limits, kind)
    try:
        if suffix == ".csv":
            return csv_to_text(decode_text(data))
        if suffix == ".xlsx":
            from openpyxl import load_workbook

            workbook = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
            try:
                return xlsx_to_text(workbook)
            finally:
                workbook.close()
        if suffix == ".pptx":
            from pptx import Presentation

            return pptx_to_text(Presentation(io.BytesIO(data)))
        if suffix == ".epub":
            from ebooklib import epub

            return epub_to_text(epub.read_epub(io.BytesIO(data), {"ignore_ncx": True}))
        if suffix == ".mbox":
            return mbox_to_text(_mailbox_messages(data))
        message = email.message_from_bytes(data, policy=email.policy.default)
        return eml_to_text(message)  # type: ignore[arg-type]
    except ExtractionError:
        raise
    except Exception as err:  # each library raises its own zip, XML and key errors alike
        raise ExtractionError(f"malformed {kind} ({type(err).__name__})") from err


def _mailbox_messages(data: bytes) -> Iterator[bytes]:
    """The messages of an mbox file: each starts at a line "From " (mailbox.mbox reads only
    from a path; this is its split, on the bytes already read and size-checked)."""
    starts = [0] if data.startswith(b"From ") else []
    starts += [m.start() + 1 for m in re.finditer(rb"\nFrom ", data)]
    for start, end in zip(starts, [*starts[1:], len(data)], strict=True):
        yield data[start:end].split(b"\n", 1)[1] if b"\n" in data[start:end] else b""


def _check_budget(chars: int, started: float, limits: Limits) -> None:
    if chars > limits.max_text_chars:
        raise ExtractionError(
            f"its text is over the {limits.max_text_chars / 2**20:.0f} MB limit (RAG_MAX_TEXT_MB)"
        )
    if time.monotonic() - started > limits.max_seconds:
        raise ExtractionError(
            f"reading its text took over {limits.max_seconds:.0f} s (RAG_EXTRACT_TIMEOUT_S)"
        )


def _check_unpacked_size(data: bytes, limits: Limits, kind: str = "DOCX") -> None:
    """A DOCX (XLSX, PPTX, EPUB) is a zip: what its entries unpack to is known before any
    is read."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            unpacked = sum(entry.file_size for entry in archive.infolist())
    except (zipfile.BadZipFile, OSError, ValueError) as err:
        raise ExtractionError(f"malformed {kind} ({type(err).__name__})") from err
    if unpacked > limits.max_text_chars:
        raise ExtractionError(
            f"it unpacks to {unpacked / 2**20:.0f} MB, over the "
            f"{limits.max_text_chars / 2**20:.0f} MB limit (RAG_MAX_TEXT_MB)"
        )


def extract(path: Path, limits: Limits) -> Extracted:
    """The text of a supported file; ExtractionError with the reason otherwise."""
    suffix = path.suffix.lower()
    try:
        status = path.stat()
        if not stat.S_ISREG(status.st_mode):  # a device (/dev/zero), a pipe: endless or blocking
            raise ExtractionError("not a regular file (a device, pipe or socket)")
        if suffix not in SUPPORTED_SUFFIXES:
            supported = ", ".join(SUPPORTED_SUFFIXES)
            raise ExtractionError(f"unsupported file type (supported: {supported})")
        if status.st_size > limits.max_bytes:
            raise ExtractionError(
                f"{status.st_size / 2**20:.0f} MB is over the {limits.max_bytes / 2**20:.0f} MB "
                "limit (RAG_MAX_FILE_MB)"
            )
        data = path.read_bytes()
    except OSError as err:
        raise ExtractionError(f"cannot read: {err.strerror}") from err
    digest = hashlib.sha256(data).hexdigest()
    if suffix == ".pdf":
        text, page_starts = _pdf_text(data, digest, limits)
        return Extracted(text, digest, page_starts)
    if suffix in IMAGE_SUFFIXES:
        text, page_starts = _image_text(data, limits)
        return Extracted(text, digest, page_starts if len(page_starts) > 1 else [])
    if suffix == ".docx":
        return Extracted(_docx_text(data, limits), digest)
    if suffix in (".html", ".htm"):
        text, title = _html_text(data, limits)
        _check_budget(len(text), time.monotonic(), limits)
        return Extracted(text, digest, title=title)
    if suffix in STRUCTURED_SUFFIXES:
        written = _structured(suffix, data, limits)
        text = _normalize_newlines(written.text)
        if not text.strip():
            raise ExtractionError(f"{suffix[1:].upper()} without text")
        _check_budget(len(text), time.monotonic(), limits)
        title = written.title or path.stem  # a spreadsheet declares none
        return Extracted(
            text,
            digest,
            title=title,
            locators=written.locators,
            metadata=written.metadata,
            attachments=written.attachments,
        )
    text = decode_text(data)
    _check_budget(len(text), time.monotonic(), limits)
    return Extracted(text, digest)


# Sized for an eval run's citations (hundreds of files); keyed by mtime, so never stale.
@lru_cache(maxsize=256)
def _extract_cached(path: str, mtime_ns: int, size: int) -> Extracted:
    return extract(Path(path), _NO_LIMITS)


def source_text(path: str | Path) -> Extracted:
    """The extracted text citations point into, cached while the file is unchanged."""
    stat = Path(path).stat()
    return _extract_cached(str(path), stat.st_mtime_ns, stat.st_size)


def place_at(path: str | Path, offset: int) -> tuple[int | None, str | None]:
    """The page (PDFs, scans) and the locator ("page 3", "slide 7", "Sheet1!A12", a chapter)
    of a char offset of the file's text, from one read of it; None for the formats without
    parts, or when the file has been moved or deleted since it was indexed (the passage text
    is in the index)."""
    suffix = Path(path).suffix.lower()
    if suffix not in PAGED_SUFFIXES and suffix not in STRUCTURED_SUFFIXES:
        return None, None
    try:
        extracted = source_text(path)
    except (OSError, ExtractionError):
        return None, None
    return extracted.page_at(offset), extracted.locator_at(offset)


def page_at(path: str | Path, offset: int) -> int | None:
    """The page of a char offset of the file's text (`place_at`)."""
    return place_at(path, offset)[0]
