"""Storage usage as people read it, and the namespace quotas as registry admins set them.

A repository's usage is the bytes of the blobs linked in it, each once; `own` is what no
other repository links (roughly what deleting the repository frees, after garbage
collection), `shared` the rest. A namespace's usage counts each blob once across its
repositories; `own` is what no other namespace links. Usage counts blob bytes only:
manifests live in the database and are not counted (each is at most 4 MiB).

Whoever may read a repository sees its usage; whoever may see a namespace (a role on it, or
something readable in it) sees the namespace's usage and quota, and among its largest
repositories those they may read. Setting and clearing a quota is for registry admins,
audited. The push-path checks are quotas.py's.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Connection

from dockyard.auth.errors import Forbidden, InvalidRequest, NotFound
from dockyard.auth.manage import namespaces as namespace_service
from dockyard.auth.manage._checks import record, require_active, require_registry_admin, sees
from dockyard.auth.manage.context import ManageContext
from dockyard.auth.manage.references import TargetKind, TargetRef
from dockyard.auth.permissions import is_registry_admin, readable, role_on
from dockyard.auth.principals import Principal
from dockyard.auth.snapshot import AccessSnapshot
from dockyard.metadata.queries import repositories as repository_queries
from dockyard.metadata.queries import usage as q
from dockyard.metadata.queries.repository_details import (
    RepositoryOrder,
    RepositoryRow,
    repository_page,
)
from dockyard.registry.names import namespace_of
from dockyard.registry.sizes import MAX_BYTES

__all__ = [
    "MAX_TOP",
    "NamespaceSize",
    "NamespaceUsage",
    "Quota",
    "RepositorySize",
    "RepositoryUsage",
    "Usage",
    "UsageSummary",
    "clear_quota",
    "namespace_size",
    "namespace_usage",
    "recount",
    "repository_usage",
    "set_quota",
    "usage_summary",
]

MAX_TOP = 100
_TOP = 10


@dataclass(frozen=True, slots=True)
class Usage:
    total_bytes: int
    own_bytes: int  # linked nowhere else (another repository; for a namespace, another one)
    shared_bytes: int
    blobs: int
    shared_blobs: int

    @classmethod
    def of(cls, split: q.Split) -> Usage:
        own = split.total_bytes - split.shared_bytes
        return cls(split.total_bytes, own, split.shared_bytes, split.blobs, split.shared_blobs)


@dataclass(frozen=True, slots=True)
class Quota:
    bytes: int
    set_by: str | None
    set_at: int | None


@dataclass(frozen=True, slots=True)
class NamespaceSize:
    """A namespace's usage counter (what the quota is checked against) and its quota."""

    name: str
    used_bytes: int
    quota: Quota | None

    @property
    def over_quota(self) -> bool:
        return self.quota is not None and self.used_bytes > self.quota.bytes


@dataclass(frozen=True, slots=True)
class RepositorySize:
    name: str
    usage: Usage


@dataclass(frozen=True, slots=True)
class RepositoryUsage:
    name: str
    usage: Usage
    namespace: NamespaceSize


@dataclass(frozen=True, slots=True)
class NamespaceUsage:
    name: str
    usage: Usage | None  # None: not split (more blobs than the caller's budget)
    size: NamespaceSize
    largest: tuple[RepositorySize, ...]  # the largest the caller may read, largest first


@dataclass(frozen=True, slots=True)
class UsageSummary:
    namespaces: tuple[NamespaceSize, ...]  # those the caller may see, by name
    largest: tuple[RepositorySize, ...]  # readable repositories, largest first


def _size(row: q.NamespaceQuota) -> NamespaceSize:
    quota = None
    if row.quota_bytes is not None:
        quota = Quota(row.quota_bytes, row.quota_set_by, row.quota_set_at)
    return NamespaceSize(row.name, row.stored_bytes, quota)


def _largest(conn: Connection, rows: list[RepositoryRow]) -> tuple[RepositorySize, ...]:
    return tuple(RepositorySize(r.name, Usage.of(q.repository_split(conn, r.id))) for r in rows)


def _namespace_name(name: str) -> str:
    if not name or "/" in name:
        raise InvalidRequest("a namespace name is one path component")
    return name


def _visible_namespace(
    conn: Connection, snapshot: AccessSnapshot, caller: Principal, name: str
) -> q.NamespaceQuota:
    row = q.namespace_quota(conn, _namespace_name(name))
    if row is None or not sees(conn, snapshot, caller, TargetRef(TargetKind.NAMESPACE, name)):
        raise NotFound(f"namespace {name} not found")
    return row


def repository_usage(ctx: ManageContext, caller: Principal, name: str) -> RepositoryUsage:
    snapshot = ctx.snapshot()
    require_active(snapshot, caller)
    repo_id = None
    with ctx.db.read() as conn:
        if role_on(snapshot, caller, name) is not None:
            repo_id = repository_queries.repository_id(conn, name)
        if repo_id is None:
            raise NotFound(f"repository {name} not found")
        split = q.repository_split(conn, repo_id)
        namespace = q.namespace_quota(conn, namespace_of(name))
    if namespace is None:  # pragma: no cover - a repository's namespace row exists
        raise NotFound(f"namespace {namespace_of(name)} not found")
    return RepositoryUsage(name, Usage.of(split), _size(namespace))


