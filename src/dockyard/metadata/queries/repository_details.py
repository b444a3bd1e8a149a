"""Repositories as the admin API shows them: details with their effective policy, keyset
pages, creation ahead of the first push and the policy override."""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, Connection, Select, func, or_, select, tuple_, update

from dockyard.metadata.models import Namespace, Repository, table_of
from dockyard.metadata.queries.repositories import RepositoryFilter

__all__ = [
    "RepositoryOrder",
    "RepositoryRow",
    "cursor_of",
    "repository_detail",
    "repository_page",
    "set_repository_policy",
]

_repo = table_of(Repository)
_namespace = table_of(Namespace)


class RepositoryOrder(enum.StrEnum):
    NAME = "name"
    PUSHED = "pushed"  # newest push first; never pushed last
    SIZE = "size"  # most bytes linked first


def _order_key(order: RepositoryOrder) -> ColumnElement[int] | None:
    """The indexed column an order walks backwards; ties go by id, newest first, which is
    the rowid each index entry already ends with, so no page needs a sort."""
    if order is RepositoryOrder.PUSHED:
        return _repo.c.pushed_at
    if order is RepositoryOrder.SIZE:
        return _repo.c.stored_bytes
    return None


def cursor_of(row: RepositoryRow, order: RepositoryOrder) -> str:
    """Where the page after `row` starts: its name, or `<key>:<id>` (`-` for no key)."""
    if order is RepositoryOrder.NAME:
        return row.name
    value = row.pushed_at if order is RepositoryOrder.PUSHED else row.stored_bytes
    return f"{'-' if value is None else value}:{row.id}"


@dataclass(frozen=True, slots=True)
class RepositoryRow:
    id: int
    name: str
    namespace: str
    policy: str | None  # None: the namespace's applies
    effective_policy: str
    created_at: int
    pushed_at: int | None
    stored_bytes: int


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
        _repo.c.stored_bytes,
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
        # Never pushed (NULL) last, as the cursor below expects: SQLite's DESC does that by
        # itself (and still walks the index); PostgreSQL's DESC puts NULL first.
        query = query.order_by(key.desc().nulls_last(), _repo.c.id.desc())
        cursor = _cursor(after)
        if cursor is not None:
            value, last_id = cursor
            if value is None:
                query = query.where(key.is_(None), _repo.c.id < last_id)
            else:
                query = query.where(
                    or_(tuple_(key, _repo.c.id) < tuple_(value, last_id), key.is_(None))
                )
    return [_row(row) for row in conn.execute(query)]


def _cursor(after: str | None) -> tuple[int | None, int] | None:
    value, sep, last_id = (after or "").partition(":")
    if not sep or not last_id.isdigit() or not (value.isdigit() or value == "-"):
        return None
    return (None if value == "-" else int(value)), int(last_id)


def set_repository_policy(conn: Connection, repository_id: int, policy: str | None) -> None:
    conn.execute(update(_repo).where(_repo.c.id == repository_id).values(policy=policy))
