"""`dockyard doctor`: is this registry healthy? Each check gives ok, warn or FAIL and one
line of reason; any FAIL makes the verdict unhealthy. Nothing is changed except one probe
upload, created and deleted through the BlobStore API to prove the store takes writes.

Checks that read tables run only when the schema is at this version's head (an older or
newer schema has other columns); they are reported as skipped otherwise.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path

from sqlalchemy import Connection
from sqlalchemy.engine import make_url

from dockyard.config import Settings
from dockyard.metadata.db import SCHEMA_HEAD, Database
from dockyard.metadata.queries import uploads
from dockyard.metadata.queries.access import read_maintenance
from dockyard.metadata.snapshots import database_facts, revision_number, sqlite_path
from dockyard.registry.gc.report import Figures, Item
from dockyard.registry.gc.verify import verify
from dockyard.storage.base import BlobStore

__all__ = ["Check", "Status", "diagnose"]

_LOW_SPACE_BYTES = 1 << 30
_NAMED = 10  # digests named in one line
_PROBE = b"dockyard doctor probe\n"


class Status(StrEnum):
    OK = "ok"
    WARN = "warn"
    FAIL = "FAIL"


@dataclass(frozen=True, slots=True)
class Check:
    name: str
    status: Status
    detail: str
    items: tuple[str, ...] = ()  # every digest the check found at fault, beyond the detail


@dataclass
class _Collected:
    """A verification's findings, kept in memory (a real GC run records them in rows)."""

    found: list[Item] = field(default_factory=list)

    def beat(self, phase: str, figures: Figures, fraction: float | None = None) -> None:
        return None

    def items(self, conn: Connection | None, items: list[Item]) -> None:
        self.found.extend(items)


def diagnose(
    settings: Settings,
    open_store: Callable[[], BlobStore],
    *,
    hash_bytes: bool = False,
    clock: Callable[[], float] = time.time,
) -> list[Check]:
    """Every check after the settings (which the caller loaded: they are the first)."""
    checks: list[Check] = []
    db, at_head = _database(settings, checks)
    store = _store(open_store, checks)
    try:
        if db is not None and at_head and store is not None:
            checks.append(_consistency(db, store, hash_bytes))
        else:
            checks.append(_skipped("store consistency", db, at_head, store))
        if db is not None and at_head:
            checks.append(_uploads(db, settings, int(clock())))
            checks.append(_read_only(db, settings))
        else:
            checks.append(_skipped("upload sessions", db, at_head, store))
            checks.append(_skipped("read-only mode", db, at_head, store))
        if store is not None:
            checks.append(_free_space(store))
    finally:
        if db is not None:
            db.close()
    return checks


def _skipped(name: str, db: Database | None, at_head: bool, store: BlobStore | None) -> Check:
    if db is None:
        why = "the database is unreachable"
    elif not at_head:
        why = "the schema is not at this version's revision"
    else:
        why = "the store is unusable"
    return Check(name, Status.WARN, f"skipped: {why}")


def _where(url: str) -> str:
    if url.startswith("sqlite"):
        return str(sqlite_path(url))
    parsed = make_url(url)
    return f"{parsed.host or 'localhost'}:{parsed.port or 5432}/{parsed.database}"


def _database(settings: Settings, checks: list[Check]) -> tuple[Database | None, bool]:
    url = settings.sqlalchemy_url
    try:
        where = _where(url)
    except Exception as err:  # an unparsable URL
        checks.append(Check("database", Status.FAIL, f"bad database_url: {_reason(err)}"))
        return None, False
    if url.startswith("sqlite") and not sqlite_path(url).is_file():
        # Opening would create it: say so instead.
        checks.append(
            Check(
                "database",
                Status.FAIL,
                f"no SQLite database at {where} (`dockyard serve` or "
                "`dockyard migrate` creates it)",
            )
        )
        return None, False
    db: Database | None = None
    try:
        db = Database(url)
        facts = database_facts(db)
    except Exception as err:
        if db is not None:
            db.close()
        checks.append(Check("database", Status.FAIL, f"cannot reach {where}: {_reason(err)}"))
        return None, False
    checks.append(
        Check("database", Status.OK, f"{facts.backend} {facts.server_version} at {where}")
    )
    checks.append(_schema(facts.revision))
    return db, facts.revision == SCHEMA_HEAD


def _schema(revision: str | None) -> Check:
    if revision is None:
        return Check(
            "schema",
            Status.FAIL,
            "no schema yet: `dockyard migrate` (or `dockyard serve`) creates it",
        )
    if revision == SCHEMA_HEAD:
        return Check("schema", Status.OK, f"at revision {SCHEMA_HEAD}, this version's newest")
    try:
        number = revision_number(revision)
    except Exception:
        number = None
    head = revision_number(SCHEMA_HEAD)
    if number is None or number > head:
        return Check(
            "schema",
            Status.FAIL,
            f"at revision {revision}, newer than this version knows ({SCHEMA_HEAD}): "
            "run a newer Dockyard",
        )
    pending = ", ".join(f"{n:04d}" for n in range(number + 1, head + 1))
    return Check(
        "schema",
        Status.WARN,
        f"at revision {revision}; pending migrations {pending} (`dockyard serve` "
        "applies them when it starts, or run `dockyard migrate`)",
    )


