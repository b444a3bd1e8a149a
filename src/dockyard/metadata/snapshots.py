"""Consistent copies of the metadata database, and putting one back (`dockyard backup`,
`dockyard restore`). What the copy holds is read from the copy itself, never from the live
database, so it names exactly what a restore will bring back.

- SQLite: the online backup API (`sqlite3.Connection.backup`) copies the pages of one read
  transaction, opened before the first step and held to the last, so the copy is one WAL
  snapshot however many writers commit meanwhile (they are never blocked: WAL readers do not
  block writers). The copy is then switched to a rollback journal, so it is one file.
- PostgreSQL: a REPEATABLE READ transaction exports its snapshot (`pg_export_snapshot()`),
  `pg_dump --snapshot` dumps exactly that snapshot, and the blob list and schema revision are
  read in the same transaction: dump and list agree by construction. The password reaches
  pg_dump and pg_restore through `PGPASSWORD` in their environment, never their arguments.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Connection, create_engine, inspect, text
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

from dockyard.metadata.db import Database
from dockyard.metadata.queries import gc_review

__all__ = [
    "DatabaseFacts",
    "SnapshotError",
    "SnapshotReader",
    "StepProgress",
    "database_facts",
    "dump_file_name",
    "dump_snapshot",
    "holds_content",
    "pg_tool",
    "restore_snapshot",
    "revision_number",
    "sqlite_path",
]

_PAGE = 1000
_SQLITE_STEP_PAGES = 4096  # pages per backup step (16 MiB at 4 KiB pages)
_CONTENT_TABLES = ("repository", "blob", "user", "robot", "upload", "namespace")

StepProgress = Callable[[int, int], None]
"""(done, total) of a long step, in the step's own unit (pages)."""


class SnapshotError(Exception):
    """A dump or restore failed; the message says why, in one line."""


def revision_number(revision: str) -> int:
    """A migration revision ("0011") as a number, to compare with SCHEMA_HEAD."""
    try:
        return int(revision)
    except ValueError:
        raise SnapshotError(f"unknown schema revision {revision!r}") from None


def dump_file_name(dialect: str) -> str:
    return "metadata.sqlite3" if dialect == "sqlite" else "metadata.pgdump"


