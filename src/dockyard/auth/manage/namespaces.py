"""Namespaces: the first path component of repository names, each with an access policy.
Whoever creates one becomes its admin."""

from __future__ import annotations

from sqlalchemy import Connection

from dockyard.auth.errors import AlreadyExists, Forbidden, InvalidRequest, NotFound
from dockyard.auth.manage._checks import (
    may_create_namespaces,
    record,
    refuse,
    require_active,
    sees,
)
from dockyard.auth.manage.context import ManageContext
from dockyard.auth.manage.references import TargetKind, TargetRef
from dockyard.auth.manage.views import NamespaceView
from dockyard.auth.permissions import is_registry_admin, namespace_role, readable
from dockyard.auth.principals import Principal, PrincipalKind
from dockyard.auth.roles import Policy, Role
from dockyard.metadata.queries import grants, namespaces
from dockyard.metadata.queries.access import bump_generation

__all__ = [
    "add_namespace",
    "create_namespace",
    "get_namespace",
    "list_namespaces",
    "set_namespace_policy",
]


def _view(row: namespaces.NamespaceRow) -> NamespaceView:
    return NamespaceView(row.name, row.policy, row.created_at, row.created_by)


def _target(name: str) -> TargetRef:
    if not name or "/" in name:
        raise InvalidRequest("a namespace name is one path component")
    return TargetRef(TargetKind.NAMESPACE, name)


def list_namespaces(ctx: ManageContext, actor: Principal) -> list[NamespaceView]:
    """The namespaces the caller holds a role on or can read something in (all of them for
    registry admins)."""
    snapshot = ctx.snapshot()
    require_active(snapshot, actor)
    with ctx.db.read() as conn:
        rows = namespaces.list_namespaces(conn)
        if is_registry_admin(snapshot, actor):
            return [_view(row) for row in rows]
        visible = namespaces.readable_namespaces(conn, readable(snapshot, actor))
    return [
        _view(row)
        for row in rows
        if row.name in visible or namespace_role(snapshot, actor, row.name) is not None
    ]


def get_namespace(ctx: ManageContext, actor: Principal, name: str) -> NamespaceView:
    snapshot = ctx.snapshot()
    require_active(snapshot, actor)
    target = _target(name)
    with ctx.db.read() as conn:
        row = namespaces.namespace_by_name(conn, name)
        if row is None or not sees(conn, snapshot, actor, target):
            raise NotFound(f"namespace {name} not found")
    return _view(row)


def add_namespace(
    conn: Connection,
    ctx: ManageContext,
    actor: Principal,
    address: str | None,
    name: str,
    policy: Policy,
) -> namespaces.NamespaceRow:
    """Inside the caller's write transaction: the namespace, its creator as admin (people
    only: the operator is a registry admin already), the audit row. The caller bumps the
    access generation."""
    now = ctx.now()
    namespace_id = namespaces.add_namespace(conn, name, policy.value, actor.name, now)
    if namespace_id is None:
        raise AlreadyExists(f"namespace {name} exists")
    if actor.kind is PrincipalKind.USER:
        grants.set_grant(conn, f"u{actor.id}", f"n{namespace_id}", Role.ADMIN, actor.name, now)
    record(
        conn, ctx, actor, address, "namespace.create", f"namespace:{name}", {"policy": policy.value}
    )
    return namespaces.NamespaceRow(namespace_id, name, policy.value, now, actor.name)


def create_namespace(
    ctx: ManageContext,
    actor: Principal,
    address: str | None,
    name: str,
    policy: Policy = Policy.PRIVATE,
) -> NamespaceView:
    """`name` must already be a valid first component of a repository name (the faces
    check the OCI grammar)."""
    snapshot = ctx.snapshot()
    require_active(snapshot, actor)
    _target(name)
    if not may_create_namespaces(ctx, snapshot, actor):
        raise Forbidden("you may not create namespaces")
    with ctx.db.write() as conn:
        row = add_namespace(conn, ctx, actor, address, name, policy)
        bump_generation(conn)
    return _view(row)


def set_namespace_policy(
    ctx: ManageContext, actor: Principal, address: str | None, name: str, policy: Policy
) -> NamespaceView:
    """Namespace admins. Repositories without a policy of their own follow it."""
    snapshot = ctx.snapshot()
    require_active(snapshot, actor)
    target = _target(name)
    with ctx.db.write() as conn:
        if namespace_role(snapshot, actor, name) is not Role.ADMIN:
            refuse(conn, snapshot, actor, target, Role.ADMIN)
        row = namespaces.namespace_by_name(conn, name)
        if row is None:
            raise NotFound(f"namespace {name} not found")
        namespaces.set_namespace_policy(conn, row.id, policy.value)
        bump_generation(conn)
        record(
            conn,
            ctx,
            actor,
            address,
            "namespace.policy",
            f"namespace:{name}",
            {"policy": policy.value, "was": row.policy},
        )
    return NamespaceView(name, policy.value, row.created_at, row.created_by)