def _store(open_store: Callable[[], BlobStore], checks: list[Check]) -> BlobStore | None:
    try:
        store = open_store()
    except Exception as err:
        checks.append(Check("store writable", Status.FAIL, _reason(err)))
        return None
    probe = f"doctor-probe-{secrets.token_hex(6)}"
    try:
        store.create_upload(probe)
        writer = store.open_upload(probe)
        try:
            writer.seek(0)
            writer.write(_PROBE)
            size = writer.flush()
        finally:
            writer.close()
        freed = store.delete_upload(probe)
        if size != len(_PROBE) or freed != len(_PROBE):
            raise OSError(f"the probe upload read back as {size} bytes, removed {freed}")
    except Exception as err:
        checks.append(
            Check("store writable", Status.FAIL, f"a probe upload failed: {_reason(err)}")
        )
        return None
    root = getattr(store, "root", None)
    where = f" at {root}" if isinstance(root, Path) else ""
    checks.append(
        Check("store writable", Status.OK, f"a probe upload was written and removed{where}")
    )
    return store


def _consistency(db: Database, store: BlobStore, hash_bytes: bool) -> Check:
    sink = _Collected()
    try:
        figures = verify(db, store, sink, hash_bytes=hash_bytes)
    except Exception as err:
        return Check("store consistency", Status.FAIL, f"verification failed: {_reason(err)}")
    missing = [i.digest or "" for i in sink.found if i.kind == "missing"]
    corrupt = [i.digest or "" for i in sink.found if i.kind == "corrupt"]
    orphans = [i for i in sink.found if i.kind == "orphan"]
    how = "sizes and digests" if hash_bytes else "sizes"
    if missing or corrupt:
        parts = []
        if missing:
            parts.append(
                f"{len(missing)} blobs in the database are missing from the store: "
                + _names(missing)
            )
        if corrupt:
            parts.append(f"{len(corrupt)} stored blobs are damaged: " + _names(corrupt))
        listed = (*(f"missing {d}" for d in missing), *(f"damaged {d}" for d in corrupt))
        return Check("store consistency", Status.FAIL, "; ".join(parts), listed)
    if orphans:
        digests = [i.digest or "" for i in orphans]
        return Check(
            "store consistency",
            Status.WARN,
            f"{figures.blobs_checked} blobs match ({how}); {len(orphans)} files in the "
            f"store have no row (`dockyard gc` removes them): " + _names(digests),
            tuple(f"orphan {d}" for d in digests),
        )
    return Check(
        "store consistency", Status.OK, f"{figures.blobs_checked} blobs match the database ({how})"
    )


def _names(digests: list[str]) -> str:
    shown = ", ".join(digests[:_NAMED])
    return shown + (f" and {len(digests) - _NAMED} more" if len(digests) > _NAMED else "")


def _uploads(db: Database, settings: Settings, now: int) -> Check:
    expiry = settings.upload_expiry_hours * 3600
    with db.read() as conn:
        idle = uploads.count_idle(conn, now - expiry)
    if not idle:
        return Check(
            "upload sessions",
            Status.OK,
            f"none idle for more than {settings.upload_expiry_hours} h",
        )
    when = (
        "the next garbage collection removes them"
        if settings.gc_interval_minutes
        else "run `dockyard gc` to remove them (gc_interval_minutes is 0)"
    )
    return Check(
        "upload sessions",
        Status.WARN,
        f"{idle} idle for more than {settings.upload_expiry_hours} h: {when}",
    )


def _read_only(db: Database, settings: Settings) -> Check:
    with db.read() as conn:
        mode = read_maintenance(conn)
    if settings.read_only:
        return Check(
            "read-only mode",
            Status.WARN,
            "on: the read_only setting holds it (pushes and deletes are refused)",
        )
    if mode.read_only:
        said = f": {mode.message}" if mode.message else ""
        return Check(
            "read-only mode",
            Status.WARN,
            f"on since {mode.by or 'someone'} switched it (`dockyard maintenance off` "
            f"ends it){said}",
        )
    return Check("read-only mode", Status.OK, "off: pushes and deletes are accepted")


def _free_space(store: BlobStore) -> Check:
    try:
        free = store.free_bytes()
    except Exception as err:
        return Check("free space", Status.WARN, f"cannot tell: {_reason(err)}")
    if free is None:
        return Check("free space", Status.OK, "the store does not report free space")
    text = f"{free / (1 << 30):.1f} GiB free for blobs"
    if free < _LOW_SPACE_BYTES:
        return Check("free space", Status.WARN, f"only {text}: pushes will fail when it runs out")
    return Check("free space", Status.OK, text)


def _reason(err: BaseException) -> str:
    """One line: the driver's own message, without SQL or parameters."""
    inner = getattr(err, "orig", None)
    cause = inner if isinstance(inner, BaseException) else err
    lines = [line.strip() for line in str(cause).splitlines() if line.strip()]
    return lines[0] if lines else type(cause).__name__
