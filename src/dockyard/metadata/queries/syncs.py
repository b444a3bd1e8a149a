"""Queries on repository syncs (registry/upstream/imports.py).

The claim (docs/design.md, "Import and sync"): a run starts only by a conditional UPDATE
that sets `last_status = 'running'` and `next_run_at` to the claim's expiry, and only where
the row is not already claimed (`last_status` is not 'running', or its claim expired:
`next_run_at <= now`). On PostgreSQL a second replica's UPDATE of the same row waits for the
first's commit and then re-checks the WHERE clause on the new row, so it matches nothing;
on SQLite writers are serialised. Exactly one claimer gets rowcount 1. The claim's expiry
is also its token: a run renews it and records its outcome only while `next_run_at` still
holds the value it set, so a run that outlived its claim cannot overwrite the next one.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, and_, delete, func, or_, select, update

from dockyard.metadata.models import (
    Manifest,
    Repository,
    RepositorySync,
    Tag,
    UpstreamRegistry,
    table_of,
)
from dockyard.metadata.queries._upsert import insert_ignore

__all__ = [
    "RUNNING",
    "SyncRow",
    "add_sync",
    "claim",
    "due_syncs",
    "finish",
    "list_syncs",
    "local_manifests",
    "local_tags",
    "remove_sync",
    "renew",
    "sync_by_repository",
    "syncs_using",
]

RUNNING = "running"
_sync = table_of(RepositorySync)
_upstream = table_of(UpstreamRegistry)
_repo = table_of(Repository)
_tag = table_of(Tag)
_manifest = table_of(Manifest)


@dataclass(frozen=True, slots=True)
class SyncRow:
    id: int
    repository: str
    upstream_id: int
    upstream: str  # the upstream registry's name
    upstream_repository: str
    tags: tuple[str, ...]
    interval_minutes: int
    next_run_at: int | None
    last_run_at: int | None
    last_status: str | None
    last_error: str | None
    last_imported: int | None
    created_at: int
    created_by: str | None


_COLUMNS = (
    _sync.c.id, _sync.c.repository, _sync.c.upstream_id, _upstream.c.name,
    _sync.c.upstream_repository, _sync.c.tags, _sync.c.interval_minutes, _sync.c.next_run_at,
    _sync.c.last_run_at, _sync.c.last_status, _sync.c.last_error, _sync.c.last_imported,
    _sync.c.created_at, _sync.c.created_by,
)  # fmt: skip
_JOINED = _sync.join(_upstream, _upstream.c.id == _sync.c.upstream_id)


def _row(row: Sequence[Any]) -> SyncRow:
    tags = tuple(t for t in (row[5] or "").split(",") if t)
    return SyncRow(row[0], row[1], row[2], row[3], row[4], tags, *row[6:])


def add_sync(
    conn: Connection,
    *,
    repository: str,
    upstream_id: int,
    upstream_repository: str,
    tags: Sequence[str],
    interval_minutes: int,
    at: int,
    by: str | None,
) -> bool:
    """False when the repository follows an upstream already. A scheduled sync is due at once."""
    values = {
        "repository": repository, "upstream_id": upstream_id,
        "upstream_repository": upstream_repository, "tags": ",".join(tags),
        "interval_minutes": interval_minutes,
        "next_run_at": at if interval_minutes > 0 else None, "created_at": at, "created_by": by,
    }  # fmt: skip
    return insert_ignore(conn, _sync, values, ["repository"]) == 1


def list_syncs(conn: Connection, repositories: Sequence[str] | None = None) -> list[SyncRow]:
    stmt = select(*_COLUMNS).select_from(_JOINED).order_by(_sync.c.repository)
    if repositories is not None:
        stmt = stmt.where(_sync.c.repository.in_(list(repositories)))
    return [_row(r) for r in conn.execute(stmt)]


def sync_by_repository(conn: Connection, repository: str) -> SyncRow | None:
    stmt = select(*_COLUMNS).select_from(_JOINED).where(_sync.c.repository == repository)
    row = conn.execute(stmt).first()
    return _row(row) if row is not None else None


def syncs_using(conn: Connection, upstream_id: int) -> list[str]:
    stmt = select(_sync.c.repository).where(_sync.c.upstream_id == upstream_id)
    return list(conn.execute(stmt.order_by(_sync.c.repository)).scalars())


def remove_sync(conn: Connection, repository: str) -> bool:
    return conn.execute(delete(_sync).where(_sync.c.repository == repository)).rowcount == 1


def due_syncs(conn: Connection, now: int, limit: int = 50) -> list[str]:
    """Scheduled syncs whose time came, and claims that expired (a run that died)."""
    stmt = (
        select(_sync.c.repository)
        .where(_sync.c.next_run_at <= now, _sync.c.interval_minutes > 0)
        .order_by(_sync.c.next_run_at)
        .limit(limit)
    )
    return list(conn.execute(stmt).scalars())


def claim(conn: Connection, repository: str, now: int, until: int, *, due_only: bool) -> bool:
    """Mark the sync running until `until`, if nobody runs it (see the module docstring).
    `due_only`: only when it is scheduled and due (the scheduler), else whenever free."""
    free = or_(
        func.coalesce(_sync.c.last_status, "") != RUNNING,
        _sync.c.next_run_at <= now,
    )
    condition = and_(_sync.c.repository == repository, free)
    if due_only:
        condition = and_(condition, _sync.c.interval_minutes > 0, _sync.c.next_run_at <= now)
    stmt = update(_sync).where(condition).values(last_status=RUNNING, next_run_at=until)
    return conn.execute(stmt).rowcount == 1


def renew(conn: Connection, repository: str, held: int, until: int) -> bool:
    """Extend a claim still held (its expiry is still `held`); False when it was lost."""
    stmt = (
        update(_sync)
        .where(
            _sync.c.repository == repository,
            _sync.c.last_status == RUNNING,
            _sync.c.next_run_at == held,
        )
        .values(next_run_at=until)
    )
    return conn.execute(stmt).rowcount == 1


def finish(
    conn: Connection,
    repository: str,
    held: int,
    *,
    status: str,
    error: str | None,
    imported: int,
    at: int,
) -> bool:
    """Record a run's outcome and schedule the next one, if the claim is still held."""
    interval = _sync.c.interval_minutes
    next_run = func.nullif(at + interval * 60, at)  # NULL when on demand only (interval 0)
    stmt = (
        update(_sync)
        .where(
            _sync.c.repository == repository,
            _sync.c.last_status == RUNNING,
            _sync.c.next_run_at == held,
        )
        .values(
            last_status=status,
            last_error=error,
            last_imported=imported,
            last_run_at=at,
            next_run_at=next_run,
        )
    )
    return conn.execute(stmt).rowcount == 1


def local_tags(conn: Connection, repository: str) -> dict[str, str]:
    """The local repository's tags and the digests they point at (empty: no repository)."""
    stmt = (
        select(_tag.c.name, _manifest.c.digest)
        .select_from(
            _tag.join(_repo, _repo.c.id == _tag.c.repository_id).join(
                _manifest, _manifest.c.id == _tag.c.manifest_id
            )
        )
        .where(_repo.c.name == repository)
    )
    return {str(name): str(digest) for name, digest in conn.execute(stmt)}


def local_manifests(conn: Connection, repository: str, digests: Sequence[str]) -> set[str]:
    """Which of `digests` the local repository holds as manifests."""
    if not digests:
        return set()
    stmt = (
        select(_manifest.c.digest)
        .join(_repo, _repo.c.id == _manifest.c.repository_id)
        .where(_repo.c.name == repository, _manifest.c.digest.in_(list(digests)))
    )
    return {str(d) for d in conn.execute(stmt).scalars()}
