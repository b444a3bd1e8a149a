"""Grants: a role for a user, group or robot on a namespace or a repository. Managed by
whoever administers the target (namespace admins for the namespace and everything in it,
repository admins for their repository, registry admins everywhere)."""

from __future__ import annotations

from dockyard.auth.errors import InvalidRequest, NotFound
from dockyard.auth.manage._checks import (
    administers,
    record,
    refuse,
    require_active,
    require_admin_on,
)
from dockyard.auth.manage.context import ManageContext
from dockyard.auth.manage.references import (
    SubjectKind,
    TargetKind,
    TargetRef,
    find_subject,
    locate,
    parse_principal,
    parse_target,
    render_principal,
    render_target,
    settle,
    target_key,
)
from dockyard.auth.manage.views import GrantView
from dockyard.auth.permissions import is_registry_admin
from dockyard.auth.principals import Principal
from dockyard.auth.roles import Role
from dockyard.auth.snapshot import AccessSnapshot
from dockyard.metadata.queries import grants
from dockyard.metadata.queries.access import bump_generation

__all__ = ["grant_view", "list_grants", "parse_role", "revoke_grant", "set_grant"]

_KIND_OF_PREFIX = {"u": SubjectKind.USER, "g": SubjectKind.GROUP, "r": SubjectKind.ROBOT}


def parse_role(text: str) -> Role:
    try:
        return Role(text)
    except ValueError:
        raise InvalidRequest("a role is read, write or admin") from None


def _target_of(row: grants.GrantRow) -> TargetRef:
    kind = TargetKind.NAMESPACE if row.target_key.startswith("n") else TargetKind.REPOSITORY
    return TargetRef(kind, row.target_name)


def grant_view(row: grants.GrantRow) -> GrantView:
    target = _target_of(row)
    kind = _KIND_OF_PREFIX[row.principal_key[0]]
    return GrantView(
        to=render_principal(kind, row.principal_source, row.principal_name),
        on=render_target(target.kind, target.name),
        role=row.role,
        created_at=row.created_at,
        created_by=row.created_by,
    )


def _visible(snapshot: AccessSnapshot, actor: Principal, row: grants.GrantRow) -> bool:
    return is_registry_admin(snapshot, actor) or administers(snapshot, actor, _target_of(row))


def list_grants(
    ctx: ManageContext, actor: Principal, to: str | None = None, on: str | None = None
) -> list[GrantView]:
    """Grants on what the caller administers (all of them for registry admins), optionally
    of one principal and/or on one target. Unknown principals and targets have none."""
    snapshot = ctx.snapshot()
    require_active(snapshot, actor)
    principal = parse_principal(to) if to else None
    target = parse_target(on) if on else None
    with ctx.db.read() as conn:
        subject = (
            find_subject(conn, principal, [d.name for d in ctx.directories]) if principal else None
        )
        on_key = target_key(conn, target) if target else None
        if (principal and subject is None) or (target and on_key is None):
            return []
        rows = grants.list_grants(conn, subject.key if subject else None, on_key)
    return [grant_view(row) for row in rows if _visible(snapshot, actor, row)]


def set_grant(
    ctx: ManageContext, actor: Principal, address: str | None, role: str, to: str, on: str
) -> GrantView:
    """Gives `to` the role on `on`, replacing the role it held there. The target must exist
    (repositories are created ahead of push); a directory user or group may be named
    before it ever signed in."""
    snapshot = ctx.snapshot()
    require_active(snapshot, actor)
    granted, principal, target = parse_role(role), parse_principal(to), parse_target(on)
    if not administers(snapshot, actor, target):  # before asking any directory
        with ctx.db.read() as conn:
            refuse(conn, snapshot, actor, target, Role.ADMIN)
    located = locate(ctx, principal)
    now = ctx.now()
    with ctx.db.write() as conn:
        key = require_admin_on(conn, snapshot, actor, target)
        subject = settle(conn, located, now)
        grants.set_grant(conn, subject.key, key, granted.value, actor.name, now)
        bump_generation(conn)
        record(
            conn,
            ctx,
            actor,
            address,
            "grant.set",
            f"{target.kind}:{target.name}",
            {"to": subject.ref, "role": granted.value},
        )
    return GrantView(subject.ref, str(target), granted.value, now, actor.name)


def revoke_grant(
    ctx: ManageContext, actor: Principal, address: str | None, to: str, on: str
) -> None:
    snapshot = ctx.snapshot()
    require_active(snapshot, actor)
    principal, target = parse_principal(to), parse_target(on)
    with ctx.db.write() as conn:
        key = require_admin_on(conn, snapshot, actor, target)
        subject = find_subject(conn, principal, [d.name for d in ctx.directories])
        if subject is None or not grants.delete_grant(conn, subject.key, key):
            raise NotFound(f"{principal} holds no role on {target}")
        bump_generation(conn)
        record(
            conn,
            ctx,
            actor,
            address,
            "grant.revoke",
            f"{target.kind}:{target.name}",
            {"to": subject.ref},
        )
