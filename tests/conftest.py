"""Shared fixtures: isolated settings per test, one real seed index per session."""

from __future__ import annotations

import functools
import shutil
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

import rag.embedding
from rag import RagEngine, Settings

ROOT = Path(__file__).resolve().parents[1]
SEEDS = ROOT / "seeds"
SEED_FILE = SEEDS / "ukraine-russia-ceasefire-2025-03-13.txt"
SHARED_DATASETS = ROOT.parent / "shared" / "datasets"

# A bridge question in the style of HotpotQA: the question names the painter; the answer
# sits in the document about a man named only inside the painter's document.
BRIDGE_DOCS = {
    "daniel-greene.txt": "Daniel Greene (artist)\n\nDaniel E. Greene is an American realist "
    "painter of portraits. Some of his sitters include Eleanor Roosevelt, Ayn Rand and "
    "Dave Thomas.",
    "dave-thomas.txt": "Dave Thomas (businessman)\n\nRex David Thomas started Wendy's, "
    "which serves hamburgers.",
    "ayn-rand.txt": "Ayn Rand\n\nAyn Rand was a Russian-American writer and philosopher, "
    "known for her novels The Fountainhead and Atlas Shrugged.",
    "greene-king.txt": "Greene King\n\nGreene King is a British brewer that runs pubs; "
    "it was founded in 1799.",
    "burger-king.txt": "Burger King\n\nBurger King is an American company that has sold "
    "food, mostly hamburgers, since it was founded in 1953.",
}


def make_pdf(path: Path, pages: list[str]) -> None:
    """A real PDF (Helvetica), written by hand: each page's text, one PDF line per line."""
    objects = ["<< /Type /Catalog /Pages 2 0 R >>", ""]
    kids = []
    for text in pages:
        shown = " 0 -14 Td ".join(f"({line}) Tj" for line in text.split("\n"))
        stream = f"BT /F1 12 Tf 72 720 Td {shown} ET".encode()
        page_no, content_no = len(objects) + 1, len(objects) + 2
        kids.append(f"{page_no} 0 R")
        objects.append(
            "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] "
            f"/Resources << /Font << /F1 {len(pages) * 2 + 3} 0 R >> >> "
            f"/Contents {content_no} 0 R >>"
        )
        objects.append(f"<< /Length {len(stream)} >>\nstream\n{stream.decode()}\nendstream")
    objects[1] = f"<< /Type /Pages /Kids [{' '.join(kids)}] /Count {len(pages)} >>"
    objects.append("<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>")
    out, offsets = b"%PDF-1.4\n", []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += f"{number} 0 obj\n{body}\nendobj\n".encode()
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    out += "".join(f"{o:010d} 00000 n \n" for o in offsets).encode()
    out += (
        f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode()
    )
    path.write_bytes(out)


