"""Files → llama-index Documents with metadata (path, title, date, sha256); bad files rejected."""

from __future__ import annotations

import glob
import hashlib
import logging
import os
import re
import shutil
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from llama_index.core import Document
from llama_index.core.readers.base import BaseReader

from rag.file_text import (
    MAIL_SUFFIXES,
    SUPPORTED_SUFFIXES,
    ExtractionError,
    Limits,
    extract,
    source_text,
)
from rag.text import DATE, SPLITTER_VERSION

logger = logging.getLogger(__name__)

# Only the title is embedded with a chunk's text: paths and hashes would add noise to the vector.
_NOT_EMBEDDED = [
    "file_path", "file_name", "sha256", "date", "page_starts", "attached_to", "reader_version",
]  # fmt: skip
_UNSAFE_NAME = re.compile(r"[^\w.\- ]+")


@dataclass(frozen=True)
class Rejection:
    """A file that was not ingested, and why."""

    path: str
    reason: str


def safe_file_name(name: str, fallback: str = "upload.txt") -> str:
    """A file name with no directory part, no leading dots and no odd characters."""
    cleaned = _UNSAFE_NAME.sub("_", Path(name.replace("\\", "/")).name).strip(" .")
    return cleaned or fallback


def attachments_folder(attachments_dir: Path, mail: str | Path) -> Path:
    """Where an e-mail's attached files are kept: one folder per e-mail path."""
    return attachments_dir / hashlib.sha256(str(mail).encode()).hexdigest()[:16]


def store_attachments(attached: list[tuple[str, bytes]], folder: Path) -> list[Path]:
    """Write the attached files of supported types into `folder`, emptied first (a changed
    e-mail may have dropped some); a repeated name gets a number. Their paths."""
    shutil.rmtree(folder, ignore_errors=True)
    stored: list[Path] = []
    for name, data in attached:
        path = Path(safe_file_name(name, "attachment"))
        if path.suffix.lower() not in SUPPORTED_SUFFIXES:
            continue
        target, n = folder / path.name, 1
        while target.exists():
            n += 1
            target = folder / f"{path.stem}-{n}{path.suffix}"
        folder.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
        stored.append(target.resolve())
    return stored


def read_source_text(path: str | Path) -> str:
    """The text citations point into: the file's extracted text."""
    return source_text(path).text


def _walk(folder: Path) -> Iterable[Path]:
    """Files under a folder, recursively; symlinked folders are not followed (no loops)."""
    for root, dirs, names in os.walk(folder, followlinks=False):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in sorted(names):
            if not name.startswith("."):
                yield Path(root) / name


def collect_files(paths: Iterable[str | Path]) -> tuple[list[Path], list[Rejection]]:
    """Expand folders and globs; keep supported files, reject the rest with a reason."""
    files: list[Path] = []
    rejected: list[Rejection] = []
    for raw in paths:
        path = Path(raw)
        is_glob = any(c in str(raw) for c in "*?[")
        matches = (
            sorted(Path(p) for p in glob.glob(str(raw), recursive=True)) if is_glob else [path]
        )
        if not matches:
            rejected.append(Rejection(str(path), "no file matches this pattern"))
        for match in matches:
            if match.is_dir():
                files.extend(p.resolve() for p in _walk(match) if _supported(p))
            elif not match.exists():
                rejected.append(Rejection(str(match), "no such file or folder"))
            elif not _supported(match):
                supported = ", ".join(SUPPORTED_SUFFIXES)
                reason = f"unsupported file type (supported: {supported})"
                rejected.append(Rejection(str(match), reason))
            else:
                files.append(match.resolve())
    return list(dict.fromkeys(files)), rejected


def _supported(path: Path) -> bool:
    return path.suffix.lower() in SUPPORTED_SUFFIXES


def _title_of(text: str, fallback: str) -> str:
    """The first non-empty line, without Markdown heading marks."""
    for line in text.splitlines():
        if line.strip():
            return line.strip().lstrip("#").strip()[:200]
    return fallback


class TextFileReader(BaseReader):
    """A llama-index reader for every supported format, one Document per file.

    SimpleDirectoryReader is not used: it prints and skips files that fail, and we must
    report each rejected file with its reason.
    """

    def __init__(self, limits: Limits) -> None:
        self.limits = limits

    def load_data(self, file: Path, extra_info: dict | None = None) -> list[Document]:
        return [self.read(file, extra_info)[0]]

    def read(
        self, file: Path, extra_info: dict | None = None
    ) -> tuple[Document, list[tuple[str, bytes]]]:
        """The file's Document, and the files attached to it (an e-mail's)."""
        extracted = extract(file, self.limits)
        text = extracted.text
        date = DATE.search(text[:2000])
        metadata = {
            "file_path": str(file),
            "file_name": file.name,
            "title": extracted.title or _title_of(text, file.stem),
            "date": date.group(0) if date else "",
            "sha256": extracted.sha256,
            # In the document's hash: after an upgrade that reads documents differently, the
            # next ingest re-reads a file whose bytes did not change ("replaced").
            "reader_version": SPLITTER_VERSION,
            **extracted.metadata,  # an e-mail's from, to, date, subject: for --filter
            **(extra_info or {}),
        }
        if extracted.page_starts:
            metadata["page_starts"] = extracted.page_starts
        document = Document(id_=str(file), text=text, metadata=metadata)
        # The e-mail's fields stand in its text already: not embedded twice.
        hidden = list(dict.fromkeys([*_NOT_EMBEDDED, *extracted.metadata]))
        document.excluded_embed_metadata_keys = list(hidden)
        document.excluded_llm_metadata_keys = list(hidden)
        return document, extracted.attachments


def load_documents(
    files: list[Path], limits: Limits | None = None, attachments_dir: Path | None = None
) -> tuple[list[Document], list[Rejection]]:
    """Read files as Documents (id = absolute path); unusable ones become Rejections.

    Whatever goes wrong reading one file (a parser's own error, recursion in a deeply nested
    page, memory) rejects that file with the reason: the rest of the batch goes on. With
    `attachments_dir`, an e-mail's attached files of supported types are stored under it
    (`attachments_folder`) and read as documents of their own (`attached_to`: the e-mail).
    """
    reader = TextFileReader(limits or Limits())
    documents: list[Document] = []
    rejected: list[Rejection] = []
    queue: list[tuple[Path, dict[str, str]]] = [(path, {}) for path in files]
    while queue:
        path, extra = queue.pop(0)
        try:
            document, attached = reader.read(path, extra)
        except ExtractionError as err:
            rejected.append(Rejection(str(path), str(err)))
            continue
        except OSError as err:
            rejected.append(Rejection(str(path), f"cannot read: {err.strerror}"))
            continue
        except (Exception, RecursionError, MemoryError) as err:  # a file no parser could take
            logger.debug("Rejected %s", path, exc_info=True)
            rejected.append(Rejection(str(path), f"could not be read ({type(err).__name__})"))
            continue
        documents.append(document)
        if attachments_dir is None or path.suffix.lower() not in MAIL_SUFFIXES:
            continue
        try:
            stored = store_attachments(attached, attachments_folder(attachments_dir, path))
        except OSError as err:  # the e-mail itself is indexed; its files wait for the next try
            rejected.append(Rejection(str(path), f"its attachments cannot be stored: {err}"))
            continue
        queue += [(file, {"attached_to": str(path)}) for file in stored]
    return documents, rejected
