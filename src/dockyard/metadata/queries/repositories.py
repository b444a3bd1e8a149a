"""Queries on repositories."""

from __future__ import annotations

from sqlalchemy import Connection, select, update

from dockyard.metadata.models import Repository, table_of
from dockyard.metadata.queries._upsert import insert_ignore

_repo = table_of(Repository)


def repository_id(conn: Connection, name: str) -> int | None:
    return conn.execute(select(_repo.c.id).where(_repo.c.name == name)).scalar()


def ensure_repository(conn: Connection, name: str, namespace: str, now: int) -> int:
    """The id of `name`, creating it if needed; safe when two first pushes race."""
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


def repository_names(conn: Connection, after: str | None, limit: int) -> list[str]:
    """Names in byte order after `after` (a position, it need not exist)."""
    query = select(_repo.c.name).order_by(_repo.c.name).limit(limit)
    if after is not None:
        query = query.where(_repo.c.name > after)
    return list(conn.execute(query).scalars())
