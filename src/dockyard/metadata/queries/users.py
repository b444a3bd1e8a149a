"""Queries on users."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Connection, func, insert, select

from dockyard.metadata.models import User, table_of

_user = table_of(User)


@dataclass(frozen=True, slots=True)
class UserRow:
    id: int
    source: str
    name: str
    password_hash: str | None
    is_admin: bool
    disabled: bool


def user_by_name(conn: Connection, name: str, source: str = "local") -> UserRow | None:
    row = conn.execute(
        select(
            _user.c.id,
            _user.c.source,
            _user.c.name,
            _user.c.password_hash,
            _user.c.is_admin,
            _user.c.disabled,
        ).where(_user.c.source == source, _user.c.name == name)
    ).first()
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
