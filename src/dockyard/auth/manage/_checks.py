"""Permission steps shared by the services. Every decision comes from auth.permissions."""

from __future__ import annotations

from typing import Any, NoReturn

from sqlalchemy import Connection

from dockyard.auth.errors import Forbidden, NotFound
from dockyard.auth.manage.context import ManageContext
from dockyard.auth.manage.references import TargetKind, TargetRef, target_key
from dockyard.auth.permissions import (
    is_active,
    is_registry_admin,
    namespace_role,
    readable,
    role_on,
)
from dockyard.auth.principals import Principal, PrincipalKind
from dockyard.auth.roles import Role, stronger
from dockyard.auth.snapshot import AccessSnapshot
from dockyard.metadata.queries import audit
from dockyard.metadata.queries.repository_details import repository_page

__all__ = [
    "administers",
    "at_least",
    "may_create_namespaces",
    "record",
    "refuse",
    "require_active",
    "require_admin_on",
    "require_password_sign_in",
    "require_registry_admin",
    "sees",
]


def at_least(role: Role | None, needed: Role) -> bool:
    return role is not None and stronger(role, needed) is role


def require_active(snapshot: AccessSnapshot, actor: Principal) -> None:
    if actor.is_anonymous or not is_active(snapshot, actor):
        raise Forbidden("this account is disabled, revoked or expired")


def require_password_sign_in(actor: Principal, what: str) -> None:
    """Some things a personal access token may not do: a token leaked from a client's
    config file must not change the password or mint tokens that outlive its revocation."""
    if actor.by_token:
        raise Forbidden(f"sign in with your password to {what}, not with an access token")


def require_registry_admin(snapshot: AccessSnapshot, actor: Principal) -> None:
    if not is_registry_admin(snapshot, actor):
        raise Forbidden("only registry admins may do this")


def may_create_namespaces(ctx: ManageContext, snapshot: AccessSnapshot, actor: Principal) -> bool:
    """Registry admins; every signed-in person too when namespace_creation is "everyone".
    Robots never: a namespace's creator becomes its admin."""
    if is_registry_admin(snapshot, actor):
        return True
    return (
        ctx.namespace_creation == "everyone"
        and actor.kind is PrincipalKind.USER
        and is_active(snapshot, actor)
    )


def administers(snapshot: AccessSnapshot, actor: Principal, target: TargetRef) -> bool:
    """Admin on a namespace as a whole; on a repository through it or directly."""
    if target.kind is TargetKind.NAMESPACE:
        return namespace_role(snapshot, actor, target.name) is Role.ADMIN
    return role_on(snapshot, actor, target.name) is Role.ADMIN


def sees(conn: Connection, snapshot: AccessSnapshot, actor: Principal, target: TargetRef) -> bool:
    """Whether the caller may know the target exists: a role on it, or (a namespace)
    something readable inside."""
    if target.kind is TargetKind.REPOSITORY:
        return role_on(snapshot, actor, target.name) is not None
    if namespace_role(snapshot, actor, target.name) is not None:
        return True
    return bool(repository_page(conn, readable(snapshot, actor), target.name, None, 1))


def refuse(
    conn: Connection, snapshot: AccessSnapshot, actor: Principal, target: TargetRef, need: Role
) -> NoReturn:
    """Forbidden for what the caller can see, NotFound for the rest (pitfalls §27)."""
    if target_key(conn, target) is not None and sees(conn, snapshot, actor, target):
        raise Forbidden(f"the {need} role on {target} is required")
    raise NotFound(f"{target.kind} {target.name} not found")


def require_admin_on(
    conn: Connection, snapshot: AccessSnapshot, actor: Principal, target: TargetRef
) -> str:
    """The target's grant key, when it exists and the caller administers it."""
    if not administers(snapshot, actor, target):
        refuse(conn, snapshot, actor, target, Role.ADMIN)
    key = target_key(conn, target)
    if key is None:
        raise NotFound(f"{target.kind} {target.name} not found")
    return key


def record(
    conn: Connection,
    ctx: ManageContext,
    actor: Principal,
    address: str | None,
    action: str,
    target: str | None,
    detail: dict[str, Any] | None = None,
) -> None:
    audit.record(
        conn,
        at=ctx.now(),
        actor=actor.name,
        action=action,
        target=target,
        address=address,
        detail=detail,
    )
