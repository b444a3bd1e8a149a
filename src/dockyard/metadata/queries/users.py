"""Queries on users."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, delete, func, insert, select, update

from dockyard.metadata.models import User, table_of
from dockyard.metadata.queries._upsert import insert_ignore

_user = table_of(User)


@dataclass(frozen=True, slots=True)
class UserRow:
    id: int
    source: str
    name: str
    password_hash: str | None
    is_admin: bool
    disabled: bool


_ROW = (
    _user.c.id,
    _user.c.source,
    _user.c.name,
    _user.c.password_hash,
    _user.c.is_admin,
    _user.c.disabled,
)


def user_by_name(conn: Connection, name: str, source: str = "local") -> UserRow | None:
    row = conn.execute(select(*_ROW).where(_user.c.source == source, _user.c.name == name)).first()
    return UserRow(*row) if row else None


def user_by_id(conn: Connection, user_id: int) -> UserRow | None:
    row = conn.execute(select(*_ROW).where(_user.c.id == user_id)).first()
    return UserRow(*row) if row else None


def count_users(conn: Connection) -> int:
    return int(conn.execute(select(func.count()).select_from(_user)).scalar_one())


def add_user(conn: Connection, name: str, password_hash: str, is_admin: bool, now: int) -> int:
    result = conn.execute(
        insert(_user).values(
            source="local",
            name=name,
            password_hash=password_hash,
            is_admin=is_admin,
            disabled=False,
            created_at=now,
        )
    )
    key = result.inserted_primary_key
    if key is None:  # pragma: no cover - an INSERT always has a key here
        raise RuntimeError("user insert returned no key")
    return int(key[0])


def add_local_user_if_absent(
    conn: Connection, name: str, password_hash: str, is_admin: bool, now: int
) -> bool:
    """Insert a local user unless one of that name exists; True when this call inserted it.
    Two transactions inserting the same name at once meet on the unique (source, name):
    PostgreSQL makes the second wait for the first's commit, then insert nothing."""
    values = {
        "source": "local",
        "name": name,
        "password_hash": password_hash,
        "is_admin": is_admin,
        "disabled": False,
        "created_at": now,
    }
    return insert_ignore(conn, _user, values, ["source", "name"]) == 1


@dataclass(frozen=True, slots=True)
class UserInfo:
    """A user as listed (no password hash)."""

    id: int
    source: str
    name: str
    is_admin: bool
    disabled: bool
    display_name: str | None
    created_at: int
    last_login_at: int | None
    dn: str | None


_INFO = (
    _user.c.id,
    _user.c.source,
    _user.c.name,
    _user.c.is_admin,
    _user.c.disabled,
    _user.c.display_name,
    _user.c.created_at,
    _user.c.last_login_at,
    _user.c.dn,
)


def _info(row: Sequence[Any]) -> UserInfo:
    return UserInfo(row[0], row[1], row[2], bool(row[3]), bool(row[4]), *row[5:])


def list_users(conn: Connection) -> list[UserInfo]:
    query = select(*_INFO).order_by(_user.c.source != "local", _user.c.source, _user.c.name)
    return [_info(row) for row in conn.execute(query)]


def user_info(conn: Connection, user_id: int) -> UserInfo | None:
    row = conn.execute(select(*_INFO).where(_user.c.id == user_id)).first()
    return _info(row) if row else None


def user_info_by_name(conn: Connection, source: str, name: str) -> UserInfo | None:
    row = conn.execute(select(*_INFO).where(_user.c.source == source, _user.c.name == name)).first()
    return _info(row) if row else None


def users_by_ids(conn: Connection, user_ids: list[int]) -> list[UserInfo]:
    query = select(*_INFO).where(_user.c.id.in_(user_ids)).order_by(_user.c.source, _user.c.name)
    return [_info(row) for row in conn.execute(query)]


def count_active_admins(conn: Connection) -> int:
    query = select(func.count()).where(_user.c.is_admin.is_(True), _user.c.disabled.is_(False))
    return int(conn.execute(query).scalar_one())


def update_user(
    conn: Connection, user_id: int, *, is_admin: bool | None = None, disabled: bool | None = None
) -> None:
    values: dict[str, bool] = {}
    if is_admin is not None:
        values["is_admin"] = is_admin
    if disabled is not None:
        values["disabled"] = disabled
    if values:
        conn.execute(update(_user).where(_user.c.id == user_id).values(**values))


def set_password_hash(conn: Connection, user_id: int, password_hash: str) -> None:
    conn.execute(update(_user).where(_user.c.id == user_id).values(password_hash=password_hash))


def delete_user(conn: Connection, user_id: int) -> None:
    """Removes the user; their grants, memberships and personal tokens go with them (the
    foreign keys cascade)."""
    conn.execute(delete(_user).where(_user.c.id == user_id))
