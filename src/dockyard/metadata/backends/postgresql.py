"""PostgreSQL: for several workers and replicas sharing one database.

Writers run at READ COMMITTED: every step that SQLite's single writer makes safe names the
row lock, advisory lock or constraint that makes it safe here (docs/design.md), so no
transaction needs the whole database. Readers run REPEATABLE READ, READ ONLY: one
snapshot for the whole transaction, as a SQLite read transaction has, and never a
serialisation failure (read-only transactions cannot cause one).

The change generation is the server's snapshot (`pg_current_snapshot()`: the oldest
running transaction, the next transaction id and the ones in progress). Any commit of a
write, by any connection of any replica, changes it; while it stays the same, a new
snapshot sees exactly the same rows. Reading it is one round trip on a watcher connection
that holds no transaction. LISTEN/NOTIFY was the other candidate and is not used: a
notification arrives some time after the commit, so a replica could serve a tag from its
cache after another replica had already acknowledged moving it.
"""

from __future__ import annotations

import threading
from typing import Any

import psycopg
from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import make_url

__all__ = ["PostgresBackend"]

# Connections per worker: readers and writers each keep _POOL open and open up to
# _OVERFLOW more under load (the thread pool runs at most 40 requests at once).
_POOL = 4
_OVERFLOW = 12
_WATCH_TIMEOUT_MS = 5000  # the watcher runs on the event loop: never wait on it for long


def _engine(url: str, *, writer: bool) -> Engine:
    engine = create_engine(
        url,
        pool_size=_POOL,
        max_overflow=_OVERFLOW,
        pool_timeout=60,
        pool_pre_ping=True,  # a replica outlives database restarts and fail-overs
        hide_parameters=True,
    )
    if not writer:

        @event.listens_for(engine, "begin")
        def _on_begin(conn: Connection) -> None:
            conn.exec_driver_sql("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")

    return engine


def libpq_conninfo(url: str) -> str:
    """The SQLAlchemy URL as a libpq connection string (for psycopg and pg_dump)."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


class PostgresBackend:
    def __init__(self, url: str) -> None:
        self.reader = _engine(url, writer=False)
        self.writer = _engine(url, writer=True)
        self._conninfo = libpq_conninfo(url)
        self._lock = threading.Lock()
        self._watch: psycopg.Connection[Any] | None = None
        self._snapshot: str | None = None
        self._generation = 0

    def _watcher(self) -> psycopg.Connection[Any]:
        if self._watch is None or self._watch.closed:
            self._watch = psycopg.connect(
                self._conninfo,
                autocommit=True,
                connect_timeout=5,
                options=f"-c statement_timeout={_WATCH_TIMEOUT_MS}",
            )
            # A new connection may have missed commits: whatever was cached is dropped.
            self._snapshot = None
        return self._watch

    def _fetch(self, sql: str) -> Any:
        with self._lock:
            try:
                row = self._watcher().execute(sql).fetchone()
            except psycopg.OperationalError:
                if self._watch is not None:
                    self._watch.close()
                row = self._watcher().execute(sql).fetchone()
            return None if row is None else row[0]

    def generation(self) -> int:
        snapshot = str(self._fetch("SELECT pg_current_snapshot()::text"))
        with self._lock:
            if snapshot != self._snapshot:
                self._snapshot = snapshot
                self._generation += 1
            return self._generation

    def access_generation(self) -> int:
        value = self._fetch("SELECT generation FROM access_state WHERE id = 1")
        return 0 if value is None else int(value)

    def lock_migrations(self, conn: Connection) -> None:
        # A transaction-level advisory lock, taken first: Alembic then reads the version
        # and runs every migration in this same transaction (DDL is transactional here).
        conn.exec_driver_sql(
            "SELECT pg_advisory_xact_lock(hashtextextended('dockyard:migrate', 0))"
        )

    def close(self) -> None:
        self.reader.dispose()
        self.writer.dispose()
        with self._lock:
            if self._watch is not None:
                self._watch.close()
