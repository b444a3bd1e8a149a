"""SQLite: the embedded default.

Rules we hold to (pitfalls §16, §18): foreign keys on per connection; writers start with
BEGIN IMMEDIATE so they queue on the lock instead of failing with SQLITE_BUSY when a
deferred transaction upgrades; `synchronous=FULL` so an acknowledged push survives power
loss (blob bytes are fsynced before their row commits, so the row is the commit point).
The change generation is `PRAGMA data_version` on a watcher connection.
"""

from __future__ import annotations

import sqlite3
import time
from contextlib import closing
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.pool import QueuePool

__all__ = ["SqliteBackend"]


def _engine(url: str, *, writer: bool) -> Engine:
    engine = create_engine(
        url,
        poolclass=QueuePool,
        # One writer connection per process: writers queue in-process instead of spinning.
        pool_size=1 if writer else 8,
        max_overflow=0 if writer else 8,
        pool_timeout=60,
        hide_parameters=True,
        connect_args={"check_same_thread": False, "timeout": 30},
    )

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: sqlite3.Connection, _record: Any) -> None:
        dbapi_conn.isolation_level = None  # we issue BEGIN ourselves
        cursor = dbapi_conn.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=FULL")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE" if writer else "BEGIN")

    return engine


def _use_wal(path: str, wait_seconds: float = 30.0) -> None:
    """Switch the file to WAL (persistent: once per file), waiting for other processes.

    Several workers or replicas may open a new file at once. The switch needs the file to
    itself, and SQLite answers "database is locked" at once, without its busy handler,
    when another connection holds it while migrating: retry until `wait_seconds` pass.
    """
    deadline = time.monotonic() + wait_seconds
    while True:
        try:
            with closing(sqlite3.connect(path, timeout=wait_seconds)) as conn:
                if conn.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
                    conn.execute("PRAGMA journal_mode=WAL")
                return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.05)


class SqliteBackend:
    def __init__(self, url: str) -> None:
        path = url.removeprefix("sqlite:///")
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        _use_wal(path)
        self.reader = _engine(url, writer=False)
        self.writer = _engine(url, writer=True)
        # Only ever used from one thread at a time (the event loop's; see generation()).
        self._watch = sqlite3.connect(path, check_same_thread=False)

    def generation(self) -> int:
        # `PRAGMA data_version` only moves for commits made by *other* connections, so the
        # watcher connection (which never writes) sees every commit, ours included. It reads
        # the WAL index in shared memory: microseconds, safe to call on the event loop.
        row = self._watch.execute("PRAGMA data_version").fetchone()
        return int(row[0])

    def access_generation(self) -> int:
        row = self._watch.execute("SELECT generation FROM access_state WHERE id = 1").fetchone()
        return int(row[0]) if row else 0

    def lock_migrations(self, conn: Connection) -> None:
        # The writer's BEGIN IMMEDIATE (the first statement Alembic runs starts it) holds the
        # database's write lock before the version is read, until the one commit at the end
        # (migrations/env.py runs every step in that transaction): nothing more to take.
        return

    def close(self) -> None:
        self.reader.dispose()
        self.writer.dispose()
        self._watch.close()
