"""Queries on grants: one role per principal (user, group, robot) and target (namespace,
repository), with the names of both sides for listing."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, delete, select

from dockyard.metadata.models import (
    AccessGrant,
    Namespace,
    Repository,
    Robot,
    User,
    UserGroup,
    table_of,
)
from dockyard.metadata.queries._upsert import upsert

__all__ = ["GrantRow", "delete_grant", "list_grants", "set_grant"]

_grant = table_of(AccessGrant)
_user = table_of(User)
_group = table_of(UserGroup)
_robot = table_of(Robot)
_namespace = table_of(Namespace)
_repo = table_of(Repository)

# The foreign-key column each key prefix fills ("u3" -> user_id 3).
_PRINCIPAL_COLUMNS = {"u": "user_id", "g": "group_id", "r": "robot_id"}
_TARGET_COLUMNS = {"n": "namespace_id", "r": "repository_id"}


@dataclass(frozen=True, slots=True)
class GrantRow:
    principal_key: str
    target_key: str
    role: str
    created_at: int
    created_by: str | None
    principal_source: str | None  # user or group source; None for robots
    principal_name: str
    target_name: str  # the namespace's or repository's name


def set_grant(
    conn: Connection,
    principal_key: str,
    target_key: str,
    role: str,
    created_by: str | None,
    now: int,
) -> None:
    """Give the principal `role` on the target, replacing any role it held there."""
    values: dict[str, Any] = {
        "principal_key": principal_key,
        "target_key": target_key,
        "role": role,
        "created_at": now,
        "created_by": created_by,
        _PRINCIPAL_COLUMNS[principal_key[0]]: int(principal_key[1:]),
        _TARGET_COLUMNS[target_key[0]]: int(target_key[1:]),
    }
    upsert(
        conn,
        _grant,
        values,
        ["principal_key", "target_key"],
        ["role", "created_at", "created_by"],
    )


def delete_grant(conn: Connection, principal_key: str, target_key: str) -> bool:
    """Whether there was such a grant."""
    result = conn.execute(
        delete(_grant).where(
            _grant.c.principal_key == principal_key, _grant.c.target_key == target_key
        )
    )
    return result.rowcount > 0


def list_grants(
    conn: Connection, principal_key: str | None = None, target_key: str | None = None
) -> list[GrantRow]:
    """Grants, optionally of one principal and/or on one target, by target then principal."""
    query = (
        select(
            _grant.c.principal_key,
            _grant.c.target_key,
            _grant.c.role,
            _grant.c.created_at,
            _grant.c.created_by,
            _user.c.source,
            _group.c.source,
            _user.c.name,
            _group.c.name,
            _robot.c.name,
            _namespace.c.name,
            _repo.c.name,
        )
        .select_from(_grant)
        .outerjoin(_user, _user.c.id == _grant.c.user_id)
        .outerjoin(_group, _group.c.id == _grant.c.group_id)
        .outerjoin(_robot, _robot.c.id == _grant.c.robot_id)
        .outerjoin(_namespace, _namespace.c.id == _grant.c.namespace_id)
        .outerjoin(_repo, _repo.c.id == _grant.c.repository_id)
        .order_by(_grant.c.target_key, _grant.c.principal_key)
    )
    if principal_key is not None:
        query = query.where(_grant.c.principal_key == principal_key)
    if target_key is not None:
        query = query.where(_grant.c.target_key == target_key)
    return [
        GrantRow(
            principal_key=row[0],
            target_key=row[1],
            role=row[2],
            created_at=row[3],
            created_by=row[4],
            principal_source=row[5] if row[5] is not None else row[6],
            principal_name=row[7] or row[8] or row[9] or "",
            target_name=row[10] or row[11] or "",
        )
        for row in conn.execute(query)
    ]
