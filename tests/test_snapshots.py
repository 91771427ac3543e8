"""A reader always sees one complete version of the index: while another process swaps a new
one in, while this process writes, and after a write fails; a served index notices another
process's write; a new version is on disk (fsynced) before the old one goes."""

import os
import shutil
import threading
import time
from pathlib import Path

import pytest

from rag import RagEngine, Settings
from rag.errors import IndexCorruptError, IndexMissingError
from rag.store.faiss.corpus import FaissCorpus
from tests.test_durability import single_threaded_torch  # noqa: F401  (a fixture)

pytestmark = pytest.mark.slow
PESKOV = "What did Peskov say?"


def _slow_renames_in_child(settings: Settings, note: Path, done_w: int) -> int:
    """Fork a writer that adds and deletes `note` over and over, each rename of a swap
    followed by a pause (the window in which a reader could meet half a swap)."""
    pid = os.fork()
    if pid != 0:
        return pid
    try:  # the child: never returns into pytest
        real_rename = Path.rename

        def slow_rename(self, target):
            moved = real_rename(self, target)
            time.sleep(0.02)
            return moved

        Path.rename = slow_rename  # type: ignore[method-assign]
        engine = RagEngine(settings)
        while True:
            engine.ingest([note])
            engine.delete(note)
            os.write(done_w, b".")
    except BaseException:
        os._exit(1)  # a writer that broke (the recovery rename under its feet, say)
    os._exit(0)


@pytest.mark.usefixtures("single_threaded_torch")
def test_loads_during_another_processes_writes_never_see_a_mixed_index(own_settings, tmp_path):
    note = tmp_path / "note.md"
    note.write_text("# Note\n\nThe vault opens on Tuesdays.\n")
    engine = RagEngine(own_settings)
    model, name = engine.embed_model, engine._model_name
    done, done_w = os.pipe()
    pid = _slow_renames_in_child(own_settings, note, done_w)
    loads, failures = 0, []
    deadline = time.monotonic() + 12
    try:
        while time.monotonic() < deadline:
            try:
                FaissCorpus.load(own_settings.index_dir, model, name)
                loads += 1
            except (IndexCorruptError, IndexMissingError) as error:
                failures.append(str(error))
        finished, status = os.waitpid(pid, os.WNOHANG)
        assert finished == 0, f"the writer died (status {status})"
        os.set_blocking(done, False)
        writes = len(os.read(done, 10_000))
    finally:
        os.kill(pid, 9)
        os.waitpid(pid, 0)
        os.close(done)
        os.close(done_w)
    assert failures == []
    assert writes >= 3 and loads >= 20


def test_questions_during_a_write_see_the_previous_version(own_settings, tmp_path, monkeypatch):
    engine = RagEngine(own_settings)
    before = engine.ask(PESKOV)
    assert "all details of the offer" in before.text
    inside, release = threading.Event(), threading.Event()
    real_fit = FaissCorpus.fit_vectors

    def paused_fit(self):  # the new chunks are in FAISS and the docstore by now
        inside.set()
        release.wait(30)
        return real_fit(self)

    monkeypatch.setattr(FaissCorpus, "fit_vectors", paused_fit)
    note = tmp_path / "note.md"
    note.write_text("# Peskov\n\nPeskov said nothing else that week.\n")
    writer = threading.Thread(target=engine.ingest, args=([note],))
    writer.start()
    assert inside.wait(30)
    during = engine.ask(PESKOV)  # the write is under way in the same engine
    assert during.text == before.text
    assert [d.source for d in engine.documents()] == [
        d.source for d in before_documents(own_settings)
    ]
    release.set()
    writer.join(60)
    assert str(note.resolve()) in {d.source for d in engine.documents()}


def before_documents(settings: Settings):
    return RagEngine(settings).documents()


def test_a_failed_write_keeps_the_previous_version_answering(own_settings, tmp_path, monkeypatch):
    engine = RagEngine(own_settings)
    listed = [d.source for d in engine.documents()]

    def broken_after_inserting(self):  # the new chunks are in FAISS and the docstore by now
        raise RuntimeError("the vector index ran out of memory")

    monkeypatch.setattr(FaissCorpus, "fit_vectors", broken_after_inserting)
    note = tmp_path / "note.md"
    note.write_text("# Note\n\nThe vault opens on Tuesdays.\n")
    with pytest.raises(RuntimeError, match="out of memory"):
        engine.ingest([note])
    assert [d.source for d in engine.documents()] == listed
    assert "all details of the offer" in engine.ask(PESKOV).text
    assert [d.source for d in RagEngine(own_settings).documents()] == listed  # on disk too


def test_a_served_index_notices_another_processes_delete(own_settings):
    serving = RagEngine(own_settings)
    assert "all details of the offer" in serving.ask(PESKOV).text
    source = serving.documents()[0].source
    RagEngine(own_settings).delete(source)  # "another process"
    assert serving.documents() == []
    answer = serving.ask(PESKOV)
    assert answer.refused and not answer.citations


def test_a_new_version_is_fsynced_before_the_old_one_goes(own_settings, tmp_path, monkeypatch):
    synced: list[str] = []
    real_fsync = os.fsync

    def recording_fsync(fd):
        synced.append(os.readlink(f"/proc/self/fd/{fd}"))
        return real_fsync(fd)

    monkeypatch.setattr(os, "fsync", recording_fsync)
    note = tmp_path / "note.md"
    note.write_text("# Note\n\nThe vault opens on Tuesdays.\n")
    RagEngine(own_settings).ingest([note])
    data = str(own_settings.data_dir.resolve())
    tmp = f"{data}/index.tmp"
    assert f"{tmp}/rag_index.json" in synced and f"{tmp}/docstore.sqlite" in synced
    assert tmp in synced  # the new folder's entries
    assert synced.index(data) > synced.index(tmp)  # then the data dir, after the renames
    assert not Path(f"{data}/index.old").exists()


def test_a_copy_of_a_data_dir_keeps_working(own_settings, tmp_path):
    copy = tmp_path / "copy"
    shutil.copytree(own_settings.data_dir, copy)
    assert "all details of the offer" in RagEngine(Settings(data_dir=copy)).ask(PESKOV).text
