"""An index folder's versions: written aside, made durable, swapped in while no reader loads.

A write builds the new version in `index.tmp` and swaps it in by two renames (the old one
moves to `index.old`, the new one to `index`). Readers hold the swap lock shared while they
open a version's files, the writer holds it exclusive for the renames, so a load never
mixes two versions. The files, the new folder and the data dir are fsynced before the old
version is deleted: after a power loss the data dir holds the old version or the new one.
"""

from __future__ import annotations

import fcntl
import logging
import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

logger = logging.getLogger(__name__)

_LOCK_FILE = ".swap.lock"


@contextmanager
def swap_lock(index_dir: Path, exclusive: bool) -> Iterator[None]:
    """Shared: no version is swapped in meanwhile. Exclusive: no load is under way.

    A data dir this process cannot write to (a read-only mount) has no writer to wait for.
    """
    try:
        index_dir.parent.mkdir(parents=True, exist_ok=True)
        handle = open(index_dir.parent / _LOCK_FILE, "a+b")  # noqa: SIM115 (held across the yield)
    except OSError:
        yield
        return
    with handle:
        fcntl.flock(handle, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def sync_tree(folder: Path) -> None:
    """fsync every file under `folder`, then each folder (so their entries are on disk)."""
    for root, dirs, files in os.walk(folder):
        for name in files:
            _sync(Path(root) / name, os.O_RDONLY)
        for name in dirs:
            _sync(Path(root) / name, os.O_RDONLY | os.O_DIRECTORY)
    _sync(folder, os.O_RDONLY | os.O_DIRECTORY)


def _sync(path: Path, flags: int) -> None:
    fd = os.open(path, flags)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def swap_in(new: Path, index_dir: Path) -> None:
    """Make the complete, synced folder `new` the version at `index_dir`; drop the old one."""
    old = index_dir.with_name(index_dir.name + ".old")
    with swap_lock(index_dir, exclusive=True):
        shutil.rmtree(old, ignore_errors=True)
        if index_dir.exists():
            index_dir.rename(old)
        new.rename(index_dir)
        _sync(index_dir.parent, os.O_RDONLY | os.O_DIRECTORY)
    shutil.rmtree(old, ignore_errors=True)  # readers of it keep their open files


def recoverable(index_dir: Path, complete: str) -> bool:
    """Whether a crash between the two renames of a swap left the old version aside."""
    old = index_dir.with_name(index_dir.name + ".old")
    return not index_dir.exists() and (old / complete).is_file()


def recover(index_dir: Path, complete: str) -> None:
    """After a crash between the two renames of a swap, the old version is `index.old`
    (`complete` is the file that marks a finished version): move it back, under the lock."""
    old = index_dir.with_name(index_dir.name + ".old")
    if not recoverable(index_dir, complete):
        return
    with swap_lock(index_dir, exclusive=True):
        if recoverable(index_dir, complete):
            logger.warning("Recovering the previous index from %s", old)
            old.rename(index_dir)
            _sync(index_dir.parent, os.O_RDONLY | os.O_DIRECTORY)


def version_stamp(index_dir: Path, manifest: str) -> tuple[int, int] | None:
    """What identifies the version in `index_dir` (its manifest's inode and mtime); None
    while a swap leaves no manifest there."""
    try:
        stat = (index_dir / manifest).stat()
    except OSError:
        return None
    return stat.st_ino, stat.st_mtime_ns
