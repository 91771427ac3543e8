"""Importing libraries faster: without the optional dependencies they would load but we
never use, and without the garbage collector's passes over what they create."""

from __future__ import annotations

import gc
import sys
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def without_optional(*modules: str) -> Iterator[None]:
    """Inside, importing these modules fails, as if they were not installed; after, it works.

    For libraries that import an optional dependency only if they can (nltk: scikit-learn
    and scipy; bm25s: scipy.sparse) and that we use without it: each costs a cold
    `rag ask` a few tenths of a second. A None in sys.modules makes the import fail for the
    duration; modules imported already are left alone.
    """
    blocked = [name for name in modules if name not in sys.modules]
    for name in blocked:
        sys.modules[name] = None  # type: ignore[assignment]
    try:
        yield
    finally:
        for name in blocked:
            del sys.modules[name]


@contextmanager
def gc_paused() -> Iterator[None]:
    """The cyclic garbage collector paused inside, as it was after.

    Importing llama-index and nltk creates ~170,000 objects the collector tracks, nearly
    all of them living as long as the process; on the way, the collector walks the growing
    heap again and again and finds next to nothing to free (measured: ~25% of the import
    time, see bench/results/NOTES.md). After, they are frozen (`gc.freeze`): the first full
    collection once the collector is back would walk them all once more (~90 ms).
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        gc.freeze()
        if enabled:
            gc.enable()
