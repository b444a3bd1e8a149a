"""Users: the caller's own identity, and local and directory accounts (registry admins)."""

from __future__ import annotations

import re
import threading

from sqlalchemy import Connection

from dockyard.auth.errors import AlreadyExists, Conflict, Forbidden, InvalidRequest, NotFound
from dockyard.auth.manage._checks import (
    record,
    require_active,
    require_password_sign_in,
    require_registry_admin,
)
from dockyard.auth.manage.context import ManageContext
from dockyard.auth.manage.references import (
    LOCAL,
    SubjectKind,
    find_subject,
    locate,
    parse_principal,
    render_principal,
    settle,
)
from dockyard.auth.manage.views import Identity, UserView
from dockyard.auth.passwords import hash_password
from dockyard.auth.permissions import is_registry_admin
from dockyard.auth.principals import Principal, PrincipalKind
from dockyard.auth.snapshot import AccessSnapshot
from dockyard.metadata.queries import users
from dockyard.metadata.queries.access import bump_generation

__all__ = [
    "MIN_PASSWORD_LENGTH",
    "NAME_PATTERN",
    "create_user",
    "delete_user",
    "get_user",
    "list_users",
    "me",
    "set_password",
    "update_user",
]

NAME_PATTERN = r"^[a-z0-9][a-z0-9._-]{0,63}$"
MIN_PASSWORD_LENGTH = 8
_MAX_PASSWORD_LENGTH = 1024  # argon2 takes any length; a cap keeps hashing bounded
_NAME = re.compile(NAME_PATTERN)
_FIELDS = {"admin": "is_admin", "disabled": "disabled"}
# argon2 is slow by design: a few hashes at a time, whatever the thread pool's size.
_HASHING = threading.BoundedSemaphore(2)


def _hash(password: str) -> str:
    with _HASHING:
        return hash_password(password)


def _view(info: users.UserInfo) -> UserView:
    return UserView(
        id=info.id,
        name=info.name,
        source=info.source,
        admin=info.is_admin,
        disabled=info.disabled,
        display_name=info.display_name,
        created_at=info.created_at,
        last_login_at=info.last_login_at,
    )


def _check_password(password: str) -> None:
    if not MIN_PASSWORD_LENGTH <= len(password) <= _MAX_PASSWORD_LENGTH:
        raise InvalidRequest(
            f"a password has {MIN_PASSWORD_LENGTH} to {_MAX_PASSWORD_LENGTH} characters"
        )


def _ref(info: users.UserInfo) -> str:
    return render_principal(SubjectKind.USER, info.source, info.name)


def _reread(conn: Connection, user_id: int) -> UserView:
    info = users.user_info(conn, user_id)
    if info is None:  # pragma: no cover - written in the same transaction
        raise RuntimeError(f"user {user_id} vanished")
    return _view(info)


def _find(ctx: ManageContext, ref: str) -> users.UserInfo:
    parsed = parse_principal(ref, SubjectKind.USER)
    with ctx.db.read() as conn:
        subject = find_subject(conn, parsed, [d.name for d in ctx.directories])
        info = users.user_info(conn, subject.id) if subject else None
    if info is None:
        raise NotFound(f"{parsed} not found")
    return info


def _self_or_admin(
    ctx: ManageContext, snapshot: AccessSnapshot, actor: Principal, ref: str, refusal: str
) -> users.UserInfo:
    """The user `ref` names, when the caller is a registry admin or that user. Others are
    refused the same way whether the user exists or not."""
    require_active(snapshot, actor)
    if is_registry_admin(snapshot, actor):
        return _find(ctx, ref)
    try:
        info = _find(ctx, ref) if actor.kind is PrincipalKind.USER else None
    except NotFound:
        info = None
    if info is None or info.id != actor.id:
        raise Forbidden(refusal)
    return info


def me(ctx: ManageContext, actor: Principal) -> Identity:
    snapshot = ctx.snapshot()
    require_active(snapshot, actor)
    source = None
    if actor.kind is PrincipalKind.USER:
        with ctx.db.read() as conn:
            info = users.user_info(conn, actor.id)
        source = info.source if info else None
    return Identity(actor.name, actor.kind.value, is_registry_admin(snapshot, actor), source)


