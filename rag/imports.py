"""Importing a library without the optional dependencies it would load but we never use."""

from __future__ import annotations

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