def write_files(folder: Path, files: dict[str, str]) -> Path:
    """Write {name: text} into folder (created if needed); returns the folder."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (folder / name).write_text(text, encoding="utf-8")
    return folder


@pytest.fixture(autouse=True)
def isolated_data_dir(tmp_path, monkeypatch):
    """No test reads or writes the user's data dir or a rag.toml in the working directory."""
    monkeypatch.setenv("RAG_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.chdir(tmp_path)


# `make test-fast` runs what is not marked `slow` or `browser`: those tests must not load the
# embedding model (seconds each), in the test or in any fixture it sets up (a module's index
# is built inside its first test's setup). One that does fails, saying which marker to add.
_running = {"fast": False}


def pytest_runtest_setup(item: pytest.Item) -> None:
    """Runs before the item's fixtures are set up (conftest hooks precede pytest's own)."""
    _running["fast"] = not (item.get_closest_marker("slow") or item.get_closest_marker("browser"))


def _only_in_slow_tests(load):
    @functools.wraps(load)
    def guarded(*args, **kwargs):
        if _running["fast"]:
            raise AssertionError("This test loads the embedding model: mark it `slow`.")
        return load(*args, **kwargs)

    return guarded


# Where a model is loaded, on either backend (checking a folder or the weights' hash is not).
rag.embedding._onnx_embedding = _only_in_slow_tests(rag.embedding._onnx_embedding)
rag.embedding._torch_embedding = _only_in_slow_tests(rag.embedding._torch_embedding)


@pytest.fixture(scope="session")
def datasets() -> Path:
    """../shared/datasets (the eval sets): read inside tests, never at collection, and
    skipped with the reason where a clone has no ../shared beside it."""
    if not SHARED_DATASETS.is_dir():
        pytest.skip(f"no eval sets at {SHARED_DATASETS} (../shared is not beside the checkout)")
    return SHARED_DATASETS


@pytest.fixture(scope="session")
def seed_corpus(tmp_path_factory) -> Path:
    """A private copy of the seed corpus (tests may not edit the real one)."""
    corpus = tmp_path_factory.mktemp("corpus")
    shutil.copy(SEED_FILE, corpus / SEED_FILE.name)
    return corpus


@pytest.fixture(scope="session")
def seed_settings(tmp_path_factory, seed_corpus) -> Settings:
    """Settings whose data dir holds a real index of the seed corpus (built once)."""
    settings = Settings(data_dir=tmp_path_factory.mktemp("seed-data"), corpus_dir=seed_corpus)
    RagEngine(settings).ingest([seed_corpus])
    return settings


@pytest.fixture(scope="session")
def seed_engine(seed_settings) -> RagEngine:
    """A fresh engine that loads the persisted seed index from disk."""
    return RagEngine(seed_settings)


class NetworkBlocked(AssertionError):
    """Raised by the socket guard: something tried to reach beyond this machine."""


@pytest.fixture
def no_network(monkeypatch):
    """Fail any connection that leaves the loopback interface."""
    real_connect = socket.socket.connect

    def guarded_connect(sock, address):
        host = address[0] if isinstance(address, tuple) else address
        if sock.family != socket.AF_UNIX and host not in {"127.0.0.1", "::1", "localhost"}:
            raise NetworkBlocked(f"network access to {address!r}")
        return real_connect(sock, address)

    real_getaddrinfo = socket.getaddrinfo

    def guarded_getaddrinfo(host, *args, **kwargs):
        if host not in {"127.0.0.1", "::1", "localhost", None}:
            raise NetworkBlocked(f"DNS lookup of {host!r}")
        return real_getaddrinfo(host, *args, **kwargs)

    monkeypatch.setattr(socket.socket, "connect", guarded_connect)
    monkeypatch.setattr(socket, "getaddrinfo", guarded_getaddrinfo)


def serve_app(engine: RagEngine, **launch) -> Iterator[str]:
    """Launch the UI as `rag serve` does, on a free loopback port; yields its URL."""
    from bench.ui_load import free_port
    from ui.app import build_app, launch_options  # Gradio imports slowly: UI tests only

    port = free_port()
    app = build_app(engine)
    options = launch_options(engine, "127.0.0.1") | launch
    app.launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, **options)
    try:
        yield f"http://127.0.0.1:{port}/"
    finally:
        app.close()


@pytest.fixture(scope="session")
def url(seed_settings: Settings) -> Iterator[str]:
    """A running UI over the session's seed index (for tests that do not change it)."""
    yield from serve_app(RagEngine(seed_settings))


@pytest.fixture
def own_settings(seed_settings: Settings, tmp_path: Path) -> Settings:
    """A private copy of the seed index, for tests that change the corpus."""
    shutil.copytree(seed_settings.data_dir, tmp_path / "data")
    return Settings(data_dir=tmp_path / "data")


@pytest.fixture
def own_url(own_settings: Settings) -> Iterator[str]:
    """A running UI over a private copy of the seed index."""
    yield from serve_app(RagEngine(own_settings))


# --- Metadata filters (tests/test_filters.py, tests/test_pgstore.py) ---

OTTERS = {
    "report-2024.txt": "Otter report 2024\n\nSea otters use stones to open shells. "
    "They float on their backs while they eat.\n",
    "report-2025.txt": "Otter report 2025\n\nSea otters use their teeth to open shells. "
    "O'Brien counted forty otters in the bay.\n",
}
SHELLS = "What do sea otters use to open shells?"


def otter_corpus(folder: Path) -> Path:
    """Two reports that answer SHELLS differently, and the seed article."""
    write_files(folder, OTTERS | {SEED_FILE.name: SEED_FILE.read_text()})
    return folder


@pytest.fixture(scope="session")
def otters(tmp_path_factory) -> RagEngine:
    """A FAISS index of the otter corpus (ingested once per session)."""
    root = tmp_path_factory.mktemp("otters")
    engine = RagEngine(Settings(data_dir=root / "data"))
    engine.ingest([otter_corpus(root / "corpus")])
    return engine
