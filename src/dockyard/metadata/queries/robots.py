"""Queries on robot accounts (their secrets are checked in identities.py)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Connection, insert, select, update

from dockyard.metadata.models import Robot, table_of

__all__ = ["RobotRow", "add_robot", "list_robots", "revoke_robot", "robot_by_name"]

_robot = table_of(Robot)
_COLUMNS = (
    _robot.c.id,
    _robot.c.name,
    _robot.c.description,
    _robot.c.created_at,
    _robot.c.created_by,
    _robot.c.expires_at,
    _robot.c.revoked_at,
    _robot.c.last_used_at,
)


@dataclass(frozen=True, slots=True)
class RobotRow:
    id: int
    name: str
    description: str | None
    created_at: int
    created_by: str | None
    expires_at: int | None
    revoked_at: int | None
    last_used_at: int | None


def robot_by_name(conn: Connection, name: str) -> RobotRow | None:
    row = conn.execute(select(*_COLUMNS).where(_robot.c.name == name)).first()
    return RobotRow(*row) if row else None


def list_robots(conn: Connection) -> list[RobotRow]:
    return [RobotRow(*row) for row in conn.execute(select(*_COLUMNS).order_by(_robot.c.name))]


def add_robot(
    conn: Connection,
    name: str,
    description: str | None,
    secret_hash: str,
    created_by: str | None,
    expires_at: int | None,
    now: int,
) -> int:
    result = conn.execute(
        insert(_robot).values(
            name=name,
            description=description,
            secret_hash=secret_hash,
            created_at=now,
            created_by=created_by,
            expires_at=expires_at,
            revoked_at=None,
        )
    )
    key = result.inserted_primary_key
    if key is None:  # pragma: no cover - an INSERT always has a key here
        raise RuntimeError("robot insert returned no key")
    return int(key[0])


def revoke_robot(conn: Connection, robot_id: int, now: int) -> bool:
    """Whether the robot was still unrevoked."""
    result = conn.execute(
        update(_robot)
        .where(_robot.c.id == robot_id, _robot.c.revoked_at.is_(None))
        .values(revoked_at=now)
    )
    return result.rowcount > 0
