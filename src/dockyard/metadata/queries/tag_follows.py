"""Queries on tags that follow tags."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import Connection, delete, select

from dockyard.metadata.models import TagFollow, table_of
from dockyard.metadata.queries._batching import chunks
from dockyard.metadata.queries._upsert import upsert

__all__ = ["FollowRow", "followers", "following", "forget", "source_of", "start"]

_follow = table_of(TagFollow)
_COLUMNS = (_follow.c.repository, _follow.c.tag, _follow.c.source_repository,
            _follow.c.source_tag, _follow.c.created_at, _follow.c.created_by)  # fmt: skip


@dataclass(frozen=True, slots=True)
class FollowRow:
    repository: str
    tag: str
    source_repository: str
    source_tag: str
    created_at: int
    created_by: str | None


def start(conn: Connection, row: FollowRow) -> None:
    """Follow (or switch to following) the source; one statement for two racing calls."""
    upsert(
        conn,
        _follow,
        {"repository": row.repository, "tag": row.tag,
         "source_repository": row.source_repository, "source_tag": row.source_tag,
         "created_at": row.created_at, "created_by": row.created_by},
        ["repository", "tag"],
        ["source_repository", "source_tag", "created_at", "created_by"],
    )  # fmt: skip


def forget(conn: Connection, repository: str, tag: str) -> bool:
    query = delete(_follow).where(_follow.c.repository == repository, _follow.c.tag == tag)
    return conn.execute(query).rowcount == 1


def followers(conn: Connection, source_repository: str, source_tag: str) -> list[FollowRow]:
    query = select(*_COLUMNS).where(
        _follow.c.source_repository == source_repository, _follow.c.source_tag == source_tag
    )
    return [FollowRow(*row) for row in conn.execute(query.order_by(_follow.c.id))]


def source_of(conn: Connection, repository: str, tag: str) -> FollowRow | None:
    query = select(*_COLUMNS).where(_follow.c.repository == repository, _follow.c.tag == tag)
    row = conn.execute(query).first()
    return None if row is None else FollowRow(*row)


def following(conn: Connection, repository: str, tags: Iterable[str]) -> dict[str, FollowRow]:
    """The follows among these tags of a repository (the repository page's links)."""
    found: dict[str, FollowRow] = {}
    for chunk in chunks(tags):
        query = select(*_COLUMNS).where(
            _follow.c.repository == repository, _follow.c.tag.in_(chunk)
        )
        found.update({row.tag: row for row in (FollowRow(*r) for r in conn.execute(query))})
    return found
