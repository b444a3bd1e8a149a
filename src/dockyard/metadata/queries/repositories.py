"""Queries on repositories."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, Connection, Select, and_, false, or_, select, true, update

from dockyard.metadata.models import Namespace, Repository, table_of
from dockyard.metadata.queries._upsert import insert_ignore

_repo = table_of(Repository)
_namespace = table_of(Namespace)


@dataclass(frozen=True, slots=True)
class RepositoryFilter:
    """Which repositories a caller may read (built by auth.permissions.readable, the one
    place that decides): all of them, or
    - every repository in `namespaces` (a grant on the namespace),
    - every repository in `policy_namespaces` (readable by their policy) but those in
      `excluded` (repositories whose own policy closes them),
    - and the repositories named in `repositories`.
    Sets of names, resolved from the access snapshot, so the SQL is plain index lookups on
    (namespace, name) with no join (a page for a user who reads one namespace in 100,000
    repositories must not scan them all)."""

    everything: bool
    namespaces: frozenset[str] = frozenset()
    policy_namespaces: frozenset[str] = frozenset()
    excluded: frozenset[str] = frozenset()
    repositories: frozenset[str] = frozenset()

    def where(self) -> ColumnElement[bool]:
        if self.everything:
            return true()
        clauses: list[ColumnElement[bool]] = []
        if self.namespaces:
            clauses.append(_repo.c.namespace.in_(sorted(self.namespaces)))
        if self.policy_namespaces:
            by_policy: ColumnElement[bool] = _repo.c.namespace.in_(sorted(self.policy_namespaces))
            if self.excluded:
                by_policy = and_(by_policy, _repo.c.name.not_in(sorted(self.excluded)))
            clauses.append(by_policy)
        if self.repositories:
            clauses.append(_repo.c.name.in_(sorted(self.repositories)))
        return or_(*clauses) if clauses else false()

    def apply(self, query: Select[Any]) -> Select[Any]:
        """`query` (over the repository table) narrowed to what may be read."""
        return query if self.everything else query.where(self.where())


def repository_id(conn: Connection, name: str) -> int | None:
    return conn.execute(select(_repo.c.id).where(_repo.c.name == name)).scalar()


def ensure_repository(conn: Connection, name: str, namespace: str, now: int) -> int:
    """The id of `name`, creating it (and its namespace, private) if needed; safe when two
    first pushes race."""
    insert_ignore(
        conn, _namespace,
        {"name": namespace, "policy": "private", "created_at": now, "created_by": None},
        ["name"],
    )  # fmt: skip
    insert_ignore(
        conn,
        _repo,
        {"name": name, "namespace": namespace, "created_at": now, "pushed_at": None},
        ["name"],
    )
    repo_id = repository_id(conn, name)
    if repo_id is None:  # pragma: no cover - the insert above guarantees the row
        raise RuntimeError(f"repository {name} vanished while being created")
    return repo_id


def mark_pushed(conn: Connection, repo_id: int, now: int) -> None:
    conn.execute(update(_repo).where(_repo.c.id == repo_id).values(pushed_at=now))


def repository_names(
    conn: Connection, after: str | None, limit: int, readable: RepositoryFilter
) -> list[str]:
    """Readable names in byte order after `after` (a position, it need not exist)."""
    query = readable.apply(select(_repo.c.name)).order_by(_repo.c.name).limit(limit)
    if after is not None:
        query = query.where(_repo.c.name > after)
    return list(conn.execute(query).scalars())
