"""The overview's cards (issue 4, screen 2): images by namespace with their access policy,
recently pushed repositories with their newest tags, storage used and reclaimable, and the
commands to pull from (and, for writers, push to) a chosen repository."""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass

from dockyard.auth.manage.context import ManageContext
from dockyard.auth.permissions import is_registry_admin, readable, role_on
from dockyard.auth.principals import Principal
from dockyard.auth.roles import Role
from dockyard.metadata.queries import overview as queries
from dockyard.metadata.queries.overview import NamespaceSummary, StorageTotals
from dockyard.metadata.queries.repositories import repository_id

__all__ = [
    "Overview",
    "RecentPush",
    "Storage",
    "StorageCache",
    "overview",
    "repository_role",
]

_NAMESPACES_SHOWN = 30
_RECENT_SHOWN = 8
_TAGS_PER_RECENT = 3
_STORAGE_CACHE_SECONDS = 60.0
_log = logging.getLogger("dockyard")


@dataclass(frozen=True, slots=True)
class RecentPush:
    name: str
    pushed_at: int
    tags: tuple[tuple[str, int], ...]  # newest first: (tag, updated_at)


@dataclass(frozen=True, slots=True)
class Storage:
    totals: StorageTotals
    free_bytes: int | None  # on the blob store's file system
    measured_at: float


@dataclass(frozen=True, slots=True)
class Overview:
    namespaces: tuple[NamespaceSummary, ...]
    recent: tuple[RecentPush, ...]
    show_storage: bool  # registry admins only
    storage: Storage | None  # None while the first measurement runs


class StorageCache:
    """Storage totals per worker, refreshed in the background when older than
    `_STORAGE_CACHE_SECONDS`: the totals scan the blob table (about 0.7 s with 200,000
    blobs), which no page should wait for. Until the first measurement ends there is none."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._value: Storage | None = None
        self._refreshing = False

    def get(self, ctx: ManageContext) -> Storage | None:
        with self._lock:
            value = self._value
            stale = value is None or time.monotonic() - value.measured_at > _STORAGE_CACHE_SECONDS
            if stale and not self._refreshing:
                self._refreshing = True
                threading.Thread(target=self._refresh, args=(ctx,), daemon=True).start()
            return value

    def _refresh(self, ctx: ManageContext) -> None:
        try:
            with ctx.db.read() as conn:
                totals = queries.storage_totals(conn)
            free = ctx.store.free_bytes() if ctx.store is not None else None
            value = Storage(totals, free, time.monotonic())
            with self._lock:
                self._value = value
        except Exception:  # the next page view tries again; the status page says what is down
            _log.exception("measuring storage failed")
        finally:
            with self._lock:
                self._refreshing = False


def overview(ctx: ManageContext, caller: Principal, storage: StorageCache) -> Overview:
    snapshot = ctx.snapshot()
    where = readable(snapshot, caller)
    with ctx.db.read() as conn:
        namespaces = queries.namespace_summaries(conn, where, _NAMESPACES_SHOWN)
        recent = queries.recent_repositories(conn, where, _RECENT_SHOWN)
        tags = queries.newest_tags(conn, [repo.id for repo in recent], _TAGS_PER_RECENT)
    pushes = tuple(
        RecentPush(repo.name, repo.pushed_at, tuple(tags.get(repo.id, ()))) for repo in recent
    )
    admin = is_registry_admin(snapshot, caller)
    return Overview(tuple(namespaces), pushes, admin, storage.get(ctx) if admin else None)


def repository_role(ctx: ManageContext, caller: Principal, name: str) -> Role | None:
    """The caller's role on a repository: on an existing one if they may read it, on a new
    one if they may push it into being. None otherwise: missing and unreadable look the
    same to a reader."""
    role = role_on(ctx.snapshot(), caller, name)
    if role is None:
        return None
    with ctx.db.read() as conn:
        exists = repository_id(conn, name) is not None
    return role if exists or role in (Role.WRITE, Role.ADMIN) else None
