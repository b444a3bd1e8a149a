"""A throwaway PostgreSQL cluster for the benchmarks: initdb into a temporary folder, `postgres`
in the foreground on a free loopback port, removed at the end.

Unlike the test suite's cluster, this one keeps PostgreSQL's durability settings (fsync,
full-page writes, synchronous commit): what a commit costs is part of what a benchmark of a
deployment measures. PostgreSQL refuses to run as root; then it runs as the `postgres` system
user (Debian's package creates it), in a folder handed to that user.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg

from benchmarks.procs import ServerProcess, free_port
from benchmarks.registries import run_text

__all__ = ["Postgres", "bin_dir", "running"]

_USER = "dockyard"
_STARTUP_TIMEOUT = 30.0
# Only what a small deployment would change from the defaults: room for replicas x workers x
# 33 connections (README, "Metadata in PostgreSQL") and a shared_buffers that fits here.
_SETTINGS = {"max_connections": "300", "shared_buffers": "128MB"}


def bin_dir() -> Path:
    """The newest PostgreSQL server binaries Debian installed."""
    found = sorted(
        Path("/usr/lib/postgresql").glob("*/bin/postgres"), key=lambda p: int(p.parent.parent.name)
    )
    if not found:
        raise RuntimeError("PostgreSQL is not installed (apt-get install postgresql)")
    return found[-1].parent


def _as_server_user() -> list[str]:
    return ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []


@dataclass(frozen=True, slots=True)
class Postgres:
    """A running cluster: `create_database` hands out empty databases in it."""

    port: int
    server: ServerProcess

    @property
    def pid(self) -> int:
        return self.server.pid

    def _dsn(self, database: str) -> str:
        return f"host=127.0.0.1 port={self.port} user={_USER} dbname={database}"

    def create_database(self, name: str) -> str:
        """An empty database; returns the URL Dockyard takes (`DOCKYARD_DATABASE_URL`)."""
        with psycopg.connect(self._dsn("postgres"), autocommit=True) as conn:
            conn.execute(f"CREATE DATABASE {name}")  # our own name, never user input
        return f"postgresql://{_USER}@127.0.0.1:{self.port}/{name}"

    def version(self) -> str:
        return run_text([str(bin_dir() / "postgres"), "--version"])


def _wait_ready(db: Postgres) -> None:
    deadline = time.monotonic() + _STARTUP_TIMEOUT
    while True:
        proc = db.server.proc
        if proc is None or proc.poll() is not None:
            raise RuntimeError(f"postgres exited:\n{db.server.log_tail()}")
        try:
            with psycopg.connect(db._dsn("postgres"), connect_timeout=1):
                return
        except psycopg.OperationalError:
            if time.monotonic() > deadline:
                raise RuntimeError(f"postgres not ready:\n{db.server.log_tail()}") from None
            time.sleep(0.1)


@contextlib.contextmanager
def running() -> Iterator[Postgres]:
    """A new cluster, stopped and removed on the way out.

    Its folder is a new one in the system's temporary folder, not under the run's work
    directory: that is root's 0700 folder, which `postgres` could not enter."""
    base = Path(tempfile.mkdtemp(prefix="dockyard-bench-pg-"))
    try:
        if os.geteuid() == 0:
            shutil.chown(base, "postgres")
        data = base / "data"
        subprocess.run(
            [*_as_server_user(), str(bin_dir() / "initdb"), "-D", str(data), "-A", "trust",
             "-U", _USER, "-E", "UTF8", "--locale=C.UTF-8"],
            check=True, capture_output=True, timeout=120,
        )  # fmt: skip
        port = free_port()
        settings = {
            **_SETTINGS,
            "listen_addresses": "127.0.0.1",
            "port": str(port),
            "unix_socket_directories": str(base),
        }
        args = [arg for key, value in settings.items() for arg in ("-c", f"{key}={value}")]
        argv = [*_as_server_user(), str(bin_dir() / "postgres"), "-D", str(data), *args]
        # The log goes next to the data: the server user must be able to write it.
        server = ServerProcess("postgres", argv, base / "postgres.log")
        server.start()
        try:
            db = Postgres(port, server)
            _wait_ready(db)
            yield db
        finally:
            server.stop(timeout=30)
    finally:
        shutil.rmtree(base, ignore_errors=True)
