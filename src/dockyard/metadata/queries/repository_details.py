"""Repositories as the admin API shows them: details with their effective policy, keyset
pages, creation ahead of the first push and the policy override."""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, Connection, Select, func, select, update

from dockyard.metadata.models import Blob, Namespace, Repository, RepositoryBlob, table_of
from dockyard.metadata.queries.repositories import RepositoryFilter

__all__ = [
    "RepositoryOrder",
    "RepositoryRow",
    "repository_detail",
    "repository_page",
    "set_repository_policy",
    "stored_bytes",
]

_repo = table_of(Repository)
_namespace = table_of(Namespace)
_link = table_of(RepositoryBlob)
_blob = table_of(Blob)


class RepositoryOrder(enum.StrEnum):
    NAME = "name"
    PUSHED = "pushed"  # newest push first; never pushed last
    SIZE = "size"  # most bytes linked first


def _stored_bytes(repository_id: ColumnElement[int]) -> Any:
    """Bytes of the blobs linked in the repository (each blob counted once)."""
    return (
        select(func.coalesce(func.sum(_blob.c.size), 0))
        .select_from(_link.join(_blob, _blob.c.digest == _link.c.digest))
        .where(_link.c.repository_id == repository_id)
        .scalar_subquery()
    )


def _order_key(order: RepositoryOrder) -> ColumnElement[int] | None:
    if order is RepositoryOrder.PUSHED:
        return func.coalesce(_repo.c.pushed_at, 0)
    if order is RepositoryOrder.SIZE:
        return _stored_bytes(_repo.c.id)  # type: ignore[no-any-return]
    return None


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
    order: RepositoryOrder = RepositoryOrder.NAME,
) -> list[RepositoryRow]:
    """Readable repositories in `order` after the cursor `after` (a position; it need not
    exist): a name, or for the other orders `<key>:<name>` (names hold no colon)."""
    # The filter's own clause reads the namespace join that _query() already made.
    query = _query().where(readable.where()).limit(limit)
    if namespace is not None:
        query = query.where(_repo.c.namespace == namespace)
    key = _order_key(order)
    if key is None:
        query = query.order_by(_repo.c.name)
        if after is not None:
            query = query.where(_repo.c.name > after)
    else:
        query = query.order_by(key.desc(), _repo.c.name)
        cursor = _cursor(after)
        if cursor is not None:
            value, name = cursor
            query = query.where((key < value) | ((key == value) & (_repo.c.name > name)))
    return [_row(row) for row in conn.execute(query)]


def _cursor(after: str | None) -> tuple[int, str] | None:
    value, sep, name = (after or "").partition(":")
    if not sep or not value.isdigit():
        return None
    return int(value), name


def stored_bytes(conn: Connection, repository_ids: Sequence[int]) -> dict[int, int]:
    """Bytes of the blobs linked in each repository."""
    if not repository_ids:
        return {}
    query = (
        select(_link.c.repository_id, func.coalesce(func.sum(_blob.c.size), 0))
        .select_from(_link.join(_blob, _blob.c.digest == _link.c.digest))
        .where(_link.c.repository_id.in_(sorted(set(repository_ids))))
        .group_by(_link.c.repository_id)
    )
    return {repository_id: int(total) for repository_id, total in conn.execute(query)}


def set_repository_policy(conn: Connection, repository_id: int, policy: str | None) -> None:
    conn.execute(update(_repo).where(_repo.c.id == repository_id).values(policy=policy))
