"""Folders kept in sync with the index as their files appear, change and disappear.

watchfiles (the OS's file events, debounced into batches) says which paths changed; each
batch is one `RagEngine.sync(folders, changed=…)`: only those files are read, and the
documents of files that are gone are removed. Renames come as a removal and an addition.
At start, one full sync catches up with what changed while nothing was watching.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from pathlib import Path

from watchfiles import DefaultFilter, watch

from rag.engine import IngestReport, RagEngine
from rag.errors import RagError
from rag.file_text import SUPPORTED_SUFFIXES

logger = logging.getLogger(__name__)

# A batch of changes is synced once 50 ms pass without another (watchfiles' step), or after
# this many milliseconds of steady changes: an editor's save or a copy of many files
# arrives as one batch, not one sync per file event.
DEBOUNCE_MS = 1600


class _Documents(DefaultFilter):
    """Supported files and folders (a folder's removal removes its documents); the
    defaults' ignored names (.git, __pycache__, editor swap files) and hidden files out."""

    def __call__(self, change, path: str) -> bool:
        name = Path(path).name
        if name.startswith(".") or not super().__call__(change, path):
            return False
        suffix = Path(path).suffix.lower()
        return suffix in SUPPORTED_SUFFIXES or not suffix or Path(path).is_dir()


class FolderWatcher:
    """Watches folders and syncs the engine's index with them until stopped."""

    def __init__(
        self,
        engine: RagEngine,
        folders: Sequence[str | Path],
        on_sync: Callable[[IngestReport], None] | None = None,
        debounce_ms: int = DEBOUNCE_MS,
    ) -> None:
        self.engine = engine
        self.folders = [Path(f).resolve() for f in folders]
        missing = [str(f) for f in self.folders if not f.is_dir()]
        if missing:
            raise RagError(f"Cannot watch {', '.join(missing)}: not a folder.")
        self._on_sync = on_sync or (lambda report: None)
        self._debounce_ms = debounce_ms
        self._stop = threading.Event()
        self._pending: set[str] = set()  # the changes of a sync that failed: tried again
        self.last: IngestReport | None = None  # the last sync's report

    def run(self) -> None:
        """Sync everything once, then each batch of changes, until `stop()`."""
        self._sync(None)
        for changes in watch(
            *self.folders,
            watch_filter=_Documents(),
            debounce=self._debounce_ms,
            stop_event=self._stop,
            rust_timeout=500,
            yield_on_timeout=False,
        ):
            self._sync({path for _, path in changes})

    def start(self) -> threading.Thread:
        """`run` in a daemon thread (for `rag serve --watch`)."""
        thread = threading.Thread(target=self.run, name="rag-watch", daemon=True)
        thread.start()
        return thread

    def stop(self) -> None:
        self._stop.set()

    def _sync(self, changed: set[str] | None) -> None:
        """One sync; an error (a busy index, an unreachable store) is logged and the
        watch goes on: its changes are synced again with the next batch."""
        paths = None if changed is None else sorted(self._pending | changed)
        try:
            report = self.engine.sync(self.folders, changed=paths)
        except RagError as err:
            logger.warning("Sync of %s failed: %s", ", ".join(map(str, self.folders)), err)
            self._pending.update(paths or [])
            return
        self._pending.clear()
        self.last = report
        self._on_sync(report)
