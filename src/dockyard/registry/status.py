"""Is each part Dockyard depends on working? The database, the blob store and every
configured directory server, each checked now, with the reason when it is not."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from dockyard.auth.ldap import Directory, DirectoryUnavailable
from dockyard.auth.manage.context import ManageContext
from dockyard.metadata.db import SCHEMA_HEAD

__all__ = ["Check", "StatusReport", "check"]


@dataclass(frozen=True, slots=True)
class Check:
    name: str
    ok: bool
    detail: str
    milliseconds: float


@dataclass(frozen=True, slots=True)
class StatusReport:
    database: Check
    storage: Check
    directories: tuple[Check, ...]
    free_bytes: int | None

    @property
    def healthy(self) -> bool:
        return all(c.ok for c in (self.database, self.storage, *self.directories))


def _timed(name: str, probe: Callable[[], str]) -> Check:
    started = time.perf_counter()
    try:
        detail, ok = probe(), True
    except DirectoryUnavailable as exc:
        detail, ok = str(exc), False
    except Exception as exc:  # reported, not raised: the page shows what failed and why
        detail, ok = f"{type(exc).__name__}: {exc}", False
    return Check(name, ok, str(detail), (time.perf_counter() - started) * 1000)


def check(ctx: ManageContext) -> StatusReport:
    def database() -> str:
        with ctx.db.read() as conn:
            conn.exec_driver_sql("SELECT 1")
        if not ctx.db.at_head():
            raise RuntimeError(f"the schema is not at revision {SCHEMA_HEAD}")
        return f"schema revision {SCHEMA_HEAD}"

    free: list[int | None] = [None]

    def storage() -> str:
        if ctx.store is None:
            raise RuntimeError("no blob store configured")
        free[0] = ctx.store.free_bytes()  # fails when the blob store's root is gone
        return "reachable"

    def directory_probe(directory: Directory) -> Callable[[], str]:
        def probe() -> str:
            directory.check()
            return "reachable"

        return probe

    directories = tuple(
        _timed(f"directory {directory.name}", directory_probe(directory))
        for directory in ctx.directories
    )
    database_check = _timed("database", database)
    storage_check = _timed("storage", storage)
    return StatusReport(database_check, storage_check, directories, free[0])
