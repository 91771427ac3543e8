"""Files → llama-index Documents, with metadata (path, title, sha256); bad files are rejected."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from llama_index.core import Document, SimpleDirectoryReader

SUPPORTED_SUFFIXES = (".txt", ".md")

# .txt and .md are read as plain text on purpose (char offsets must match the file), so the
# warning that llama-index-readers-file is absent is noise.
logging.getLogger("llama_index.core.readers.file.base").setLevel(logging.ERROR)

# Only the title is embedded with a chunk's text: paths and hashes would add noise to the vector.
_NOT_EMBEDDED = ["file_path", "file_name", "sha256"]


@dataclass(frozen=True)
class Rejection:
    """A file that was not ingested, and why."""

    path: str
    reason: str


def read_source_text(path: str | Path) -> str:
    """The text citations point into: the file decoded as UTF-8 with universal newlines."""
    return Path(path).read_text(encoding="utf-8")


def collect_files(paths: Iterable[str | Path]) -> tuple[list[Path], list[Rejection]]:
    """Expand folders recursively; keep supported files, reject the rest with a reason."""
    files: list[Path] = []
    rejected: list[Rejection] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            files.extend(
                p.resolve()
                for p in sorted(path.rglob("*"))
                if p.is_file() and p.suffix.lower() in SUPPORTED_SUFFIXES
            )
        elif not path.exists():
            rejected.append(Rejection(str(path), "no such file or folder"))
        elif path.suffix.lower() not in SUPPORTED_SUFFIXES:
            supported = ", ".join(SUPPORTED_SUFFIXES)
            rejected.append(Rejection(str(path), f"unsupported file type (supported: {supported})"))
        else:
            files.append(path.resolve())
    return list(dict.fromkeys(files)), rejected


def _check_text(data: bytes) -> str | None:
    """Why these bytes are not a usable text document, or None if they are."""
    if not data.strip():
        return "empty file"
    if b"\x00" in data:
        return "binary file (contains NUL bytes)"
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as err:
        return f"not valid UTF-8 text (byte {err.start})"
    return None


def _title_of(text: str, fallback: str) -> str:
    """The first non-empty line, without Markdown heading marks."""
    for line in text.splitlines():
        if line.strip():
            return line.strip().lstrip("#").strip()[:200]
    return fallback


def _metadata(path: str) -> dict[str, str]:
    data = Path(path).read_bytes()
    return {
        "file_path": str(path),
        "file_name": Path(path).name,
        "title": _title_of(data.decode("utf-8"), Path(path).stem),
        "sha256": hashlib.sha256(data).hexdigest(),
    }


def load_documents(files: list[Path]) -> tuple[list[Document], list[Rejection]]:
    """Read text files as Documents (id = absolute path); unreadable ones become Rejections."""
    readable: list[Path] = []
    rejected: list[Rejection] = []
    for path in files:
        try:
            problem = _check_text(path.read_bytes())
        except OSError as err:
            problem = f"cannot read: {err.strerror}"
        if problem:
            rejected.append(Rejection(str(path), problem))
        else:
            readable.append(path)
    if not readable:
        return [], rejected
    reader = SimpleDirectoryReader(
        input_files=[str(p) for p in readable],
        file_metadata=_metadata,
        filename_as_id=True,
        encoding="utf-8",
        errors="strict",
    )
    documents = reader.load_data()
    for doc in documents:
        doc.excluded_embed_metadata_keys = list(_NOT_EMBEDDED)
        doc.excluded_llm_metadata_keys = list(_NOT_EMBEDDED)
    return documents, rejected
