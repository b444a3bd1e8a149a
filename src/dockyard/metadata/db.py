"""The metadata database: transactions, migrations, and the change counter that invalidates
per-worker caches. The back end (SQLite or PostgreSQL) is chosen by the URL; what differs
between them lives in metadata/backends/.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import Connection
from sqlalchemy.exc import DBAPIError

from dockyard.metadata.backends import Backend

__all__ = ["SCHEMA_HEAD", "Database"]

SCHEMA_HEAD = "0017"  # the newest migration's revision; a test keeps the two in step

_MIGRATIONS = Path(__file__).parent / "migrations"


def _open_backend(url: str) -> Backend:
    scheme = url.split(":", 1)[0]
    if scheme.startswith("sqlite"):
        from dockyard.metadata.backends.sqlite import SqliteBackend

        return SqliteBackend(url)
    if scheme.startswith("postgresql"):
        from dockyard.metadata.backends.postgresql import PostgresBackend

        if scheme == "postgresql":  # the driver we ship with, unless the URL names one
            url = "postgresql+psycopg" + url.removeprefix("postgresql")
        return PostgresBackend(url)
    raise ValueError(
        f"unsupported database URL scheme {scheme!r}: use sqlite:///PATH or "
        "postgresql://USER:PASSWORD@HOST:PORT/DATABASE"
    )


class Database:
    """The metadata database. `read()` and `write()` yield a connection inside a transaction."""

    def __init__(self, url: str) -> None:
        self.url = url
        self._backend = _open_backend(url)
        self.reader = self._backend.reader
        self.writer = self._backend.writer

    @contextmanager
    def read(self) -> Iterator[Connection]:
        with self.reader.begin() as conn:
            yield conn

    @contextmanager
    def write(self) -> Iterator[Connection]:
        with self.writer.begin() as conn:
            yield conn

    @property
    def dialect(self) -> str:
        """The back end's name (sqlite, postgresql), for tools that work outside SQL."""
        return self.writer.dialect.name

    def generation(self) -> int:
        """Changes whenever any connection, in any process, commits a write (see
        `Backend.generation`). Call it from the event loop only."""
        return self._backend.generation()

    def access_generation(self) -> int:
        """The access generation (queries/access.py): one primary-key read, cheap enough
        for the event loop, and event-loop only."""
        return self._backend.access_generation()

    def at_head(self) -> bool:
        """Whether the schema is at SCHEMA_HEAD, without loading Alembic (~11 MB a worker)."""
        with self.reader.connect() as conn:
            try:
                version = conn.exec_driver_sql("SELECT version_num FROM alembic_version").scalar()
            except DBAPIError:  # no such table: a database never migrated
                return False
        return version == SCHEMA_HEAD

    def migrate(self) -> None:
        """Bring the schema to the newest Alembic revision. Several processes may call it at
        once (replicas starting together): one migrates, the others wait and find it done."""
        from alembic import command
        from alembic.config import Config

        config = Config()
        config.set_main_option("script_location", str(_MIGRATIONS))
        with self.writer.connect() as conn:
            self._backend.lock_migrations(conn)
            config.attributes["connection"] = conn
            command.upgrade(config, "head")
            conn.commit()

    def close(self) -> None:
        self._backend.close()