class SnapshotReader:
    """What a snapshot holds, read inside it."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    def revision(self) -> str | None:
        if not inspect(self._conn).has_table("alembic_version"):
            return None
        value = self._conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
        return None if value is None else str(value)

    def blobs(self) -> Iterator[tuple[str, int]]:
        """Every blob row (digest, size) in digest order; memory stays flat."""
        after = ""
        while page := gc_review.blob_rows(self._conn, after, _PAGE):
            yield from page
            after = page[-1][0]


@contextmanager
def dump_snapshot(
    db: Database, target: Path, progress: StepProgress | None = None
) -> Iterator[SnapshotReader]:
    """Write a consistent copy of `db` to `target`; yields a reader of that very snapshot."""
    if db.dialect == "sqlite":
        _sqlite_dump(sqlite_path(db.url), target, progress)
        engine = create_engine(f"sqlite:///{target}", poolclass=NullPool)
        try:
            with engine.connect() as conn:
                yield SnapshotReader(conn)
        finally:
            engine.dispose()
    elif db.dialect == "postgresql":
        with db.read() as conn:  # REPEATABLE READ READ ONLY: one snapshot throughout
            snapshot = str(conn.execute(text("SELECT pg_export_snapshot()")).scalar_one())
            _run_pg_tool(
                "pg_dump",
                ["--format=custom", f"--snapshot={snapshot}", f"--file={target}"],
                db.url,
            )
            _fsync(target)
            yield SnapshotReader(conn)
    else:
        raise SnapshotError(f"cannot back up a {db.dialect} database")


def sqlite_path(url: str) -> Path:
    database = make_url(url).database
    if not database:
        raise SnapshotError("the SQLite URL names no file")
    return Path(database)


def _sqlite_dump(source: Path, target: Path, progress: StepProgress | None) -> None:
    if not source.is_file():
        raise SnapshotError(f"no SQLite database at {source}")
    src = sqlite3.connect(source, timeout=30, isolation_level=None)
    dst = sqlite3.connect(target, isolation_level=None)
    try:
        # One read transaction for the whole copy: every step reads the same WAL snapshot,
        # so commits by the running server neither restart the copy nor tear it.
        src.execute("BEGIN")
        src.execute("SELECT count(*) FROM sqlite_master").fetchone()

        def stepped(_status: int, remaining: int, total: int) -> None:
            if progress is not None:
                progress(total - remaining, total)

        src.backup(dst, pages=_SQLITE_STEP_PAGES, progress=stepped)
        src.execute("ROLLBACK")
        dst.execute("PRAGMA journal_mode=DELETE")  # one self-contained file
        row = dst.execute("PRAGMA quick_check").fetchone()
        if row is None or row[0] != "ok":
            raise SnapshotError(f"the copy fails SQLite's check: {row[0] if row else '?'}")
    except sqlite3.Error as err:
        raise SnapshotError(f"SQLite backup failed: {err}") from None
    finally:
        dst.close()
        src.close()
    _fsync(target)


def holds_content(url: str) -> bool:
    """Whether the database holds anything a restore would overwrite: tables Dockyard did
    not make, or any repository, blob, user, robot, upload or namespace. A database the
    migrations made and nobody used yet holds nothing."""
    if url.startswith("sqlite"):
        path = sqlite_path(url)
        if not path.exists() or path.stat().st_size == 0:
            return False
    if url.startswith("postgresql://"):  # the driver we ship with, as Database picks it
        url = "postgresql+psycopg" + url.removeprefix("postgresql")
    engine = create_engine(url, poolclass=NullPool)
    try:
        with engine.connect() as conn:
            tables = set(inspect(conn).get_table_names())
            if not tables:
                return False
            if "alembic_version" not in tables:
                return True  # something else lives here
            for table in _CONTENT_TABLES:
                if table in tables:
                    quoted = conn.dialect.identifier_preparer.quote(table)
                    found = conn.execute(text(f"SELECT 1 FROM {quoted} LIMIT 1")).first()  # noqa: S608
                    if found is not None:
                        return True
            return False
    finally:
        engine.dispose()


def restore_snapshot(dump: Path, url: str, dialect: str) -> None:
    """Replace the database at `url` with the dump (the caller checked it may)."""
    if dialect == "sqlite":
        _sqlite_restore(dump, sqlite_path(url))
    elif dialect == "postgresql":
        _run_pg_tool(
            "pg_restore",
            ["--clean", "--if-exists", "--no-owner", "--exit-on-error", "--single-transaction",
             str(dump)],
            url,
        )  # fmt: skip
    else:
        raise SnapshotError(f"cannot restore into a {dialect} database")


def _sqlite_restore(dump: Path, target: Path) -> None:
    """Copy to a file beside the target, make it durable, rename it into place. An old
    database there is checkpointed first and its WAL removed: a WAL left beside a new file
    would be replayed onto it."""
    target.parent.mkdir(parents=True, exist_ok=True)
    temporary = target.with_name(target.name + ".restoring")
    temporary.unlink(missing_ok=True)
    try:
        src = sqlite3.connect(f"file:{dump}?mode=ro", uri=True, isolation_level=None)
        dst = sqlite3.connect(temporary, isolation_level=None)
        try:
            src.backup(dst)
            dst.execute("PRAGMA journal_mode=DELETE")
        finally:
            dst.close()
            src.close()
        _fsync(temporary)
        if target.exists():
            old = sqlite3.connect(target, timeout=30, isolation_level=None)
            try:
                old.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            finally:
                old.close()
        for suffix in ("-wal", "-shm", "-journal"):
            target.with_name(target.name + suffix).unlink(missing_ok=True)
        os.replace(temporary, target)
        _fsync_dir(target.parent)
    except sqlite3.Error as err:
        raise SnapshotError(f"SQLite restore failed: {err}") from None
    finally:
        temporary.unlink(missing_ok=True)


def pg_tool(name: str) -> Path:
    """A PostgreSQL client program: on PATH, else the newest in Debian's
    /usr/lib/postgresql/<version>/bin (pg_dump must be at least the server's version)."""
    found = shutil.which(name)
    if found:
        return Path(found)
    candidates = sorted(
        Path("/usr/lib/postgresql").glob(f"*/bin/{name}"),
        key=lambda p: int(p.parent.parent.name) if p.parent.parent.name.isdigit() else 0,
    )
    if not candidates:
        raise SnapshotError(f"{name} is not installed (Debian: apt-get install postgresql-client)")
    return candidates[-1]


def _run_pg_tool(name: str, args: list[str], url: str) -> None:
    parsed = make_url(url)
    password = parsed.password
    # The conninfo without the password: arguments are visible to every local user (ps).
    conninfo = parsed.set(drivername="postgresql", password=None).render_as_string(
        hide_password=False
    )
    env = {k: v for k, v in os.environ.items() if k != "PGPASSWORD"}
    if password is not None:
        env["PGPASSWORD"] = str(password)
    command = [str(pg_tool(name)), "--no-password", f"--dbname={conninfo}", *args]
    try:
        result = subprocess.run(  # noqa: S603 - our own arguments, no shell
            command, env=env, capture_output=True, text=True, check=False
        )
    except OSError as err:
        raise SnapshotError(f"cannot run {name}: {err}") from None
    if result.returncode != 0:
        lines = [line for line in result.stderr.splitlines() if line.strip()]
        reason = "; ".join(lines[-3:]) or f"exit status {result.returncode}"
        raise SnapshotError(f"{name} failed: {reason}")


def _fsync(path: Path) -> None:
    with path.open("rb") as handle:
        os.fsync(handle.fileno())


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@dataclass(frozen=True, slots=True)
class DatabaseFacts:
    """What `doctor` reports about a database it reached."""

    backend: str
    server_version: str
    revision: str | None


def database_facts(db: Database) -> DatabaseFacts:
    """Connects (raises the driver's error when it cannot) and reads the server's version
    and the schema revision."""
    with db.read() as conn:
        if db.dialect == "sqlite":
            version = str(conn.execute(text("SELECT sqlite_version()")).scalar_one())
        else:
            version = str(conn.execute(text("SHOW server_version")).scalar_one())
        revision = SnapshotReader(conn).revision()
    return DatabaseFacts(db.dialect, version, revision)
