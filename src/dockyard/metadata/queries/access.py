"""Queries behind the permission check: the access generation and the rows a snapshot holds.

Everything that changes who may do what (users, groups, members, grants, policies, robots,
personal tokens) calls `bump_generation` in the same transaction, so every worker's cached
snapshot reloads on its next request (pitfalls §19: an invalidation rule, not a timer).
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Connection, select, update

from dockyard.metadata.models import (
    AccessGrant,
    AccessState,
    GroupMember,
    Namespace,
    Repository,
    Robot,
    User,
    table_of,
)

__all__ = [
    "AccessRows",
    "GrantRow",
    "MaintenanceRow",
    "bump_generation",
    "load_access_rows",
    "read_generation",
    "read_maintenance",
    "set_maintenance",
]

_state = table_of(AccessState)
_grant = table_of(AccessGrant)
_member = table_of(GroupMember)
_namespace = table_of(Namespace)
_repo = table_of(Repository)
_robot = table_of(Robot)
_user = table_of(User)


def bump_generation(conn: Connection) -> None:
    conn.execute(update(_state).where(_state.c.id == 1).values(generation=_state.c.generation + 1))


def read_generation(conn: Connection) -> int:
    return int(conn.execute(select(_state.c.generation).where(_state.c.id == 1)).scalar_one())


@dataclass(frozen=True, slots=True)
class MaintenanceRow:
    """The read-only switch as stored (who turned it on or off last, and when)."""

    read_only: bool = False
    message: str | None = None
    by: str | None = None
    at: int | None = None


def read_maintenance(conn: Connection) -> MaintenanceRow:
    row = conn.execute(
        select(_state.c.read_only, _state.c.read_only_message, _state.c.read_only_by,
               _state.c.read_only_at).where(_state.c.id == 1)
    ).one()  # fmt: skip
    return MaintenanceRow(bool(row[0]), row[1], row[2], row[3])


def set_maintenance(
    conn: Connection, read_only: bool, message: str | None, by: str, at: int
) -> None:
    """Switch the mode; the generation moves with it, so every worker sees it next request."""
    conn.execute(
        update(_state).where(_state.c.id == 1).values(
            read_only=read_only, read_only_message=message, read_only_by=by, read_only_at=at,
            generation=_state.c.generation + 1,
        )
    )  # fmt: skip


@dataclass(frozen=True, slots=True)
class GrantRow:
    principal_key: str  # "u3", "g2", "r5"
    namespace: str | None
    repository: str | None
    role: str


@dataclass(frozen=True, slots=True)
class AccessRows:
    generation: int
    users: list[tuple[int, bool, bool]]  # id, is_admin, disabled
    robots: list[tuple[int, int | None, int | None]]  # id, expires_at, revoked_at
    members: list[tuple[int, int]]  # user_id, group_id
    grants: list[GrantRow]
    namespace_policies: list[tuple[str, str]]
    repository_policies: list[tuple[str, str]]  # only repositories that override
    maintenance: MaintenanceRow


def load_access_rows(conn: Connection) -> AccessRows:
    """Everything the permission check reads, in one read transaction (a consistent view)."""
    grants = conn.execute(
        select(_grant.c.principal_key, _namespace.c.name, _repo.c.name, _grant.c.role)
        .select_from(_grant)
        .outerjoin(_namespace, _namespace.c.id == _grant.c.namespace_id)
        .outerjoin(_repo, _repo.c.id == _grant.c.repository_id)
    )
    return AccessRows(
        generation=read_generation(conn),
        users=[(r[0], bool(r[1]), bool(r[2])) for r in conn.execute(
            select(_user.c.id, _user.c.is_admin, _user.c.disabled))],
        robots=[(r[0], r[1], r[2]) for r in conn.execute(
            select(_robot.c.id, _robot.c.expires_at, _robot.c.revoked_at))],
        members=[(r[0], r[1]) for r in conn.execute(
            select(_member.c.user_id, _member.c.group_id))],
        grants=[GrantRow(*row) for row in grants],
        namespace_policies=[(r[0], r[1]) for r in conn.execute(
            select(_namespace.c.name, _namespace.c.policy))],
        repository_policies=[(r[0], r[1]) for r in conn.execute(
            select(_repo.c.name, _repo.c.policy).where(_repo.c.policy.is_not(None)))],
        maintenance=read_maintenance(conn),
    )  # fmt: skip