def namespace_size(ctx: ManageContext, caller: Principal, name: str) -> NamespaceSize:
    """The namespace's usage counter and quota alone (one row: no split)."""
    snapshot = ctx.snapshot()
    require_active(snapshot, caller)
    with ctx.db.read() as conn:
        return _size(_visible_namespace(conn, snapshot, caller, name))


def namespace_usage(
    ctx: ManageContext,
    caller: Principal,
    name: str,
    top: int = _TOP,
    *,
    split_budget: int | None = None,
) -> NamespaceUsage:
    """The namespace's usage, own and shared, its quota, and its `top` largest readable
    repositories. The split reads each of its blobs (an index probe each, about 3 µs on
    SQLite: 0.6 s at 200,000 blobs); with `split_budget`, a namespace holding more blobs
    than that is not split (`usage` is None), which costs a bounded count."""
    snapshot = ctx.snapshot()
    require_active(snapshot, caller)
    limit = max(0, min(top, MAX_TOP))
    with ctx.db.read() as conn:
        row = _visible_namespace(conn, snapshot, caller, name)
        split = None
        if split_budget is None or q.blob_count(conn, row.id, split_budget + 1) <= split_budget:
            split = Usage.of(q.namespace_split(conn, row.id))
        rows = repository_page(
            conn, readable(snapshot, caller), name, None, limit, RepositoryOrder.SIZE
        ) if limit else []  # fmt: skip
        largest = _largest(conn, rows)
    return NamespaceUsage(name, split, _size(row), largest)


def usage_summary(ctx: ManageContext, caller: Principal, top: int = _TOP) -> UsageSummary:
    """Every namespace the caller may see with its usage and quota, and the `top` largest
    repositories they may read (registry-wide)."""
    visible = frozenset(view.name for view in namespace_service.list_namespaces(ctx, caller))
    snapshot = ctx.snapshot()
    limit = max(0, min(top, MAX_TOP))
    with ctx.db.read() as conn:
        rows = q.list_quotas(conn, visible)
        page = repository_page(
            conn, readable(snapshot, caller), None, None, limit, RepositoryOrder.SIZE
        ) if limit else []  # fmt: skip
        largest = _largest(conn, page)
    return UsageSummary(tuple(_size(row) for row in rows), largest)


def _quota_target(conn: Connection, snapshot: AccessSnapshot, caller: Principal, name: str) -> int:
    """The namespace's id, when the caller may set its quota: registry admins. Others are
    told it does not exist unless they can see it (pitfalls §27)."""
    require_active(snapshot, caller)
    if not is_registry_admin(snapshot, caller):
        _visible_namespace(conn, snapshot, caller, name)
        raise Forbidden("storage quotas are set by registry admins")
    row = q.namespace_quota(conn, _namespace_name(name))
    if row is None:
        raise NotFound(f"namespace {name} not found")
    return row.id


def set_quota(
    ctx: ManageContext, caller: Principal, address: str | None, name: str, quota_bytes: int
) -> NamespaceSize:
    """Set (or change) the namespace's quota. It may be below what the namespace uses now:
    then no new blob and no new manifest is taken until deletes and garbage collection
    bring usage under it."""
    if not 0 <= quota_bytes <= MAX_BYTES:
        raise InvalidRequest("a quota is a number of bytes, 0 or more")
    snapshot = ctx.snapshot()
    with ctx.db.write() as conn:
        namespace_id = _quota_target(conn, snapshot, caller, name)
        before = q.namespace_quota(conn, name)
        q.set_quota(conn, namespace_id, quota_bytes, caller.name, ctx.now())
        was = before.quota_bytes if before is not None else None
        record(
            conn, ctx, caller, address, "namespace.quota.set", f"namespace:{name}",
            {"quota_bytes": quota_bytes, "was": was},
        )  # fmt: skip
        after = q.namespace_quota(conn, name)
    if after is None:  # pragma: no cover - written just above, in this transaction
        raise NotFound(f"namespace {name} not found")
    return _size(after)


def clear_quota(ctx: ManageContext, caller: Principal, address: str | None, name: str) -> None:
    """Remove the namespace's quota (NotFound when it has none)."""
    snapshot = ctx.snapshot()
    with ctx.db.write() as conn:
        namespace_id = _quota_target(conn, snapshot, caller, name)
        before = q.namespace_quota(conn, name)
        if before is None or before.quota_bytes is None:
            raise NotFound(f"namespace {name} has no storage quota")
        q.set_quota(conn, namespace_id, None, None, ctx.now())
        record(
            conn, ctx, caller, address, "namespace.quota.clear", f"namespace:{name}",
            {"was": before.quota_bytes},
        )  # fmt: skip


def recount(ctx: ManageContext, caller: Principal, address: str | None) -> None:
    """Rebuild every namespace's usage counter from the repositories' links, for registry
    admins: a repair after content was written into the database by hand."""
    snapshot = ctx.snapshot()
    require_active(snapshot, caller)
    require_registry_admin(snapshot, caller)
    with ctx.db.write() as conn:
        q.recount(conn)
        record(conn, ctx, caller, address, "usage.recount", None)
