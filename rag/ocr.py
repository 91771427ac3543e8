"""Text out of scans and photos: OCR by Tesseract, offline.

Debian's `tesseract-ocr` (with its English data), run as a program: ~10 MB of packages that
`make run` and `make test` install (Makefile `ocr`). Chosen over rapidocr-onnxruntime, whose
wheel does ship its models, because that one pulls opencv-python, which needs the system's
libGL at import and adds ~80 MB to every install. Run directly rather than through
pytesseract, to give it one OpenMP thread: with its default threads an A4 page took 13.9 s
on 2 busy cores, with one 2.3 s. A scanned PDF's pages are drawn by pdfium at 300 dpi
first; only pages without a text layer are read this way.

Citations are checked against the text later (the engine re-reads a file for its pages),
so what Tesseract read is kept under the model cache dir, by the image's sha256 or by the
PDF's and the page's: a page is read once, not at every restart.
"""

from __future__ import annotations

import hashlib
import io
import os
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from functools import cache
from pathlib import Path
from typing import Any

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff")
DPI = 300  # Tesseract reads printed text best at 300 dpi
MAX_PIXELS = 60_000_000  # a page at 300 dpi is ~9M; more is a decompression bomb
PAGE_TIMEOUT_S = 300
INSTALL_HINT = "install Debian's tesseract-ocr to read it (`make run` does)"


class OcrError(Exception):
    """Why an image or scanned page cannot be read (the rejection reason)."""


def available() -> bool:
    return shutil.which("tesseract") is not None


def image_text(image: Any) -> str:
    """The text Tesseract reads in one image (English), lines as it found them."""
    png = _png(image)
    key = hashlib.sha256(png + _version().encode()).hexdigest()
    return _kept(key, lambda: _tesseract(png))


def pdf_page_text(data: bytes, digest: str, page_index: int) -> str:
    """`image_text` of one PDF page (`digest`: the file's sha256), kept by the file and the
    page too: a page read once is not drawn again, which cost 0.3 s a page at every restart
    (a page kept by its image only, as earlier versions kept them, is drawn once more)."""
    key = hashlib.sha256(f"{digest}:{page_index}:{DPI}:{_version()}".encode()).hexdigest()
    return _kept(key, lambda: image_text(pdf_page_image(data, page_index)))


def _png(image: Any) -> bytes:
    if not available():
        raise OcrError(f"OCR is not installed: {INSTALL_HINT}")
    if image.width * image.height > MAX_PIXELS:
        raise OcrError(f"an image of {image.width}x{image.height} pixels is too large to OCR")
    png = io.BytesIO()
    image.save(png, format="PNG")
    return png.getvalue()


def _kept(key: str, read: Callable[[], str]) -> str:
    """What `read` returns, kept in the cache under `key` (read once)."""
    kept = _cache_dir() / f"{key}.txt"
    if kept.is_file():
        return kept.read_text(encoding="utf-8")
    text = read()
    kept.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile("w", dir=kept.parent, delete=False, encoding="utf-8") as out:
        out.write(text)
    os.replace(out.name, kept)  # another process may write the same page: either is whole
    return text


def _tesseract(png: bytes) -> str:
    env = os.environ | {"OMP_THREAD_LIMIT": "1"}
    try:
        done = subprocess.run(
            ["tesseract", "stdin", "stdout", "-l", "eng"],
            input=png,
            capture_output=True,
            env=env,
            timeout=PAGE_TIMEOUT_S,
            check=False,
        )
    except subprocess.TimeoutExpired as err:
        raise OcrError(f"OCR of one page took over {PAGE_TIMEOUT_S} s") from err
    if done.returncode != 0:
        reason = done.stderr.decode("utf-8", "replace").strip().splitlines()
        raise OcrError(f"Tesseract could not read it ({reason[-1] if reason else done.returncode})")
    return done.stdout.decode("utf-8", "replace")


@cache
def _version() -> str:
    done = subprocess.run(["tesseract", "--version"], capture_output=True, check=False)
    return (done.stdout or done.stderr).decode("utf-8", "replace").splitlines()[0]


def _cache_dir() -> Path:
    from rag.config import Settings

    return Settings().model_cache_dir / "ocr"


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
    """One page of a PDF drawn at `DPI` for OCR, or smaller where that would be over
    `MAX_PIXELS` (a page whose size says 72 dpi for a 300 dpi scan)."""
    import pypdfium2 as pdfium

    document = pdfium.PdfDocument(data)
    try:
        page = document[page_index]
        width, height = page.get_size()
        scale = min(DPI / 72, 0.99 * (MAX_PIXELS / max(width * height, 1.0)) ** 0.5)
        return page.render(scale=scale, grayscale=True).to_pil()
    finally:
        document.close()
