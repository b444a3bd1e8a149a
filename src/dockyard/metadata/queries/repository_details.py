"""Repositories as the admin API shows them: details with their effective policy, keyset
pages, creation ahead of the first push and the policy override."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Select, func, select, update

from dockyard.metadata.models import Namespace, Repository, table_of
from dockyard.metadata.queries.repositories import RepositoryFilter

__all__ = ["RepositoryRow", "repository_detail", "repository_page", "set_repository_policy"]

_repo = table_of(Repository)
_namespace = table_of(Namespace)


@dataclass(frozen=True, slots=True)
class RepositoryRow:
    id: int
    name: str
    namespace: str
    policy: str | None  # None: the namespace's applies
    effective_policy: str
    created_at: int
    pushed_at: int | None


def _query() -> Select[Any]:
    effective = func.coalesce(_repo.c.policy, _namespace.c.policy, "private")
    return select(
        _repo.c.id,
        _repo.c.name,
        _repo.c.namespace,
        _repo.c.policy,
        effective,
        _repo.c.created_at,
        _repo.c.pushed_at,
    ).select_from(_repo.outerjoin(_namespace, _namespace.c.name == _repo.c.namespace))


def _row(row: Sequence[Any]) -> RepositoryRow:
    return RepositoryRow(*row)


def repository_detail(conn: Connection, name: str) -> RepositoryRow | None:
    row = conn.execute(_query().where(_repo.c.name == name)).first()
    return _row(row) if row else None


def repository_page(
    conn: Connection,
    readable: RepositoryFilter,
    namespace: str | None,
    after: str | None,
    limit: int,
) -> list[RepositoryRow]:
    """Readable repositories by name after `after` (a position; it need not exist)."""
    # The filter's own clause reads the namespace join that _query() already made.
    query = _query().where(readable.where()).order_by(_repo.c.name).limit(limit)
    if namespace is not None:
        query = query.where(_repo.c.namespace == namespace)
    if after is not None:
        query = query.where(_repo.c.name > after)
    return [_row(row) for row in conn.execute(query)]


def set_repository_policy(conn: Connection, repository_id: int, policy: str | None) -> None:
    conn.execute(update(_repo).where(_repo.c.id == repository_id).values(policy=policy))
