"""Text out of scans and photos: OCR by Tesseract, offline.

Debian's `tesseract-ocr` (with its English data) through pytesseract: ~10 MB of packages
that `make run` and `make test` install (Makefile `ocr`). Chosen over rapidocr-onnxruntime,
whose wheel does ship its models, because that one pulls opencv-python, which needs the
system's libGL at import and adds ~80 MB to every install. A scanned PDF's pages are drawn
by pdfium at 300 dpi first; only pages without a text layer are read this way.
"""

from __future__ import annotations

import io
import shutil
from collections.abc import Iterator
from typing import Any

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff")
DPI = 300  # Tesseract reads printed text best at 300 dpi
MAX_PIXELS = 60_000_000  # a page at 300 dpi is ~9M; more is a decompression bomb
INSTALL_HINT = "install Debian's tesseract-ocr to read it (`make run` does)"


class OcrError(Exception):
    """Why an image or scanned page cannot be read (the rejection reason)."""


def available() -> bool:
    return shutil.which("tesseract") is not None


def image_text(image: Any) -> str:
    """The text Tesseract reads in one image (English), lines as it found them."""
    import pytesseract

    if not available():
        raise OcrError(f"OCR is not installed: {INSTALL_HINT}")
    if image.width * image.height > MAX_PIXELS:
        raise OcrError(f"an image of {image.width}x{image.height} pixels is too large to OCR")
    return pytesseract.image_to_string(image, lang="eng")


def image_pages(data: bytes) -> Iterator[Any]:
    """Each frame of an image file (a multi-page TIFF has several), as Pillow images."""
    from PIL import Image, ImageSequence

    Image.MAX_IMAGE_PIXELS = MAX_PIXELS  # refused before decoding, not after
    try:
        with Image.open(io.BytesIO(data)) as image:
            for frame in ImageSequence.Iterator(image):
                yield frame.convert("L")
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as err:
        raise OcrError("the image is too large to OCR (a decompression bomb?)") from err
    except OSError as err:
        raise OcrError(f"malformed image ({err})") from err


def pdf_page_image(data: bytes, page_index: int) -> Any:
    """One page of a PDF drawn at `DPI`, for OCR."""
    import pypdfium2 as pdfium

    document = pdfium.PdfDocument(data)
    try:
        page = document[page_index]
        width, height = page.get_size()
        if width * height * (DPI / 72) ** 2 > MAX_PIXELS:
            raise OcrError(f"page {page_index + 1} is too large to OCR")
        return page.render(scale=DPI / 72, grayscale=True).to_pil()
    finally:
        document.close()
