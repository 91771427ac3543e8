"""Connecting to PostgreSQL, and saying clearly what to check when it is not there."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager

import sqlalchemy as sa

from rag.config import Settings
from rag.errors import StoreUnavailableError

logger = logging.getLogger(__name__)

# Any constant: every writer of any rag store in the database takes this transaction lock,
# so two ingests of one document cannot interleave their delete and insert.
WRITE_LOCK = 0x7261_6700
# Held while a process creates the tables and indexes: CREATE … IF NOT EXISTS is not safe
# against the same statement in another session (two ingests starting on a new store
# collided in PostgreSQL's catalog: "duplicate key value … pg_type_typname_nsp_index").
_SETUP_LOCK = WRITE_LOCK + 1


def safe_url(url: str) -> str:
    """The URL with its password masked, fit for messages and logs."""
    try:
        return sa.make_url(url).render_as_string(hide_password=True)
    except sa.exc.ArgumentError:
        return "<unparsable RAG_PG_URL>"


@contextmanager
def reporting(url: str) -> Iterator[None]:
    """Turn a lost or refused connection into a StoreUnavailableError that says what to check."""
    try:
        yield
    except (sa.exc.OperationalError, sa.exc.InterfaceError) as err:
        raise StoreUnavailableError(unavailable_message(url, err)) from err


def unavailable_message(url: str, err: Exception) -> str:
    reason = str(getattr(err, "orig", None) or err).strip().splitlines()[0]
    return (
        f"PostgreSQL at {safe_url(url)} is unavailable: {reason}. Check that the server is "
        "running and reachable from here (host, port, firewall), and that the user, password "
        "and database in RAG_PG_URL are right."
    )


def connect(settings: Settings) -> sa.Engine:
    """An engine whose first connection succeeded, retried with exponential backoff."""
    url = settings.pg_url
    if not url:
        raise StoreUnavailableError(
            "RAG_STORE=pgvector needs RAG_PG_URL=postgresql://USER:PASSWORD@HOST:5432/DATABASE."
        )
    try:
        engine = sa.create_engine(driver_url(url, "psycopg2"), pool_pre_ping=True)
    except (sa.exc.ArgumentError, ImportError) as err:
        raise StoreUnavailableError(f"RAG_PG_URL {safe_url(url)} is not usable: {err}") from err
    for attempt in range(settings.pg_retries + 1):
        try:
            with engine.connect():
                return engine
        except sa.exc.OperationalError as err:
            # A wrong password or database will not heal by waiting.
            final = attempt == settings.pg_retries or "authentication" in str(err)
            if final or "does not exist" in str(err):
                raise StoreUnavailableError(unavailable_message(url, err)) from err
            delay = settings.pg_retry_delay_s * 2**attempt
            logger.warning("PostgreSQL unreachable, retrying in %.1f s: %s", delay, err.orig)
            time.sleep(delay)
    raise AssertionError("unreachable")


def driver_url(url: str, driver: str) -> sa.URL:
    return sa.make_url(url).set(drivername=f"postgresql+{driver}")


@contextmanager
def setup_lock(engine: sa.Engine) -> Iterator[None]:
    """Hold the store's set-up lock (a session lock, across transactions) inside."""
    with engine.connect() as conn:
        conn.execute(sa.text("SELECT pg_advisory_lock(:k)"), {"k": _SETUP_LOCK})
        try:
            yield
        finally:
            conn.execute(sa.text("SELECT pg_advisory_unlock(:k)"), {"k": _SETUP_LOCK})


def take_write_lock(conn: sa.Connection) -> None:
    """Hold the store's write lock until this transaction ends."""
    conn.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": WRITE_LOCK})