def list_users(ctx: ManageContext, actor: Principal) -> list[UserView]:
    require_registry_admin(ctx.snapshot(), actor)
    with ctx.db.read() as conn:
        return [_view(info) for info in users.list_users(conn)]


def get_user(ctx: ManageContext, actor: Principal, ref: str) -> UserView:
    """Registry admins see anyone; a user sees themselves."""
    info = _self_or_admin(
        ctx, ctx.snapshot(), actor, ref, "only registry admins may look at other users"
    )
    return _view(info)


def create_user(
    ctx: ManageContext,
    actor: Principal,
    address: str | None,
    name: str,
    password: str,
    admin: bool = False,
) -> UserView:
    """A local user. Directory users appear at their first sign-in (or first grant)."""
    require_registry_admin(ctx.snapshot(), actor)
    if not _NAME.match(name):
        raise InvalidRequest("a user name is 1-64 of a-z 0-9 . _ - starting with a letter or digit")
    _check_password(password)
    password_hash = _hash(password)  # before taking the write lock
    now = ctx.now()
    with ctx.db.write() as conn:
        if users.user_by_name(conn, name) is not None:
            raise AlreadyExists(f"user {name} exists")
        user_id = users.add_user(conn, name, password_hash, is_admin=admin, now=now)
        bump_generation(conn)
        record(conn, ctx, actor, address, "user.create", f"user:{name}", {"admin": admin})
        return _reread(conn, user_id)


def update_user(
    ctx: ManageContext,
    actor: Principal,
    address: str | None,
    ref: str,
    *,
    admin: bool | None = None,
    disabled: bool | None = None,
) -> UserView:
    """Make a user a registry admin or not, disable or enable them. A directory user may
    be named before their first sign-in. The last active registry admin stays one."""
    require_registry_admin(ctx.snapshot(), actor)
    located = locate(ctx, parse_principal(ref, SubjectKind.USER))
    with ctx.db.write() as conn:
        subject = settle(conn, located, ctx.now())
        before = users.user_info(conn, subject.id)
        if before is None:
            raise NotFound(f"{subject.ref} not found")
        if disabled and actor.kind is PrincipalKind.USER and actor.id == subject.id:
            raise Conflict("you cannot disable yourself")
        demoted = (admin is False or disabled is True) and before.is_admin and not before.disabled
        if demoted and users.count_active_admins(conn) <= 1:
            raise Conflict("the last registry admin must stay an active admin")
        changes = {
            key: value
            for key, value in (("admin", admin), ("disabled", disabled))
            if value is not None and value != getattr(before, _FIELDS[key])
        }
        if changes:
            users.update_user(conn, subject.id, is_admin=admin, disabled=disabled)
            bump_generation(conn)
            record(conn, ctx, actor, address, "user.update", subject.ref, changes)
        return _reread(conn, subject.id)


def delete_user(ctx: ManageContext, actor: Principal, address: str | None, ref: str) -> None:
    """Removes the user with their grants, memberships and tokens. Not yourself, and not
    the last active registry admin."""
    require_registry_admin(ctx.snapshot(), actor)
    info = _find(ctx, ref)
    if actor.kind is PrincipalKind.USER and actor.id == info.id:
        raise Conflict("you cannot delete yourself")
    with ctx.db.write() as conn:
        if info.is_admin and not info.disabled and users.count_active_admins(conn) <= 1:
            raise Conflict("the last registry admin cannot be deleted")
        users.delete_user(conn, info.id)
        bump_generation(conn)
        record(conn, ctx, actor, address, "user.delete", _ref(info))


def set_password(
    ctx: ManageContext, actor: Principal, address: str | None, ref: str, password: str
) -> None:
    """A local user's password: registry admins set anyone's, users their own. Directory
    users change theirs in the directory."""
    refusal = "only registry admins may set other users' passwords"
    require_password_sign_in(actor, "change passwords")
    info = _self_or_admin(ctx, ctx.snapshot(), actor, ref, refusal)
    if info.source != LOCAL:
        raise InvalidRequest(f"{info.source} users change their password in the directory")
    _check_password(password)
    password_hash = _hash(password)
    with ctx.db.write() as conn:
        users.set_password_hash(conn, info.id, password_hash)
        bump_generation(conn)
        record(conn, ctx, actor, address, "user.password", _ref(info))
