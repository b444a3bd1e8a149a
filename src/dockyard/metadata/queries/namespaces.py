"""Queries on namespaces and their access policies."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Connection, select, update

from dockyard.metadata.models import Namespace, Repository, table_of
from dockyard.metadata.queries._upsert import insert_ignore
from dockyard.metadata.queries.repositories import RepositoryFilter

__all__ = [
    "NamespaceRow",
    "add_namespace",
    "list_namespaces",
    "namespace_by_name",
    "readable_namespaces",
    "set_namespace_policy",
]

_namespace = table_of(Namespace)
_repo = table_of(Repository)
_COLUMNS = (
    _namespace.c.id,
    _namespace.c.name,
    _namespace.c.policy,
    _namespace.c.created_at,
    _namespace.c.created_by,
)


@dataclass(frozen=True, slots=True)
class NamespaceRow:
    id: int
    name: str
    policy: str
    created_at: int
    created_by: str | None


def namespace_by_name(conn: Connection, name: str) -> NamespaceRow | None:
    row = conn.execute(select(*_COLUMNS).where(_namespace.c.name == name)).first()
    return NamespaceRow(*row) if row else None


def list_namespaces(conn: Connection, names: frozenset[str] | None = None) -> list[NamespaceRow]:
    """Every namespace, or those named in `names`, by name."""
    query = select(*_COLUMNS).order_by(_namespace.c.name)
    if names is not None:
        query = query.where(_namespace.c.name.in_(sorted(names)))
    return [NamespaceRow(*row) for row in conn.execute(query)]


def readable_namespaces(conn: Connection, readable: RepositoryFilter) -> set[str]:
    """Namespaces holding at least one repository the filter lets through."""
    query = readable.apply(select(_repo.c.namespace).distinct())
    return set(conn.execute(query).scalars())


def add_namespace(
    conn: Connection, name: str, policy: str, created_by: str | None, now: int
) -> int | None:
    """The new namespace's id, or None when it exists already."""
    values = {"name": name, "policy": policy, "created_at": now, "created_by": created_by}
    if not insert_ignore(conn, _namespace, values, ["name"]):
        return None
    return int(conn.execute(select(_namespace.c.id).where(_namespace.c.name == name)).scalar_one())


def set_namespace_policy(conn: Connection, namespace_id: int, policy: str) -> None:
    conn.execute(update(_namespace).where(_namespace.c.id == namespace_id).values(policy=policy))
