"""Groups (registry admins): local groups, whose members are users of any source, and
directory groups, whose members come from the directory at each member's sign-in."""

from __future__ import annotations

import re

from sqlalchemy import Connection

from dockyard.auth.errors import AlreadyExists, InvalidRequest, NotFound
from dockyard.auth.manage._checks import record, require_registry_admin
from dockyard.auth.manage.context import ManageContext
from dockyard.auth.manage.references import (
    LOCAL,
    Subject,
    SubjectKind,
    find_subject,
    locate,
    parse_principal,
    qualified,
    settle,
)
from dockyard.auth.manage.views import GroupView
from dockyard.auth.principals import Principal
from dockyard.metadata.queries import groups, users
from dockyard.metadata.queries.access import bump_generation

__all__ = [
    "NAME_PATTERN",
    "add_member",
    "create_group",
    "delete_group",
    "get_group",
    "groups_of",
    "list_groups",
    "remove_member",
]

NAME_PATTERN = r"^[a-z0-9][a-z0-9._-]{0,63}$"
_NAME = re.compile(NAME_PATTERN)


def _view(row: groups.GroupRow, members: tuple[str, ...] | None = None) -> GroupView:
    return GroupView(row.id, row.name, row.source, row.dn, row.created_at, row.members, members)


def _find(ctx: ManageContext, conn: Connection, ref: str) -> Subject:
    parsed = parse_principal(ref, SubjectKind.GROUP)
    subject = find_subject(conn, parsed, [d.name for d in ctx.directories])
    if subject is None:
        raise NotFound(f"{parsed} not found")
    return subject


def _local(subject: Subject) -> None:
    if subject.source != LOCAL:
        raise InvalidRequest(
            f"{subject.ref} is a directory group: its members come from the directory"
        )


def list_groups(ctx: ManageContext, actor: Principal) -> list[GroupView]:
    require_registry_admin(ctx.snapshot(), actor)
    with ctx.db.read() as conn:
        return [_view(row) for row in groups.list_groups(conn)]


def get_group(ctx: ManageContext, actor: Principal, ref: str) -> GroupView:
    """The group with its members (as user references: `jane`, `hackershop\\josh`)."""
    require_registry_admin(ctx.snapshot(), actor)
    with ctx.db.read() as conn:
        row = groups.group(conn, _find(ctx, conn, ref).id)
        if row is None:  # pragma: no cover - found just above in the same transaction
            raise NotFound(f"group {ref} not found")
        members = users.users_by_ids(conn, groups.member_ids(conn, row.id))
    return _view(row, tuple(qualified(user.source, user.name) for user in members))


def groups_of(ctx: ManageContext, actor: Principal, user_ref: str) -> list[GroupView]:
    """The groups a user belongs to, local and directory ones (registry admins)."""
    snapshot = ctx.snapshot()
    require_registry_admin(snapshot, actor)
    parsed = parse_principal(user_ref, SubjectKind.USER)
    with ctx.db.read() as conn:
        user = find_subject(conn, parsed, [d.name for d in ctx.directories])
        if user is None:
            raise NotFound(f"{parsed} not found")
        ids = snapshot.groups_of.get(user.id, frozenset())
        return [_view(row) for row in groups.list_groups(conn) if row.id in ids]


def create_group(ctx: ManageContext, actor: Principal, address: str | None, name: str) -> GroupView:
    """A local group. Directory groups are named in grants directly (`group:hackershop\\qa`)."""
    require_registry_admin(ctx.snapshot(), actor)
    if not _NAME.match(name):
        raise InvalidRequest(
            "a group name is 1-64 of a-z 0-9 . _ - starting with a letter or digit"
        )
    with ctx.db.write() as conn:
        group_id = groups.add_group(conn, name, ctx.now())
        if group_id is None:
            raise AlreadyExists(f"group {name} exists")
        bump_generation(conn)
        record(conn, ctx, actor, address, "group.create", f"group:{name}")
        row = groups.group(conn, group_id)
    if row is None:  # pragma: no cover - inserted in the same transaction
        raise RuntimeError(f"group {name} vanished")
    return _view(row, ())


def delete_group(ctx: ManageContext, actor: Principal, address: str | None, ref: str) -> None:
    """Removes the group with its grants. A directory group comes back (without grants) at
    its next member's sign-in."""
    require_registry_admin(ctx.snapshot(), actor)
    with ctx.db.write() as conn:
        subject = _find(ctx, conn, ref)
        groups.delete_group(conn, subject.id)
        bump_generation(conn)
        record(conn, ctx, actor, address, "group.delete", subject.ref)


def add_member(
    ctx: ManageContext, actor: Principal, address: str | None, ref: str, user_ref: str
) -> None:
    """Adds a user (of any source; a directory user may be named before their first
    sign-in) to a local group. Adding a member twice is no change."""
    require_registry_admin(ctx.snapshot(), actor)
    with ctx.db.read() as conn:
        _local(_find(ctx, conn, ref))
    located = locate(ctx, parse_principal(user_ref, SubjectKind.USER))
    with ctx.db.write() as conn:
        group = _find(ctx, conn, ref)
        user = settle(conn, located, ctx.now())
        if groups.add_member(conn, group.id, user.id):
            record(conn, ctx, actor, address, "group.member.add", group.ref, {"user": user.ref})
        bump_generation(conn)


def remove_member(
    ctx: ManageContext, actor: Principal, address: str | None, ref: str, user_ref: str
) -> None:
    require_registry_admin(ctx.snapshot(), actor)
    parsed = parse_principal(user_ref, SubjectKind.USER)
    with ctx.db.write() as conn:
        group = _find(ctx, conn, ref)
        _local(group)
        user = find_subject(conn, parsed, [d.name for d in ctx.directories])
        if user is None or not groups.remove_member(conn, group.id, user.id):
            raise NotFound(f"{parsed} is not a member of {group.ref}")
        bump_generation(conn)
        record(conn, ctx, actor, address, "group.member.remove", group.ref, {"user": user.ref})
