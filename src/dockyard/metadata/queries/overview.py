"""The SQL behind the overview: images by namespace, recently pushed repositories with their
newest tags, and storage totals."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import Connection, exists, func, select

from dockyard.metadata.models import Blob, ManifestReference, Namespace, Repository, Tag, table_of
from dockyard.metadata.queries._sums import total
from dockyard.metadata.queries.repositories import RepositoryFilter

__all__ = [
    "NamespaceSummary",
    "RecentRepository",
    "StorageTotals",
    "namespace_summaries",
    "newest_tags",
    "recent_repositories",
    "storage_totals",
]

_repo = table_of(Repository)
_namespace = table_of(Namespace)
_tag = table_of(Tag)
_blob = table_of(Blob)
_ref = table_of(ManifestReference)


@dataclass(frozen=True, slots=True)
class NamespaceSummary:
    name: str
    policy: str
    repositories: int


@dataclass(frozen=True, slots=True)
class RecentRepository:
    id: int
    name: str
    pushed_at: int


@dataclass(frozen=True, slots=True)
class StorageTotals:
    blobs: int
    used_bytes: int
    unreferenced_blobs: int
    reclaimable_bytes: int


def namespace_summaries(
    conn: Connection, readable: RepositoryFilter, limit: int
) -> list[NamespaceSummary]:
    """Readable repositories counted by namespace, with the namespace's policy; the
    namespaces holding most repositories first. For a registry admin the count is a scan of
    the namespace index alone (no table rows); the policies are read for the shown ones."""
    count = func.count()
    query = (
        select(_repo.c.namespace, count)
        .group_by(_repo.c.namespace)
        .order_by(count.desc(), _repo.c.namespace)
        .limit(limit)
    )
    if not readable.everything:
        query = query.select_from(
            _repo.outerjoin(_namespace, _namespace.c.name == _repo.c.namespace)
        ).where(readable.where())
    counted = [(name, int(repositories)) for name, repositories in conn.execute(query)]
    policies = dict(
        conn.execute(
            select(_namespace.c.name, _namespace.c.policy).where(
                _namespace.c.name.in_([name for name, _ in counted])
            )
        ).all()
    )
    return [
        NamespaceSummary(name, policies.get(name, "private"), repositories)
        for name, repositories in counted
    ]


def recent_repositories(
    conn: Connection, readable: RepositoryFilter, limit: int
) -> list[RecentRepository]:
    """Readable repositories by their last push, newest first (walks the pushed_at index)."""
    query = (
        select(_repo.c.id, _repo.c.name, _repo.c.pushed_at)
        .where(_repo.c.pushed_at.is_not(None))
        .order_by(_repo.c.pushed_at.desc())
        .limit(limit)
    )
    if not readable.everything:
        query = query.select_from(
            _repo.outerjoin(_namespace, _namespace.c.name == _repo.c.namespace)
        ).where(readable.where())
    return [RecentRepository(*row) for row in conn.execute(query)]


def newest_tags(
    conn: Connection, repository_ids: Sequence[int], per_repository: int
) -> dict[int, list[tuple[str, int]]]:
    """Each repository's most recently pushed tags: (name, updated_at), newest first."""
    if not repository_ids:
        return {}
    rank = (
        func.row_number()
        .over(
            partition_by=_tag.c.repository_id, order_by=(_tag.c.updated_at.desc(), _tag.c.id.desc())
        )
        .label("rank")
    )
    ranked = (
        select(_tag.c.repository_id, _tag.c.name, _tag.c.updated_at, rank)
        .where(_tag.c.repository_id.in_(sorted(set(repository_ids))))
        .subquery()
    )
    query = (
        select(ranked.c.repository_id, ranked.c.name, ranked.c.updated_at)
        .where(ranked.c.rank <= per_repository)
        .order_by(ranked.c.repository_id, ranked.c.rank)
    )
    found: dict[int, list[tuple[str, int]]] = defaultdict(list)
    for repository_id, name, updated_at in conn.execute(query):
        found[repository_id].append((name, updated_at))
    return dict(found)


def storage_totals(conn: Connection) -> StorageTotals:
    """Bytes stored (every blob once), and the part no manifest references any more: what
    garbage collection can reclaim. A scan of the blob table: callers cache it."""
    used = conn.execute(select(func.count(), total(_blob.c.size))).one()
    unreferenced = ~exists().where(_ref.c.digest == _blob.c.digest)
    free = conn.execute(select(func.count(), total(_blob.c.size)).where(unreferenced)).one()
    return StorageTotals(int(used[0]), int(used[1]), int(free[0]), int(free[1]))
