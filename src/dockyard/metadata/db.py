"""Engines, transactions and the change counter that invalidates per-worker caches.

SQLite rules we hold to (pitfalls §16, §18): foreign keys on per connection; writers start
with BEGIN IMMEDIATE so they queue on the lock instead of failing with SQLITE_BUSY when a
deferred transaction upgrades; `synchronous=FULL` so an acknowledged push survives power
loss (blob bytes are fsynced before their row commits, so the row is the commit point).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.exc import OperationalError
from sqlalchemy.pool import QueuePool

__all__ = ["SCHEMA_HEAD", "Database"]

SCHEMA_HEAD = "0010"  # the newest migration's revision; a test keeps the two in step

_MIGRATIONS = Path(__file__).parent / "migrations"


def _sqlite_engine(url: str, *, writer: bool) -> Engine:
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


class Database:
    """The metadata database. `read()` and `write()` yield a connection inside a transaction."""

    def __init__(self, url: str) -> None:
        self.url = url
        if not url.startswith("sqlite"):
            raise ValueError(
                f"unsupported database URL {url.split(':', 1)[0]!r}: this version runs on SQLite"
            )
        path = url.removeprefix("sqlite:///")
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        self._path = path
        with sqlite3.connect(path) as conn:
            conn.execute("PRAGMA journal_mode=WAL")  # persistent: set once per file
        self.reader = _sqlite_engine(url, writer=False)
        self.writer = _sqlite_engine(url, writer=True)
        # Only ever used from the event loop's thread (see generation()).
        self._watch = sqlite3.connect(path, check_same_thread=False)

    @contextmanager
    def read(self) -> Iterator[Connection]:
        with self.reader.begin() as conn:
            yield conn

    @contextmanager
    def write(self) -> Iterator[Connection]:
        with self.writer.begin() as conn:
            yield conn

    def generation(self) -> int:
        """Changes whenever any connection, in any process, commits a write.

        `PRAGMA data_version` only moves for commits made by *other* connections, so the
        watcher connection (which never writes) sees every commit, ours included. It reads
        the WAL index in shared memory: microseconds, safe to call on the event loop. Call it
        from the event loop only (the watcher connection is not shared across threads).
        """
        row = self._watch.execute("PRAGMA data_version").fetchone()
        return int(row[0])

    def access_generation(self) -> int:
        """The access generation (queries/access.py), read on the watcher connection: a
        one-row primary-key read, cheap enough for the event loop, and event-loop only."""
        row = self._watch.execute("SELECT generation FROM access_state WHERE id = 1").fetchone()
        return int(row[0]) if row else 0

    def at_head(self) -> bool:
        """Whether the schema is at SCHEMA_HEAD, without loading Alembic (~11 MB a worker)."""
        with self.reader.connect() as conn:
            try:
                version = conn.exec_driver_sql("SELECT version_num FROM alembic_version").scalar()
            except OperationalError:
                return False
        return version == SCHEMA_HEAD

    def migrate(self) -> None:
        """Bring the schema to the newest Alembic revision."""
        from alembic import command
        from alembic.config import Config

        config = Config()
        config.set_main_option("script_location", str(_MIGRATIONS))
        with self.writer.connect() as conn:
            config.attributes["connection"] = conn
            command.upgrade(config, "head")
            conn.commit()

    def close(self) -> None:
        self.reader.dispose()
        self.writer.dispose()
        self._watch.close()
