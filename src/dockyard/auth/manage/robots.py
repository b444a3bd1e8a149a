"""Robot accounts: named automation credentials holding only their own grants, with an
optional expiry, revocable. The secret is returned once and stored as a hash.

Whoever administers every target of a robot's grants manages it (registry admins manage
all); only people create robots, so that no credential can mint others.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from sqlalchemy import Connection

from dockyard.auth.errors import AlreadyExists, Forbidden, InvalidRequest, NotFound
from dockyard.auth.manage._checks import (
    administers,
    record,
    require_active,
    require_admin_on,
)
from dockyard.auth.manage.context import ManageContext
from dockyard.auth.manage.grants import grant_view, parse_role
from dockyard.auth.manage.references import ROBOT_PREFIX, TargetRef, parse_target
from dockyard.auth.manage.views import CreatedRobot, RobotGrant, RobotView
from dockyard.auth.permissions import is_registry_admin
from dockyard.auth.principals import Principal, PrincipalKind
from dockyard.auth.snapshot import AccessSnapshot
from dockyard.auth.token_secrets import SecretKind, TokenSecret, new_secret
from dockyard.metadata.queries import grants, robots
from dockyard.metadata.queries.access import bump_generation

__all__ = [
    "MAX_EXPIRY_DAYS",
    "NAME_PATTERN",
    "create_robot",
    "get_robot",
    "list_robots",
    "revoke_robot",
]

NAME_PATTERN = r"^[a-z0-9][a-z0-9._-]{0,63}$"
MAX_EXPIRY_DAYS = 3650
_NAME = re.compile(NAME_PATTERN)
_DAY = 86400


def _grants(conn: Connection, robot_id: int) -> list[grants.GrantRow]:
    return grants.list_grants(conn, principal_key=f"r{robot_id}")


def _view(
    row: robots.RobotRow, held: list[grants.GrantRow], snapshot: AccessSnapshot, actor: Principal
) -> RobotView:
    """The robot as the caller may see it: only its grants on what the caller administers
    (a robot's other grants would tell of repositories the caller cannot see)."""
    if not is_registry_admin(snapshot, actor):
        held = [g for g in held if administers(snapshot, actor, parse_target(grant_view(g).on))]
    return RobotView(
        name=row.name,
        username=ROBOT_PREFIX + row.name,
        description=row.description,
        created_at=row.created_at,
        created_by=row.created_by,
        expires_at=row.expires_at,
        revoked_at=row.revoked_at,
        last_used_at=row.last_used_at,
        grants=tuple(RobotGrant(g.role, grant_view(g).on) for g in held),
    )


def _targets(held: list[grants.GrantRow]) -> list[TargetRef]:
    return [parse_target(grant_view(g).on) for g in held]


def _visible(snapshot: AccessSnapshot, actor: Principal, held: list[grants.GrantRow]) -> bool:
    if is_registry_admin(snapshot, actor):
        return True
    return any(administers(snapshot, actor, target) for target in _targets(held))


def _manages(snapshot: AccessSnapshot, actor: Principal, held: list[grants.GrantRow]) -> bool:
    if is_registry_admin(snapshot, actor):
        return True
    targets = _targets(held)
    return bool(targets) and all(administers(snapshot, actor, t) for t in targets)


def list_robots(ctx: ManageContext, actor: Principal) -> list[RobotView]:
    """Robots with a grant on something the caller administers (all for registry admins)."""
    snapshot = ctx.snapshot()
    require_active(snapshot, actor)
    with ctx.db.read() as conn:
        found = [(row, _grants(conn, row.id)) for row in robots.list_robots(conn)]
    return [
        _view(row, held, snapshot, actor) for row, held in found if _visible(snapshot, actor, held)
    ]


def _find(
    conn: Connection, snapshot: AccessSnapshot, actor: Principal, name: str
) -> tuple[robots.RobotRow, list[grants.GrantRow]]:
    row = robots.robot_by_name(conn, name.removeprefix(ROBOT_PREFIX))
    held = _grants(conn, row.id) if row else []
    if row is None or not _visible(snapshot, actor, held):
        raise NotFound(f"robot {name} not found")
    return row, held


def get_robot(ctx: ManageContext, actor: Principal, name: str) -> RobotView:
    snapshot = ctx.snapshot()
    require_active(snapshot, actor)
    with ctx.db.read() as conn:
        return _view(*_find(conn, snapshot, actor, name), snapshot, actor)


def create_robot(
    ctx: ManageContext,
    actor: Principal,
    address: str | None,
    name: str,
    roles: Sequence[tuple[str, str]],
    description: str | None = None,
    expires_in_days: int | None = None,
) -> CreatedRobot:
    """A robot with `roles` ((role, target) pairs); the caller must administer every
    target. The secret in the answer is the only copy."""
    snapshot = ctx.snapshot()
    require_active(snapshot, actor)
    if actor.kind not in (PrincipalKind.USER, PrincipalKind.OPERATOR):
        raise Forbidden("only people create robots")
    if not _NAME.match(name):
        raise InvalidRequest(
            "a robot name is 1-64 of a-z 0-9 . _ - starting with a letter or digit"
        )
    if expires_in_days is not None and not 1 <= expires_in_days <= MAX_EXPIRY_DAYS:
        raise InvalidRequest(f"expires_in_days is 1 to {MAX_EXPIRY_DAYS}, or null for never")
    wanted = [(parse_role(role), parse_target(on)) for role, on in roles]
    if len({target for _, target in wanted}) != len(wanted):
        raise InvalidRequest("one role per target")
    if not wanted and not is_registry_admin(snapshot, actor):
        raise Forbidden("only registry admins create robots without grants")
    now = ctx.now()
    expires_at = now + expires_in_days * _DAY if expires_in_days is not None else None
    random, secret_hash = new_secret()
    with ctx.db.write() as conn:
        keys = [require_admin_on(conn, snapshot, actor, target) for _, target in wanted]
        if robots.robot_by_name(conn, name) is not None:
            raise AlreadyExists(f"robot {name} exists")
        robot_id = robots.add_robot(
            conn, name, description, secret_hash, actor.name, expires_at, now
        )
        for (role, _), key in zip(wanted, keys, strict=True):
            grants.set_grant(conn, f"r{robot_id}", key, role.value, actor.name, now)
        bump_generation(conn)
        detail = {
            "grants": [{"role": role.value, "on": str(target)} for role, target in wanted],
            "expires_at": expires_at,
        }
        record(conn, ctx, actor, address, "robot.create", f"robot:{name}", detail)
        row = robots.robot_by_name(conn, name)
        if row is None:  # pragma: no cover - inserted in the same transaction
            raise RuntimeError(f"robot {name} vanished")
        view = _view(row, _grants(conn, robot_id), snapshot, actor)
    return CreatedRobot(view, TokenSecret(SecretKind.ROBOT, robot_id, random).render())


def revoke_robot(ctx: ManageContext, actor: Principal, address: str | None, name: str) -> None:
    """Ends the robot at once (its row and grants stay, for the record). Needs admin on
    every target it holds a grant on."""
    snapshot = ctx.snapshot()
    require_active(snapshot, actor)
    with ctx.db.write() as conn:
        row, held = _find(conn, snapshot, actor, name)
        if not _manages(snapshot, actor, held):
            raise Forbidden(f"revoking robot {row.name} needs admin on everything it is granted")
        if not robots.revoke_robot(conn, row.id, ctx.now()):
            return  # revoked already: nothing changes
        bump_generation(conn)
        record(conn, ctx, actor, address, "robot.revoke", f"robot:{row.name}")
