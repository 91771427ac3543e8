"""BM25 and the titles in the database, a segment per row, unpacked into an instance's data dir.

The lexical index (rag.store.lexical) is segments that never change once written, and a
manifest: which segments, and which of their chunks are deleted. A writer stores each new
segment's folder as a tar with the tar's sha256, and the manifest as JSON with its sha256
as the version's digest. An instance unpacks each segment once into
`data_dir/pg-lexical/segments/NAME`, and each manifest into `data_dir/pg-lexical/DIGEST`
(the manifest beside links to its segments), and loads that folder. So a write moves what it
wrote, not the corpus, through the database and into every instance. Names and digests
become paths: each is checked to be hex (never a path) and each tar to be its digest's bytes.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import logging
import os
import re
import shutil
import tarfile
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from rag.store.lexical import MANIFEST, LexicalIndex, Segment, link_tree

logger = logging.getLogger(__name__)
_HEX = re.compile(r"[0-9a-f]{32}|[0-9a-f]{64}")  # a segment's name, a sha256
SEGMENTS = "segments"  # the cache's folder of unpacked segments


def pack_segment(segment: Segment) -> tuple[bytes, str]:
    """The segment's saved folder as a tar, and its sha256."""
    with tempfile.TemporaryDirectory() as folder:
        segment.save(Path(folder) / segment.name)
        buffer = io.BytesIO()
        with tarfile.open(fileobj=buffer, mode="w") as tar:
            tar.add(Path(folder) / segment.name, arcname=segment.name)
    files = buffer.getvalue()
    return files, hashlib.sha256(files).hexdigest()


def pack_manifest(lexical: LexicalIndex) -> tuple[bytes, str]:
    """The manifest as JSON, and its sha256: the digest that names the version's BM25."""
    manifest = json.dumps(lexical.manifest(), sort_keys=True).encode()
    return manifest, hashlib.sha256(manifest).hexdigest()


def is_name(name: str, what: str = "digest") -> bool:
    if _HEX.fullmatch(name):
        return True
    logger.warning("Ignoring a stored lexical index whose %s is not a hex name", what)
    return False


def read_manifest(files: bytes, digest: str) -> dict | None:
    """The stored manifest, if the bytes are the digest's and a manifest (a store written
    before segments holds a tar of the whole folder there: BM25 is built again)."""
    if hashlib.sha256(files).hexdigest() != digest:
        logger.warning("Ignoring a stored lexical index whose files do not match its digest")
        return None
    try:
        manifest = json.loads(files)
        names = manifest["segments"]
    except (ValueError, KeyError, TypeError):
        logger.info("The stored lexical index is of an older layout; building it again")
        return None
    if not isinstance(names, list) or not all(is_name(str(n), "segment") for n in names):
        return None
    return manifest


def unpack_segment(files: bytes, digest: str, cache: Path, name: str) -> bool:
    """Unpack a stored segment into the cache (by a rename: another instance may race).
    False if the bytes are not the digest's, or not that segment's folder."""
    if hashlib.sha256(files).hexdigest() != digest:
        logger.warning("Ignoring a stored lexical segment whose files do not match its digest")
        return False

    def extracted(made: Path) -> None:  # the tar holds the segment's folder, by its name
        with tarfile.open(fileobj=io.BytesIO(files)) as tar:
            tar.extractall(made.parent, filter="data")

    if not _made_aside(cache / SEGMENTS / name, extracted):
        logger.warning("Ignoring a stored lexical segment that does not hold %s", name)
        return False
    return True


def cache_segment(segment: Segment, cache: Path) -> None:
    """A segment this process made, saved where `unpack_segment` would put it."""
    folder = cache / SEGMENTS / segment.name
    if not folder.is_dir():
        _made_aside(folder, segment.save)


def missing_segments(manifest: dict, cache: Path) -> list[str]:
    return [n for n in manifest["segments"] if not (cache / SEGMENTS / n).is_dir()]


def assemble(manifest: dict, digest: str, cache: Path) -> Path:
    """The folder `LexicalIndex.load` reads for this manifest: the manifest, and links to its
    unpacked segments."""

    def linked(made: Path) -> None:
        lexical = made / "lexical"
        lexical.mkdir(parents=True)
        for name in manifest["segments"]:
            link_tree(cache / SEGMENTS / name, lexical / name)
        (lexical / MANIFEST).write_text(json.dumps(manifest))

    folder = cache / digest
    if not folder.is_dir():
        _made_aside(folder, linked)
    prune(cache, keep=folder, segments=set(manifest["segments"]))
    return folder


def _made_aside(folder: Path, make: Callable[[Path], None]) -> bool:
    """`folder` made by `make` under a temporary folder beside it, then renamed into place,
    so no instance sharing the data dir loads it half made; one that made it first wins.
    False if `make` made nothing."""
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=folder.parent, prefix=".tmp-"))
    made = tmp / folder.name
    try:
        make(made)
        if not made.is_dir():
            return False
        os.utime(made)  # made now (a tar keeps the time it was saved): see `prune`
        with contextlib.suppress(OSError):  # another instance made it first
            made.rename(folder)
        return True
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def prune(cache: Path, keep: Path, segments: set[str], min_age_s: float = 3600) -> None:
    """Remove the cache's older versions and the segments `keep` does not use (and crashed
    downloads).

    Only those unpacked over an hour ago: an instance sharing the data dir may be about to
    load one it has just unpacked. One already loaded keeps its open files and maps.
    """
    cutoff = time.time() - min_age_s
    old = [f for f in cache.iterdir() if f not in (keep, cache / SEGMENTS)]
    if (cache / SEGMENTS).is_dir():
        old += [f for f in (cache / SEGMENTS).iterdir() if f.name not in segments]
    for folder in old:
        with contextlib.suppress(OSError):  # another instance removed it first
            if folder.stat().st_mtime < cutoff:
                shutil.rmtree(folder)
