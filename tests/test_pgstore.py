"""RAG_STORE=pgvector against a real PostgreSQL 18 + pgvector server started by a fixture."""

from __future__ import annotations

import itertools
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest
import sqlalchemy as sa
from gradio_client import Client
from llama_index.core.vector_stores.types import FilterCondition, MetadataFilter, MetadataFilters
from typer.testing import CliRunner

from bench.pg import run as run_pg_bench
from bench.pg_parity import compare_stores
from bench.pg_server import LocalPostgres, remove, start_postgres
from bench.ui_load import free_port
from evals.runner import RETRIEVAL_KEYS
from rag import RagEngine, Settings
from rag.cli import app
from rag.errors import IndexMissingError, NoMatchingDocumentError, StoreUnavailableError
from rag.filters import describe, parse_filters, select_chunks
from rag.store.lexical import LexicalIndex
from rag.store.pg import corpus as pg_corpus
from rag.store.pg.corpus import PgCorpus
from rag.store.pg.sql_filters import sql_condition
from rag.store.pg.stored_lexical import prune
from tests.conftest import SEED_FILE, SHELLS, otter_corpus, serve_app
from tests.test_filters import by_name

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[1]
PESKOV_QUOTE = "First, we must have all details of the offer"
_names = itertools.count()


@pytest.fixture(scope="session")
def pg() -> Iterator[LocalPostgres]:
    """One server for the session (initdb takes seconds), stopped and deleted at the end."""
    server = start_postgres()
    try:
        yield server
    finally:
        remove(server)


@pytest.fixture
def pg_url(pg: LocalPostgres) -> str:
    """A fresh database per test."""
    return pg.createdb(f"t{os.getpid()}_{next(_names)}")


def _pg_settings(tmp_path: Path, url: str, **more) -> Settings:
    return Settings(data_dir=tmp_path / "data", store="pgvector", pg_url=url, **more)


