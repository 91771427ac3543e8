"""Folders kept in sync: `RagEngine.sync`, `rag ingest --sync`, `rag watch` and
`rag serve --watch`, on real files, the real model and a real FAISS index; the watcher
gets real file events (watchfiles: inotify)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

import rag.engine
from rag import RagEngine, Settings
from rag.cli import app
from rag.errors import RagError
from rag.store import sentence_vectors
from rag.store.faiss.corpus import FaissCorpus
from rag.watch import FolderWatcher
from tests.conftest import write_files
from ui.app import build_app

pytestmark = pytest.mark.slow

OTTERS = "# Otters\n\nSea otters hold hands while they sleep.\n"
BEAVERS = "# Beavers\n\nBeavers build dams of branches and mud.\n"
HERONS = "# Herons\n\nGrey herons stand still in shallow water for hours.\n"


def _sources(engine: RagEngine) -> set[str]:
    return {Path(d.source).name for d in engine.documents()}


def test_sync_adds_replaces_and_removes_only_under_its_folders(tmp_path):
    notes = write_files(tmp_path / "notes", {"otters.md": OTTERS, "beavers.md": BEAVERS})
    other = write_files(tmp_path / "other", {"herons.md": HERONS})
    engine = RagEngine(Settings(data_dir=tmp_path / "data"))
    engine.ingest([notes, other])

    (notes / "beavers.md").unlink()
    (notes / "otters.md").write_text(OTTERS + "\nThey wrap themselves in kelp.\n")
    (notes / "sub").mkdir()
    (notes / "sub" / "herons.txt").write_text(HERONS)
    report = engine.sync([notes])

    by_name = {Path(s).name: o for s, o in report.outcomes.items()}
    assert by_name == {"otters.md": "replaced", "herons.txt": "added", "beavers.md": "removed"}
    assert "1 removed" in report.summary()
    assert _sources(engine) == {"otters.md", "herons.txt", "herons.md"}  # other/ untouched
    assert "Beavers" not in engine.ask("What do beavers build?").text
    again = RagEngine(Settings(data_dir=tmp_path / "data"))  # persisted
    assert _sources(again) == {"otters.md", "herons.txt", "herons.md"}
    assert set(again.sync([notes]).outcomes.values()) == {"unchanged"}


def test_a_missing_folder_or_an_unreadable_file_removes_nothing(tmp_path):
    """An unmounted drive or a typo is not "every file was deleted"; a file that is there
    but cannot be read now keeps the version indexed before."""
    notes = write_files(tmp_path / "notes", {"otters.md": OTTERS, "beavers.md": BEAVERS})
    engine = RagEngine(Settings(data_dir=tmp_path / "data"))
    engine.ingest([notes])
    (notes / "beavers.md").write_bytes(b"\x00\x01binary\xff" * 100)

    report = engine.sync([notes, tmp_path / "unmounted"])
    assert "removed" not in report.outcomes.values()
    assert {Path(r.path).name for r in report.rejected} == {"beavers.md", "unmounted"}
    assert _sources(engine) == {"otters.md", "beavers.md"}


def test_a_watchers_changes_read_only_the_changed_files(tmp_path, monkeypatch):
    notes = write_files(tmp_path / "notes", {"otters.md": OTTERS, "beavers.md": BEAVERS})
    write_files(notes / "old", {"herons.md": HERONS})
    engine = RagEngine(Settings(data_dir=tmp_path / "data"))
    engine.sync([notes])
    read: list[str] = []
    real = rag.engine.load_documents

    def counting(files, *args):
        read.extend(Path(f).name for f in files)
        return real(files, *args)

    monkeypatch.setattr(rag.engine, "load_documents", counting)
    (notes / "otters.md").write_text(OTTERS + "\nThey use stones as tools.\n")
    for path in (notes / "old").iterdir():
        path.unlink()
    (notes / "old").rmdir()
    outside = tmp_path / "elsewhere.md"
    outside.write_text(BEAVERS)
    report = engine.sync([notes], changed=[notes / "otters.md", notes / "old", outside])

    assert read == ["otters.md"]
    by_name = {Path(s).name: o for s, o in report.outcomes.items()}
    assert by_name == {"otters.md": "replaced", "herons.md": "removed"}
    assert _sources(engine) == {"otters.md", "beavers.md"}


def _wait_for(condition, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "the watcher did not sync in time"
        time.sleep(0.2)


def test_the_watcher_follows_files_as_they_appear_change_and_disappear(tmp_path):
    notes = write_files(tmp_path / "notes", {"otters.md": OTTERS})
    engine = RagEngine(Settings(data_dir=tmp_path / "data"))
    reports = []
    watcher = FolderWatcher(engine, [notes], reports.append, debounce_ms=300)
    thread = watcher.start()
    try:
        _wait_for(lambda: _sources(engine) == {"otters.md"})  # the first full sync
        otter_chunks = _chunk_ids(engine, notes / "otters.md")
        (notes / "beavers.md").write_text(BEAVERS)
        _wait_for(lambda: "beavers.md" in _sources(engine))
        (notes / "beavers.md").write_text(BEAVERS.replace("branches", "willow sticks"))
        _wait_for(lambda: "willow sticks" in engine.ask("What do beavers build?").text)
        (notes / "beavers.md").rename(notes / "dams.md")
        _wait_for(lambda: _sources(engine) == {"otters.md", "dams.md"})
        (notes / "otters.md").unlink()
        (notes / ".hidden.md").write_text(HERONS)
        _wait_for(lambda: _sources(engine) == {"dams.md"})
        assert "willow sticks" in engine.ask("What do beavers build?").text
        assert "hold hands" not in engine.ask("Do sea otters hold hands?").text
    finally:
        watcher.stop()
        thread.join(timeout=10)
    assert not thread.is_alive()
    assert all("hidden" not in s for r in reports for s in r.outcomes)
    # The deleted file's chunks are gone from every part of the index persisted on disk.
    stored = RagEngine(Settings(data_dir=tmp_path / "data")).load_index()
    assert isinstance(stored, FaissCorpus)
    for kept in (
        stored.vector_store.node_ids,
        set(stored.index.docstore.docs),
        stored.sentences.chunk_ids,
        set(stored.lexical_index().chunk_ids),
    ):
        assert otter_chunks and not otter_chunks & kept and len(kept) == 1


def _chunk_ids(engine: RagEngine, path: Path) -> set[str]:
    corpus = engine.load_index()
    assert isinstance(corpus, FaissCorpus)
    info = corpus.index.docstore.get_ref_doc_info(str(path.resolve()))
    return set(info.node_ids) if info else set()


def test_a_failed_sync_is_logged_and_its_changes_come_with_the_next(tmp_path, caplog):
    notes = write_files(tmp_path / "notes", {"otters.md": OTTERS})
    engine = RagEngine(Settings(data_dir=tmp_path / "data"))
    calls = []
    real_sync = engine.sync

    def flaky(folders, show_progress=False, changed=None):
        calls.append(changed)
        if len(calls) == 2:
            raise RagError("The index is busy.")
        return real_sync(folders, show_progress, changed)

    engine.sync = flaky  # type: ignore[method-assign]
    watcher = FolderWatcher(engine, [notes], debounce_ms=300)
    thread = watcher.start()
    try:
        _wait_for(lambda: len(calls) == 1 and watcher.last is not None)
        (notes / "beavers.md").write_text(BEAVERS)
        _wait_for(lambda: len(calls) == 2)
        assert "beavers.md" not in _sources(engine)
        (notes / "herons.md").write_text(HERONS)
        _wait_for(lambda: {"beavers.md", "herons.md"} <= _sources(engine))
    finally:
        watcher.stop()
        thread.join(timeout=10)
    assert "Sync of" in caplog.text and "The index is busy." in caplog.text


def test_watching_a_file_or_a_missing_folder_is_refused(tmp_path):
    file = write_files(tmp_path / "notes", {"otters.md": OTTERS}) / "otters.md"
    engine = RagEngine(Settings(data_dir=tmp_path / "data"))
    for path in (file, tmp_path / "missing"):
        with pytest.raises(RagError, match="not a folder"):
            FolderWatcher(engine, [path])
    result = CliRunner().invoke(app, ["watch", str(tmp_path / "missing")])
    assert result.exit_code != 0 and "not a folder" in result.stderr


def test_ingest_sync_on_the_command_line(tmp_path, monkeypatch):
    notes = write_files(tmp_path / "notes", {"otters.md": OTTERS, "beavers.md": BEAVERS})
    monkeypatch.setenv("RAG_DATA_DIR", str(tmp_path / "data"))
    assert CliRunner().invoke(app, ["ingest", str(notes)]).exit_code == 0
    (notes / "beavers.md").unlink()
    kept = CliRunner().invoke(app, ["ingest", str(notes)])
    assert kept.exit_code == 0 and "removed" not in kept.stderr  # without --sync: kept
    synced = CliRunner().invoke(app, ["ingest", "--sync", str(notes)])
    assert synced.exit_code == 0, synced.stderr
    assert "  removed  " in synced.stderr and "1 removed" in synced.stderr
    assert _sources(RagEngine(Settings(data_dir=tmp_path / "data"))) == {"otters.md"}


def test_the_documents_tab_names_the_watched_folders(tmp_path):
    notes = write_files(tmp_path / "notes", {"otters.md": OTTERS})
    engine = RagEngine(Settings(data_dir=tmp_path / "data"))
    watched = build_app(engine, [notes])
    texts = [getattr(b, "value", "") for b in watched.blocks.values()]
    assert any(f"`{notes}`" in str(t) and "Kept in sync" in str(t) for t in texts)
    plain = build_app(engine)
    assert not any("Kept in sync" in str(getattr(b, "value", "")) for b in plain.blocks.values())


class _EmbeddedChunks:
    """Counts the chunks embedded (either way a store embeds them: pooled or not)."""

    def __init__(self, monkeypatch) -> None:
        self.count = 0
        pooled = sentence_vectors._embed_pooled
        plain = sentence_vectors.embed_texts

        def counting_pooled(nodes, *args, **kwargs):
            self.count += len(nodes)
            return pooled(nodes, *args, **kwargs)

        def counting_plain(model, texts, *args, **kwargs):
            self.count += len(texts)
            return plain(model, texts, *args, **kwargs)

        monkeypatch.setattr(sentence_vectors, "_embed_pooled", counting_pooled)
        monkeypatch.setattr(sentence_vectors, "embed_texts", counting_plain)


def test_a_moved_or_copied_file_is_not_embedded_again(tmp_path, monkeypatch):
    notes = write_files(tmp_path / "notes", {"otters.md": OTTERS, "beavers.md": BEAVERS})
    engine = RagEngine(Settings(data_dir=tmp_path / "data"))
    engine.sync([notes])
    embedded = _EmbeddedChunks(monkeypatch)
    (notes / "archive").mkdir()
    (notes / "otters.md").rename(notes / "archive" / "sea-otters.md")
    (notes / "beavers-copy.md").write_text(BEAVERS)
    report = engine.sync([notes])
    assert embedded.count == 0
    by_name = {Path(s).name: o for s, o in report.outcomes.items() if o != "unchanged"}
    assert by_name == {"sea-otters.md": "added", "beavers-copy.md": "added", "otters.md": "removed"}
    answer = engine.ask("Do sea otters hold hands?")
    assert Path(answer.citations[0].source).name == "sea-otters.md"
    assert "hold hands" in answer.citations[0].quote
    (notes / "beavers.md").write_text(BEAVERS + "\nThey are rodents.\n")
    engine.sync([notes])
    assert embedded.count > 0  # changed content is embedded
