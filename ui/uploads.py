"""Uploaded files (the UI's and the API's): stored under safe names, never over another
document, and indexed."""

from __future__ import annotations

import filecmp
import shutil
from pathlib import Path

from rag import RagEngine
from rag.engine import IngestReport
from rag.loaders import safe_file_name


def store_upload(temp: Path, folder: Path) -> tuple[Path, bool]:
    """Copy an uploaded file into the uploads folder under its safe name, never over another
    file: the same bytes are the same document (no copy is made), different bytes under a
    taken name get the next free one ("report-2.pdf"). (Where it is, whether it is new.)"""
    name = Path(safe_file_name(temp.name))
    target, n = folder / name, 1
    while target.exists():
        if filecmp.cmp(target, temp, shallow=False):
            return target, False
        n += 1
        target = folder / f"{name.stem}-{n}{name.suffix}"
    shutil.copyfile(temp, target)
    return target, True


def ingest_uploads(engine: RagEngine, files: list[Path]) -> tuple[IngestReport, dict[str, str]]:
    """Store the uploaded `files` in the uploads folder and index them. Returns the report
    and each stored path's file name; a rejected file's new copy is removed again."""
    folder = engine.settings.uploads_dir
    folder.mkdir(parents=True, exist_ok=True)
    names: dict[str, str] = {}
    kept: list[Path] = []
    created: set[str] = set()
    for temp in files:
        target, new = store_upload(temp, folder)
        names[str(target.resolve())] = target.name
        kept.append(target)
        if new:
            created.add(str(target.resolve()))
    try:
        report = engine.ingest(kept)
    except BaseException:
        for path in created:  # nothing indexed: keep no copy
            Path(path).unlink(missing_ok=True)
        raise
    for rejection in report.rejected:  # keep no copy of what the index does not hold
        if rejection.path in created:  # never a file a document already stood in
            Path(rejection.path).unlink(missing_ok=True)
    return report, names