def _write(folder: Path, name: str, text: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(text)
    return path


def _rows(url: str, sql: str) -> list:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            return list(conn.execute(sa.text(sql)))
    finally:
        engine.dispose()


def _execute(url: str, sql: str, **params: object) -> None:
    """Change the database around rag, in one transaction."""
    engine = sa.create_engine(url)
    try:
        with engine.begin() as conn:
            conn.execute(sa.text(sql), params)
    finally:
        engine.dispose()


def test_a_migrated_index_retrieves_like_faiss(seed_engine, pg_url, datasets):
    """Metric parity on the seed dev set: the seed FAISS index copied, not re-embedded."""
    result = compare_stores(datasets / "seed" / "dev.jsonl", seed_engine, pg_url)
    assert result["chunks"]["copied"] == seed_engine.load_index().chunk_count
    assert result["faiss"]["hit@5"] > 0.5  # the eval itself measures something
    assert result["max_abs_difference"]["retrieval"] <= 0.01, result


def test_ingest_upsert_delete_and_answers_with_spans(tmp_path, pg_url, seed_corpus):
    engine = RagEngine(_pg_settings(tmp_path, pg_url))
    with pytest.raises(IndexMissingError, match="No documents in PostgreSQL"):
        engine.ask("What did Peskov say?")
    corpus = tmp_path / "corpus"
    other = _write(corpus, "otters.txt", "Otters\nSea otters hold hands while they sleep.\n")
    _write(corpus, SEED_FILE.name, SEED_FILE.read_text())
    report = engine.ingest([corpus])
    assert report.count("added") == 2 and report.chunks > 5
    answer = engine.ask("What did Peskov say?")
    quote = answer.citations[0]
    assert PESKOV_QUOTE in quote.quote
    source = Path(quote.source).read_text()
    assert source[quote.start : quote.end] == quote.quote  # char spans hold on this store too

    assert engine.ingest([corpus]).count("unchanged") == 2
    other.write_text("Otters\nSea otters use stones as tools to open shells.\n")
    assert engine.ingest([corpus]).count("replaced") == 1
    assert "stones" in engine.ask("What do sea otters use to open shells?").text
    assert [d.chunks for d in engine.documents() if d.source == str(other.resolve())] == [1]

    engine.delete(other)
    assert [Path(d.source).name for d in engine.documents()] == [SEED_FILE.name]
    names = {Path(p.source).name for p in engine.ask("otters stones shells").retrieved}
    assert "otters.txt" not in names


def test_ingest_in_one_process_is_seen_by_two_serving_instances(tmp_path, pg_url, seed_corpus):
    """Two `rag serve` processes on one database answer the same, and see a third's ingest."""
    env = os.environ | {
        "RAG_STORE": "pgvector",
        "RAG_PG_URL": pg_url,
        "RAG_DATA_DIR": str(tmp_path / "data"),
        "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
    }
    rag = [sys.executable, "-m", "rag.cli"]
    RagEngine(_pg_settings(tmp_path, pg_url)).ingest([seed_corpus])
    ports = [free_port(), free_port()]
    servers = [
        subprocess.Popen(
            [*rag, "serve", "--port", str(port)], env=env, stderr=subprocess.PIPE, text=True
        )
        for port in ports
    ]
    try:
        clients = [_client_when_up(f"http://127.0.0.1:{port}/") for port in ports]
        first, second = (c.predict("What did Peskov say?", api_name="/ask") for c in clients)
        assert PESKOV_QUOTE in first["citations"][0]["quote"]
        assert [c["quote"] for c in first["citations"]] == [c["quote"] for c in second["citations"]]
        otters = _write(tmp_path / "more", "otters.txt", "Otters\nSea otters hold hands.\n")
        subprocess.run([*rag, "ingest", str(otters)], env=env, check=True, capture_output=True)
        for client in clients:
            answer = client.predict("Do sea otters hold hands?", api_name="/ask")
            assert Path(answer["citations"][0]["source"]).name == "otters.txt"
    finally:
        for server in servers:
            server.terminate()
            server.wait(timeout=30)


class _BuildSpy:
    """Counts BM25 builds from every chunk (LexicalIndex.build), and builds as it would."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.calls = 0
        build = LexicalIndex.build

        def counted(docstore, sentences):
            self.calls += 1
            return build(docstore, sentences)

        monkeypatch.setattr(LexicalIndex, "build", counted)


def _keyword_sources(engine: RagEngine, question: str) -> list[str]:
    return [Path(p.source).name for p in engine.ask(question, mode="keyword").retrieved]


def test_a_second_instance_loads_the_stored_bm25_and_sees_a_later_ingest(
    tmp_path, pg_url, seed_corpus, monkeypatch
):
    """Instance B starts from the BM25 that A's ingest stored: a spy on the build says so.
    A's next ingest reads only its new chunk to bring BM25 up to date, and B downloads only
    the segment that adds it."""
    writer = RagEngine(_pg_settings(tmp_path / "a", pg_url))
    writer.ingest([seed_corpus])
    question = "What did Peskov say about the offer?"
    expected = _keyword_sources(writer, question)
    spy = _BuildSpy(monkeypatch)
    reader = RagEngine(_pg_settings(tmp_path / "b", pg_url))
    assert _keyword_sources(reader, question) == expected
    assert PESKOV_QUOTE in reader.ask(question).citations[0].quote
    assert spy.calls == 0
    segments = tmp_path / "b" / "data" / "pg-lexical" / "segments"
    assert len(list(segments.iterdir())) == 1  # downloaded

    otters = _write(tmp_path / "more", "otters.txt", "Otters\nSea otters juggle pebbles.\n")
    with _Statements().listening() as sql:
        writer.ingest([otters])
    texts_read = [p for s, p in sql.with_parameters if "data_rag_chunks.text" in s and "ids" in p]
    assert [len(p["ids"]) for p in texts_read] == [1]  # the new chunk's text, no other
    assert spy.calls == 0  # the writer did not build BM25 from every chunk
    assert _keyword_sources(reader, "juggle pebbles")[0] == "otters.txt"
    assert spy.calls == 0  # the reader loaded the new version's, did not build it
    assert len(list(segments.iterdir())) == 2  # the old segment, and the new chunk's
    assert _keyword_sources(reader, question) == expected


class _Statements:
    """The SQL this process sends to PostgreSQL while listening (a SQLAlchemy event)."""

    def __init__(self) -> None:
        self.seen: list[str] = []
        self.with_parameters: list[tuple[str, dict]] = []

    def _record(self, conn, cursor, statement, parameters, context, executemany) -> None:
        self.seen.append(statement)
        self.with_parameters.append((statement, parameters))

    @contextmanager
    def listening(self) -> Iterator[_Statements]:
        sa.event.listen(sa.engine.Engine, "before_cursor_execute", self._record)
        try:
            yield self
        finally:
            sa.event.remove(sa.engine.Engine, "before_cursor_execute", self._record)

    def reading(self, column: str) -> list[str]:
        return [s for s in self.seen if column in s and s.lstrip().upper().startswith("SELECT")]


def _same_answer(a, b) -> None:
    assert a.text == b.text
    assert [(c.quote, c.source, c.start) for c in a.citations] == [
        (c.quote, c.source, c.start) for c in b.citations
    ]
    assert [(p.chunk_id, p.text, round(p.score, 6)) for p in a.retrieved] == [
        (p.chunk_id, p.text, round(p.score, 6)) for p in b.retrieved
    ]


def test_a_serving_instance_reads_only_the_chunks_a_question_needs(tmp_path, pg_url, seed_corpus):
    """No chunk text or span is loaded at start: passages and hop parents are read by id."""
    writer = RagEngine(_pg_settings(tmp_path / "a", pg_url))
    corpus = _write(tmp_path / "corpus", SEED_FILE.name, SEED_FILE.read_text()).parent
    _write(corpus, "otters.txt", "Otters\nSea otters hold hands while they sleep.\n")
    writer.ingest([corpus])
    questions = ["What did Peskov say?", "Do sea otters hold hands?", "Who met in Jeddah?"]
    expected = [writer.ask(q) for q in questions]  # the writer's full snapshot

    reader = RagEngine(_pg_settings(tmp_path / "b", pg_url))
    with _Statements().listening() as sql:
        answers = [reader.ask(q) for q in questions]
    for answer, want in zip(answers, expected, strict=True):
        _same_answer(answer, want)
    assert PESKOV_QUOTE in answers[0].citations[0].quote
    assert not sql.reading("rag_sentences.spans")
    texts = sql.reading("data_rag_chunks.text")
    by_id = "WHERE public.data_rag_chunks.node_id IN ("
    assert texts and all(by_id in s for s in texts), texts
    snapshot = reader.load_index()._load_snapshot()
    assert not snapshot.full and not snapshot.sentences.spans
    with _Statements().listening() as again:
        _same_answer(reader.ask(questions[0]), expected[0])
    assert not again.reading("data_rag_chunks.text")  # read for the first ask, and kept


def test_an_instance_answers_from_its_snapshot_while_another_writes(tmp_path, pg_url, seed_corpus):
    """Deleted chunks drop out of an older snapshot's answers, new ones wait for its reload."""
    writer = RagEngine(_pg_settings(tmp_path / "a", pg_url))
    corpus = _write(tmp_path / "corpus", SEED_FILE.name, SEED_FILE.read_text()).parent
    otters = _write(corpus, "otters.txt", "Otters\nSea otters hold hands while they sleep.\n")
    writer.ingest([corpus])
    reader = RagEngine(_pg_settings(tmp_path / "b", pg_url))
    retriever = reader.retriever(reader.load_index())  # pinned to this version
    question = "Do sea otters hold hands while they sleep?"
    # Asked of another instance: the reader's docstore keeps the chunks it reads for a while.
    before = RagEngine(_pg_settings(tmp_path / "c", pg_url)).ask(question, k=5).retrieved
    assert Path(before[0].source).name == "otters.txt"

    writer.delete(otters)
    beavers = _write(tmp_path / "more", "beavers.txt", "Beavers\nBeavers hold hands too.\n")
    writer.ingest([beavers])
    after, _ = retriever.retrieve(question, 5)  # the old snapshot, rows of a newer version
    # The same chunks, not always in the same order: the deleted one no longer sets the
    # dense scores' scale (rag.retrieve._Scale).
    assert {p.chunk_id for p in after} == {p.chunk_id for p in before[1:]}
    names = [Path(p.source).name for p in after]
    assert "otters.txt" not in names and "beavers.txt" not in names
    assert [p.rank for p in after] == list(range(1, len(after) + 1))
    assert len(after) == len(before) - 1  # the deleted chunk was ranked, and dropped
    assert [Path(p.source).name for p in reader.ask(question).retrieved][0] == "beavers.txt"


def test_a_stored_bm25_that_does_not_count_the_chunks_is_not_trusted(
    tmp_path, pg_url, seed_corpus, caplog
):
    """A chunk written around rag (no version bump): the instance loads every chunk instead."""
    RagEngine(_pg_settings(tmp_path / "a", pg_url)).ingest([seed_corpus])
    columns = "node_id, text, metadata_, embedding"
    copy = "SELECT 'stray', text, metadata_, embedding FROM data_rag_chunks LIMIT 1"
    _execute(pg_url, f"INSERT INTO data_rag_chunks ({columns}) {copy}")
    reader = RagEngine(_pg_settings(tmp_path / "b", pg_url))
    with caplog.at_level("INFO", logger="rag.store.pg.corpus"):
        assert PESKOV_QUOTE in reader.ask("What did Peskov say?").citations[0].quote
    assert "does not match the chunks" in caplog.text
    assert reader.load_index()._load_snapshot().full


@pytest.mark.parametrize(
    ("column", "value", "why"),
    [
        ("digest", "../../outside", "digest is not a hex name"),
        ("digest", "/tmp/rag-evil-absolute", "digest is not a hex name"),
        ("files", "tampered", "do not match its digest"),
    ],
)
def test_a_stored_bm25_row_is_never_a_path_or_unchecked_bytes(
    tmp_path, pg_url, seed_corpus, caplog, column, value, why
):
    """A row someone wrote into the database (a digest that is a path, bytes that are not
    what the digest says) is not unpacked anywhere: the instance builds BM25 itself."""
    RagEngine(_pg_settings(tmp_path / "a", pg_url)).ingest([seed_corpus])
    if column == "digest":
        _execute(pg_url, "UPDATE rag_lexical SET digest = :v", v=value)
    else:
        _execute(pg_url, "UPDATE rag_lexical SET files = :v", v=value.encode())
    reader = RagEngine(_pg_settings(tmp_path / "b", pg_url))
    with caplog.at_level("INFO", logger="rag.store.pg.corpus"):
        assert PESKOV_QUOTE in reader.ask("What did Peskov say?").citations[0].quote
    assert why in caplog.text
    assert not (tmp_path / "outside").exists() and not Path("/tmp/rag-evil-absolute").exists()
    cache = tmp_path / "b" / "data" / "pg-lexical"
    assert not cache.exists() or not any(cache.iterdir())


def test_unpacking_a_new_bm25_removes_copies_and_segments_unused_for_an_hour(tmp_path):
    cache = tmp_path / "pg-lexical"
    old, recent, kept = (cache / name for name in ("old", "recent", "kept"))
    used, unused, unused_recent = (cache / "segments" / n for n in ("used", "unused", "new"))
    for folder in (old, recent, kept, used, unused, unused_recent):
        folder.mkdir(parents=True)
    hours_ago = time.time() - 7200
    for folder in (old, kept, used, unused, cache / "segments"):
        os.utime(folder, (hours_ago, hours_ago))
    prune(cache, keep=kept, segments={"used"})
    assert sorted(f.name for f in cache.iterdir()) == ["kept", "recent", "segments"]
    assert sorted(f.name for f in (cache / "segments").iterdir()) == ["new", "used"]


def test_a_stored_segment_is_never_a_path_or_unchecked_bytes(tmp_path, pg_url, seed_corpus, caplog):
    """A segment row someone changed in the database is not unpacked: BM25 is built instead."""
    RagEngine(_pg_settings(tmp_path / "a", pg_url)).ingest([seed_corpus])
    _execute(pg_url, "UPDATE rag_lexical_segments SET files = 'tampered'")
    reader = RagEngine(_pg_settings(tmp_path / "b", pg_url))
    with caplog.at_level("INFO", logger="rag.store.pg.stored_lexical"):
        assert PESKOV_QUOTE in reader.ask("What did Peskov say?").citations[0].quote
    assert "segment whose files do not match its digest" in caplog.text
    assert reader.load_index()._load_snapshot().full
    assert not (tmp_path / "b" / "data" / "pg-lexical" / "segments").exists() or not any(
        (tmp_path / "b" / "data" / "pg-lexical" / "segments").iterdir()
    )


def test_a_store_without_a_stored_bm25_builds_it_and_says_so(
    tmp_path, pg_url, seed_corpus, monkeypatch, caplog
):
    """A database written before BM25 was stored (no lexical table) still answers."""
    RagEngine(_pg_settings(tmp_path / "a", pg_url)).ingest([seed_corpus])
    table = Settings().pg_table
    _execute(pg_url, f"DROP TABLE {table}_lexical")
    spy = _BuildSpy(monkeypatch)
    engine = RagEngine(_pg_settings(tmp_path / "b", pg_url))
    with caplog.at_level("INFO", logger="rag.store.pg.corpus"):
        assert PESKOV_QUOTE in engine.ask("What did Peskov say?").citations[0].quote
    assert spy.calls == 1
    assert "Building BM25 from every chunk" in caplog.text
    engine.ingest([_write(tmp_path / "more", "otters.txt", "Otters\nSea otters juggle.\n")])
    assert [r.version for r in _rows(pg_url, f"SELECT version FROM {table}_lexical")] == [
        r.version for r in _rows(pg_url, f"SELECT version FROM {table}_state")
    ]


def _client_when_up(url: str, timeout: float = 120) -> Client:
    deadline = time.monotonic() + timeout
    while True:
        try:
            return Client(url, verbose=False)
        except Exception:  # not listening yet (httpx connect errors of several kinds)
            if time.monotonic() > deadline:
                raise
            time.sleep(1)


def test_a_killed_ingest_leaves_no_partial_document(tmp_path, pg_url, seed_corpus):
    """The ingest is killed while its first document's transaction is open: nothing shows."""
    settings = _pg_settings(tmp_path, pg_url)
    RagEngine(settings).ingest([_write(tmp_path / "a", "first.txt", "First\nA first file.\n")])
    env = os.environ | {
        "RAG_STORE": "pgvector",
        "RAG_PG_URL": pg_url,
        "RAG_DATA_DIR": str(tmp_path / "data"),
        "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
    }
    holder = sa.create_engine(pg_url)
    with holder.connect() as conn:
        # Hold the version row: the writer blocks on its last statement, the document's
        # chunks, sentences and row already written inside its transaction.
        conn.execute(sa.text("SELECT version FROM rag_state FOR UPDATE"))
        ingest = subprocess.Popen(
            [sys.executable, "-m", "rag.cli", "ingest", str(seed_corpus)],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        waiting = "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'"
        deadline = time.monotonic() + 120
        while not _rows(pg_url, waiting)[0][0]:  # a new connection: a fresh stats snapshot
            assert ingest.poll() is None and time.monotonic() < deadline, "ingest never wrote"
            time.sleep(0.2)
        os.kill(ingest.pid, signal.SIGKILL)
        ingest.wait()
        conn.rollback()
    holder.dispose()
    others = "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
    deadline = time.monotonic() + 30
    while _rows(pg_url, others)[0][0] > 1 and time.monotonic() < deadline:
        time.sleep(0.2)  # the server notices the lost client and rolls its transaction back
    for table in ("rag_documents", "rag_sentences", "data_rag_chunks"):
        (count,) = _rows(pg_url, f"SELECT count(*) FROM {table}")[0]
        assert count == 1, f"{table}: {count} rows, the killed document's are visible"
    report = RagEngine(settings).ingest([seed_corpus])  # and the next ingest completes it
    assert report.count("added") == 1


def test_a_wrong_password_or_a_stopped_server_says_what_to_check(tmp_path, pg, pg_url):
    wrong = pg_url.replace(pg.password, "not-the-password")
    engine = RagEngine(_pg_settings(tmp_path, wrong))
    with pytest.raises(StoreUnavailableError) as caught:
        engine.ask("What did Peskov say?")
    message = str(caught.value)
    assert "password authentication failed" in message and "not-the-password" not in message
    assert f"postgresql://postgres:***@127.0.0.1:{pg.port}/" in message

    stopped = start_postgres()
    stopped.stop()
    try:
        settings = _pg_settings(tmp_path, stopped.url(), pg_retries=2, pg_retry_delay_s=0.2)
        started = time.perf_counter()
        with pytest.raises(StoreUnavailableError, match="Check that the server is running") as down:
            RagEngine(settings).ask("What did Peskov say?")
        assert time.perf_counter() - started >= 0.6  # retried twice, with backoff
        assert stopped.password not in str(down.value)
        # The UI stays up and says so, instead of crashing.
        for url in serve_app(RagEngine(settings)):
            with pytest.raises(Exception, match="is unavailable"):
                Client(url, verbose=False).predict("What did Peskov say?", api_name="/ask")
    finally:
        remove(stopped)


def test_the_bench_measures_both_stores(pg_url):
    """bench/pg.py, tiny: every number is there."""
    result = run_pg_bench([300], pg_url, queries=12)["sizes"]["300"]
    assert set(result["ingest_chunks_per_s"]) == set(result["query_ms"]) == {"faiss", "pgvector"}
    assert all(v["p50"] > 0 for v in result["query_ms"].values())
    assert result["migrate_s"] > 0
    added = result["pgvector_add_one_document"]
    assert added["chunks"] == 10 and added["persist_s"] > 0
    assert added["query_ms_after"]["p50"] > 0


def test_rag_migrate_copies_the_faiss_index_to_serve_from(seed_engine, pg_url, monkeypatch):
    runner = CliRunner()
    data_dir = ["--data-dir", str(seed_engine.settings.data_dir)]
    monkeypatch.setenv("RAG_PG_URL", pg_url)
    wrong = runner.invoke(app, [*data_dir, "migrate", "--to", "qdrant"])
    assert wrong.exit_code == 2
    copied = runner.invoke(app, [*data_dir, "migrate", "--to", "pgvector"])
    assert copied.exit_code == 0, copied.stderr
    chunks = seed_engine.load_index().chunk_count
    assert f"Copied {chunks} chunks to PostgreSQL" in copied.stderr
    monkeypatch.setenv("RAG_STORE", "pgvector")
    answer = runner.invoke(app, ["ask", "What did Peskov say?"])  # the data dir is not read
    assert answer.exit_code == 0, answer.stderr
    assert PESKOV_QUOTE in answer.stdout


def test_metadata_filters_in_sql_match_the_faiss_store(tmp_path, pg_url, otters, monkeypatch):
    """The same filters on pgvector: same chunks admitted, same answers as the FAISS store."""
    engine = RagEngine(_pg_settings(tmp_path, pg_url))
    engine.ingest([otter_corpus(tmp_path / "corpus")])
    only_2025 = engine.ask(SHELLS, k=10, filters=by_name("report-2025.txt"))
    assert {Path(p.source).name for p in only_2025.retrieved} == {"report-2025.txt"}
    assert "teeth" in only_2025.text and "stones" not in only_2025.text
    nothing = engine.ask(SHELLS, filters=by_name("none.txt"))
    assert nothing.refused and "No indexed document matches" in nothing.refusal_reason

    corpus = engine.load_index()
    assert isinstance(corpus, PgCorpus)
    nodes = corpus.nodes(corpus.lexical_index().chunk_ids)
    metadata = [n.metadata for n in nodes]
    table = corpus._chunks
    cases = [
        by_name("report-2025.txt"),
        by_name("report-2024.txt", "report-2025.txt"),
        by_name("Otter report 2024", key="title"),
        parse_filters(["file_name!=report-2024.txt"]),
        parse_filters(["file_name!=report-2024.txt", "file_name!=report-2025.txt"]),
        parse_filters(["no_such_key!=x"]),  # a missing key matches != only, in both
        parse_filters(["title=O'Brien'; DROP TABLE rag_state; --"]),  # values are bound
        parse_filters(["title=1984"]),  # number-like text is compared as text
        MetadataFilters(
            filters=[
                MetadataFilter(key="title", value="Otter report 2024"),
                by_name("x").filters[0],
            ],
            condition=FilterCondition.OR,
        ),
    ]
    with corpus._engine.connect() as conn:
        for filters in cases:
            condition = sql_condition(filters, table.c.metadata_)
            in_sql = set(conn.scalars(sa.select(table.c.node_id).where(condition)))
            try:
                in_process = select_chunks(filters, [n.node_id for n in nodes], metadata).chunk_ids
            except NoMatchingDocumentError:
                in_process = frozenset()
            assert in_sql == in_process, describe(filters)
    assert _rows(pg_url, "SELECT count(*) FROM rag_state")[0][0] == 1
    # Dense search: by id (few admitted chunks) and filtered in SQL (many) find the same.
    vector = np.asarray(engine.embed_model.get_query_embedding(SHELLS), np.float32)
    for filters in cases[:4]:
        allowed = select_chunks(filters, [n.node_id for n in nodes], metadata)
        by_id = corpus.nearest(vector, 5, allowed)
        with monkeypatch.context() as patch:
            patch.setattr(pg_corpus, "_EXACT_UP_TO", 0)
            in_sql = corpus.nearest(vector, 5, allowed)
        assert [c for c, _ in by_id] == [c for c, _ in in_sql]
        assert {c for c, _ in by_id} <= allowed.chunk_ids and len(by_id) == min(
            5, len(allowed.chunk_ids)
        )
    faiss = otters.ask(SHELLS, k=10, filters=by_name("report-2024.txt", "report-2025.txt"))
    pg = engine.ask(SHELLS, k=10, filters=by_name("report-2024.txt", "report-2025.txt"))
    assert [c.quote for c in pg.citations] == [c.quote for c in faiss.citations]
    assert [p.text for p in pg.retrieved] == [p.text for p in faiss.retrieved]

    # A serving instance, chunks read on demand: the metadata in one query, the same answers.
    lazy = RagEngine(_pg_settings(tmp_path / "lazy", pg_url))
    lazy_corpus = lazy.load_index()
    assert isinstance(lazy_corpus, PgCorpus) and not lazy_corpus._load_snapshot().full
    assert lazy_corpus.chunk_metadata([n.node_id for n in nodes]) == metadata
    for filters in cases[:5]:
        _same_answer(
            lazy.ask(SHELLS, k=10, filters=filters), engine.ask(SHELLS, k=10, filters=filters)
        )
    assert lazy.ask(SHELLS, filters=by_name("none.txt")).refused


SQUAD_ARTICLES = ("squad2-01-normans.txt", "squad2-05-1973-oil-crisis.txt")


def test_rag_eval_on_pgvector_matches_faiss_on_a_squad_v2_subset(
    tmp_path, pg_url, monkeypatch, datasets
):
    """`rag eval` with RAG_STORE=pgvector: the retrieval metrics of the FAISS store (±0.01).

    Two squad-v2 dev articles and their 13 answerable questions, each store ingesting the
    files itself (~60 chunks): small enough for CI, large enough for hit@1 to vary.
    """
    squad = datasets / "squad-v2"
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    for name in SQUAD_ARTICLES:
        shutil.copy(squad / "corpus" / name, corpus / name)
    cases = [
        line
        for line in (squad / "dev.jsonl").read_text().splitlines()
        if set(json.loads(line).get("source_ids") or ["-"]) <= set(SQUAD_ARTICLES)
    ]
    assert len(cases) == 13
    question_set = tmp_path / "subset.jsonl"
    question_set.write_text("\n".join(cases) + "\n")
    runner = CliRunner()
    summaries = {}
    for store in ("faiss", "pgvector"):
        monkeypatch.setenv("RAG_STORE", store)
        monkeypatch.setenv("RAG_PG_URL", pg_url)
        data = ["--data-dir", str(tmp_path / store)]
        ingested = runner.invoke(app, [*data, "ingest", str(corpus)])
        assert ingested.exit_code == 0, ingested.stderr
        out = ["--out", str(tmp_path / f"report-{store}")]
        result = runner.invoke(app, [*data, "eval", str(question_set), "--json", *out])
        assert result.exit_code == 0, result.stderr
        summaries[store] = json.loads(result.stdout)["summary"]
    assert not (tmp_path / "pgvector" / "index").exists()  # pgvector's eval read PostgreSQL
    assert summaries["faiss"]["hit@10"] > 0.5  # the eval itself measures something
    for key in RETRIEVAL_KEYS:
        assert abs(summaries["faiss"][key] - summaries["pgvector"][key]) <= 0.01, key


def test_rag_eval_corpus_on_pgvector_keeps_the_corpus_in_its_own_tables(
    tmp_path, pg_url, seed_corpus, monkeypatch, datasets
):
    """`rag eval --corpus` caches the corpus in its own tables: the served store stays as is."""
    monkeypatch.setenv("RAG_STORE", "pgvector")
    monkeypatch.setenv("RAG_PG_URL", pg_url)
    runner = CliRunner()
    question_set = str(datasets / "seed" / "dev.jsonl")
    evals = [
        runner.invoke(app, ["eval", question_set, "--corpus", str(seed_corpus), "--json"])
        for _ in range(2)
    ]
    assert all(e.exit_code == 0 for e in evals), evals[0].stderr
    first, second = (json.loads(e.stdout)["summary"] for e in evals)
    assert first["hit@1"] == second["hit@1"] == 1.0
    tables = {r[0] for r in _rows(pg_url, "SELECT tablename FROM pg_tables")}
    own = {t for t in tables if t.startswith("data_rag_eval_") and t.endswith("_chunks")}
    assert len(own) == 1, tables  # the second run found the first one's copy
    (count,) = _rows(pg_url, f"SELECT count(*) FROM {own.pop()}")[0]
    assert count > 5
    assert "data_rag_chunks" not in tables  # the served store was not touched


def test_a_moved_file_is_not_embedded_again_in_postgresql(tmp_path, pg_url, monkeypatch):
    from tests.test_sync import OTTERS, _EmbeddedChunks

    notes = _write(tmp_path / "notes", "otters.md", OTTERS).parent
    engine = RagEngine(_pg_settings(tmp_path, pg_url))
    engine.sync([notes])
    embedded = _EmbeddedChunks(monkeypatch)
    (notes / "otters.md").rename(notes / "sea-otters.md")
    report = engine.sync([notes])
    assert embedded.count == 0
    assert sorted(report.outcomes.values()) == ["added", "removed"]
    answer = engine.ask("Do sea otters hold hands?")
    assert Path(answer.citations[0].source).name == "sea-otters.md"
    assert _rows(pg_url, "SELECT count(*) FROM data_rag_chunks")[0][0] == 1


def test_parallel_ingests_into_one_store_lose_and_duplicate_nothing(tmp_path, pg_url):
    """Three `rag ingest` processes (each its own data dir, as on three machines) write
    disjoint folders at once: every document once, and one BM25 that counts them all."""
    animals = ["otters", "beavers", "herons", "lynxes", "badgers", "puffins"]
    folders = []
    for n in range(3):
        folder = tmp_path / f"folder{n}"
        folder.mkdir()
        for animal in animals[2 * n : 2 * n + 2]:
            for part in range(3):
                text = f"# {animal} {part}\n\nField note {part}: {animal} were seen at dawn."
                (folder / f"{animal}-{part}.md").write_text(text + "\n")
        folders.append(folder)
    env = os.environ | {"RAG_STORE": "pgvector", "RAG_PG_URL": pg_url}
    processes = [
        subprocess.Popen(
            [sys.executable, "-m", "rag.cli", "ingest", str(folder)],
            env=env | {"RAG_DATA_DIR": str(tmp_path / f"machine{n}")},
            stderr=subprocess.PIPE,
            text=True,
        )
        for n, folder in enumerate(folders)
    ]
    for process in processes:
        _, stderr = process.communicate(timeout=300)
        assert process.returncode == 0, stderr
    documents = _rows(pg_url, "SELECT source FROM rag_documents")
    assert len(documents) == len({d.source for d in documents}) == 18
    per_doc = _rows(
        pg_url,
        "SELECT metadata_->>'ref_doc_id', count(*) FROM data_rag_chunks GROUP BY 1",
    )
    assert len(per_doc) == 18 and {count for _, count in per_doc} == {1}
    versions = _rows(pg_url, "SELECT (SELECT version FROM rag_lexical), version FROM rag_state")
    assert versions[0][0] == versions[0][1]  # the stored BM25 is the last version's
    reader = RagEngine(_pg_settings(tmp_path / "reader", pg_url))
    corpus = reader.load_index()
    assert isinstance(corpus, PgCorpus) and not corpus._load_snapshot().full  # the stored one
    assert len(corpus.lexical_index().chunk_ids) == 18
    for animal in animals:
        answer = reader.ask(f"When were {animal} seen?")
        assert Path(answer.citations[0].source).name.startswith(animal), answer.text
