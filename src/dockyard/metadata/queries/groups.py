"""Queries on groups (local, and directory groups by name or DN) and their members."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Select, delete, func, select

from dockyard.metadata.models import GroupMember, UserGroup, table_of
from dockyard.metadata.queries._upsert import insert_ignore

__all__ = [
    "GroupRow",
    "add_group",
    "add_member",
    "delete_group",
    "group",
    "group_by_dn",
    "group_by_name",
    "list_groups",
    "member_ids",
    "remove_member",
]

_group = table_of(UserGroup)
_member = table_of(GroupMember)


@dataclass(frozen=True, slots=True)
class GroupRow:
    id: int
    source: str
    name: str
    dn: str | None
    created_at: int
    members: int


def _query() -> Select[Any]:
    members = (
        select(func.count())
        .where(_member.c.group_id == _group.c.id)
        .correlate(_group)
        .scalar_subquery()
    )
    return select(
        _group.c.id, _group.c.source, _group.c.name, _group.c.dn, _group.c.created_at, members
    )


def _row(row: Sequence[Any] | None) -> GroupRow | None:
    return GroupRow(*row) if row else None


def list_groups(conn: Connection) -> list[GroupRow]:
    query = _query().order_by(_group.c.source != "local", _group.c.source, _group.c.name)
    return [GroupRow(*row) for row in conn.execute(query)]


def group(conn: Connection, group_id: int) -> GroupRow | None:
    return _row(conn.execute(_query().where(_group.c.id == group_id)).first())


def group_by_name(conn: Connection, source: str, name: str) -> GroupRow | None:
    query = _query().where(_group.c.source == source, _group.c.name == name)
    return _row(conn.execute(query).first())


def group_by_dn(conn: Connection, dn: str) -> list[GroupRow]:
    """Directory groups with this DN (one per directory that knows it), by source."""
    query = _query().where(_group.c.dn == dn).order_by(_group.c.source)
    return [GroupRow(*row) for row in conn.execute(query)]


def add_group(conn: Connection, name: str, now: int) -> int | None:
    """A new local group's id, or None when the name is taken."""
    values = {"source": "local", "name": name, "dn": None, "created_at": now}
    if not insert_ignore(conn, _group, values, ["source", "name"]):
        return None
    found = group_by_name(conn, "local", name)
    if found is None:  # pragma: no cover - inserted just above
        raise RuntimeError(f"group {name} vanished while being created")
    return found.id


def delete_group(conn: Connection, group_id: int) -> None:
    """Removes the group; its memberships and grants go with it (the foreign keys cascade)."""
    conn.execute(delete(_group).where(_group.c.id == group_id))


def member_ids(conn: Connection, group_id: int) -> list[int]:
    query = select(_member.c.user_id).where(_member.c.group_id == group_id)
    return list(conn.execute(query).scalars())


def add_member(conn: Connection, group_id: int, user_id: int) -> bool:
    """Whether the user was added (False: a member already)."""
    values = {"group_id": group_id, "user_id": user_id}
    return bool(insert_ignore(conn, _member, values, ["group_id", "user_id"]))


def remove_member(conn: Connection, group_id: int, user_id: int) -> bool:
    """Whether the user was a member."""
    result = conn.execute(
        delete(_member).where(_member.c.group_id == group_id, _member.c.user_id == user_id)
    )
    return result.rowcount > 0
