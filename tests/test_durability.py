"""The index survives kill -9 at any moment, and one writer at a time holds a data dir."""

import os
import random
import shutil
import signal
import threading
import time

import pytest
import torch
from filelock import FileLock
from tqdm import tqdm
from tqdm.auto import tqdm as auto_tqdm

from rag import IndexBusyError, RagEngine, Settings

pytestmark = pytest.mark.slow


def _corpus(folder, count):
    folder.mkdir()
    for i in range(count):
        (folder / f"note-{i:02d}.md").write_text(
            f"# Note {i}\n\nThe courier code for depot {i} is K{i * 7919 % 10007}.\n"
        )


def _ingest_one_by_one_in_a_child(settings, files, ready_fd) -> int:
    """Fork a process that ingests the files one at a time (one persist each); its pid.

    Forked, not spawned, so each of the 20 rounds does not pay seconds of imports and model
    loading; torch runs single-threaded so no thread pool is forked mid-flight.
    """
    pid = os.fork()
    if pid == 0:  # the child: never returns into pytest
        # tqdm's default lock is a semaphore shared across fork (bm25s takes it at every
        # BM25 build): killed while holding it, the child would hang the parent's next query.
        for bar in (tqdm, auto_tqdm):  # each class that has taken its lock has its own
            bar.set_lock(threading.RLock())
        try:
            engine = RagEngine(settings)
            for path in files:
                engine.ingest([path])
                os.write(ready_fd, b".")
        finally:
            os._exit(0)
    return pid


@pytest.fixture
def single_threaded_torch():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.mark.usefixtures("single_threaded_torch")
def test_kill_9_at_random_moments_leaves_a_complete_consistent_index(tmp_path, seed_corpus):
    data = tmp_path / "data"
    corpus = tmp_path / "corpus"
    _corpus(corpus, 40)
    files = sorted(corpus.iterdir())
    settings = Settings(data_dir=data)
    RagEngine(settings).ingest([seed_corpus])  # the state every kill may fall back to
    rng = random.Random(20251125)
    counts = []
    for _ in range(20):
        ready, ready_w = os.pipe()
        pid = _ingest_one_by_one_in_a_child(settings, files, ready_w)
        os.read(ready, 1)  # one file is in: the next write is under way
        time.sleep(rng.uniform(0, 0.4))
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        os.close(ready)
        os.close(ready_w)
        engine = RagEngine(settings)  # loading checks FAISS ids == index ids == docstore ids
        documents = engine.documents()
        counts.append(len(documents))
        assert any(d.source.endswith("ukraine-russia-ceasefire-2025-03-13.txt") for d in documents)
        assert "all details of the offer" in engine.ask("What did Peskov say?").text
    assert counts == sorted(counts) and counts[0] >= 2  # no kill lost what was written before
    notes = RagEngine(settings)
    report = notes.ingest([corpus])
    assert report.chunks == sum(d.chunks for d in notes.documents())
    assert "K7919" in notes.ask("What is the courier code for depot 1?").text


def test_a_second_writer_waits_then_fails_with_a_clear_message(tmp_path, seed_corpus):
    data = tmp_path / "data"
    data.mkdir()
    engine = RagEngine(Settings(data_dir=data, lock_timeout_s=0.5))
    busy = pytest.raises(IndexBusyError, match="Another process is writing the index")
    with FileLock(data / ".write.lock"), busy:  # another process is ingesting
        engine.ingest([seed_corpus])
    assert engine.ingest([seed_corpus]).count("added") == 1


def test_a_stale_engine_does_not_undo_another_processes_ingest(tmp_path, seed_corpus):
    data = tmp_path / "data"
    first = RagEngine(Settings(data_dir=data))
    first.ingest([seed_corpus])
    note = tmp_path / "note.md"
    note.write_text("# Note\n\nThe vault opens on Tuesdays.\n")
    RagEngine(Settings(data_dir=data)).ingest([note])  # "another process"
    other = tmp_path / "other.md"
    other.write_text("# Other\n\nThe garden closes at dusk.\n")
    first.ingest([other])  # loaded before the note was added
    sources = {d.source for d in RagEngine(Settings(data_dir=data)).documents()}
    assert {str(note.resolve()), str(other.resolve())} <= sources
    shutil.rmtree(data)
