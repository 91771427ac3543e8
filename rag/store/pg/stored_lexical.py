"""BM25 and the titles as bytes in the database, and unpacked into an instance's data dir.

A writer builds the lexical index (rag.store.lexical) once per ingest and stores its folder
as a tar with the tar's sha256; every instance unpacks it once into `data_dir/pg-lexical/
DIGEST` and loads it from there. The digest names the folder, so it is checked to be a
sha256 (never a path) and to be the bytes' own.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import logging
import re
import shutil
import tarfile
import tempfile
import time
from pathlib import Path

from rag.store.lexical import LexicalIndex

logger = logging.getLogger(__name__)
_SHA256 = re.compile(r"[0-9a-f]{64}")


def pack(lexical: LexicalIndex) -> tuple[bytes, str]:
    """The saved folder as a tar, and its sha256."""
    with tempfile.TemporaryDirectory() as folder:
        lexical.save(Path(folder))
        buffer = io.BytesIO()
        with tarfile.open(fileobj=buffer, mode="w") as tar:
            tar.add(Path(folder) / "lexical", arcname="lexical")
    files = buffer.getvalue()
    return files, hashlib.sha256(files).hexdigest()


def is_digest(digest: str) -> bool:
    if _SHA256.fullmatch(digest):
        return True
    logger.warning("Ignoring a stored lexical index whose digest is not a sha256")
    return False


def unpack(files: bytes, digest: str, folder: Path) -> bool:
    """Unpack the files into `folder` (named by their digest), by a rename: another instance
    may race. False if the bytes are not the digest's."""
    if hashlib.sha256(files).hexdigest() != digest:
        logger.warning("Ignoring a stored lexical index whose files do not match its digest")
        return False
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=folder.parent, prefix=".tmp-"))
    with tarfile.open(fileobj=io.BytesIO(files)) as tar:
        tar.extractall(tmp, filter="data")
    try:
        tmp.rename(folder)
    except OSError:  # another instance unpacked it first
        shutil.rmtree(tmp, ignore_errors=True)
    prune(folder.parent, keep=folder)
    return True


def prune(cache: Path, keep: Path, min_age_s: float = 3600) -> None:
    """Remove the cache's older versions (and crashed downloads).

    Only those unpacked over an hour ago: an instance sharing the data dir may be about to
    load one it has just unpacked. One already loaded keeps its open files and maps.
    """
    cutoff = time.time() - min_age_s
    for old in cache.iterdir():
        with contextlib.suppress(OSError):  # another instance removed it first
            if old != keep and old.stat().st_mtime < cutoff:
                shutil.rmtree(old)
