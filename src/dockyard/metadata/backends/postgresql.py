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
that holds no transaction (about 0.1 ms on loopback), and the access generation comes in the
same round trip. Within one request (one asyncio task) the pair is read once and reused for
50 ms: anything acknowledged before the request arrived is already in it, and the worker's
own commits drop it. LISTEN/NOTIFY was the other candidate and is not used: a notification
arrives some time after the commit, so a replica could serve a tag from its cache after
another replica had already acknowledged moving it.
"""

from __future__ import annotations

import asyncio
import threading
import time
import weakref
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
_REUSE_SECONDS = 0.05  # how long one request may reuse what it read (long requests re-read)
_READ = (
    "SELECT pg_current_snapshot()::text, "
    "COALESCE((SELECT generation FROM access_state WHERE id = 1), 0)"
)


def _current_task() -> asyncio.Task[Any] | None:
    try:
        return asyncio.current_task()
    except RuntimeError:  # a thread with no event loop: nothing to reuse across calls
        return None


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
        self._access = 0
        # per request (task): when it last read, and what
        self._read_by: weakref.WeakKeyDictionary[asyncio.Task[Any], float] = (
            weakref.WeakKeyDictionary()
        )
        event.listen(self.writer, "commit", self._forget_reads)

    def _forget_reads(self, _conn: Connection) -> None:
        # Our own commit: a request that reads again must see it.
        self._read_by = weakref.WeakKeyDictionary()

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

    def _read(self) -> tuple[int, int]:
        task = _current_task()
        now = time.monotonic()
        if task is not None:
            read_at = self._read_by.get(task)
            if read_at is not None and now - read_at < _REUSE_SECONDS:
                return self._generation, self._access
        with self._lock:
            try:
                row = self._watcher().execute(_READ).fetchone()
            except psycopg.OperationalError:
                if self._watch is not None:
                    self._watch.close()
                row = self._watcher().execute(_READ).fetchone()
            if row is None:  # pragma: no cover - the SELECT has no FROM: always one row
                raise RuntimeError("the change generation query returned no row")
            snapshot, access = str(row[0]), int(row[1])
            if snapshot != self._snapshot:
                self._snapshot = snapshot
                self._generation += 1
            self._access = access
            if task is not None:
                self._read_by[task] = now
            return self._generation, self._access

    def generation(self) -> int:
        return self._read()[0]

    def access_generation(self) -> int:
        return self._read()[1]

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
