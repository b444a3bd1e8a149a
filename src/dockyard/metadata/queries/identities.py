"""Queries of sign-in: directory accounts linked on their stable id, their group memberships,
robot and personal-token secrets, and failed sign-ins for backoff."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Connection, delete, insert, select, update

from dockyard.metadata.locks import lock_names
from dockyard.metadata.models import (
    AccessToken,
    GroupMember,
    LoginFailure,
    Robot,
    User,
    UserGroup,
    table_of,
)
from dockyard.metadata.queries._upsert import insert_ignore
from dockyard.metadata.queries.access import bump_generation

__all__ = [
    "SecretRow",
    "clear_failures",
    "ensure_directory_group",
    "expire_failures",
    "failure_state",
    "link_directory_user",
    "mark_secret_used",
    "personal_token",
    "record_failure",
    "robot_secret",
    "sync_directory_groups",
    "touch_login",
]

_user = table_of(User)
_group = table_of(UserGroup)
_member = table_of(GroupMember)
_robot = table_of(Robot)
_token = table_of(AccessToken)
_failure = table_of(LoginFailure)


def link_directory_user(
    conn: Connection,
    source: str,
    external_id: str,
    name: str,
    dn: str,
    display_name: str | None,
    now: int,
) -> int:
    """The user row for a directory account, found by its stable id and created on first
    sight; a renamed account keeps its row (and grants), its name and DN follow the directory.

    A row made by name before the account was seen (a grant ahead of the first sign-in)
    has no external id yet and is claimed here.

    Two replicas may see a new account at once (a client fetches tokens in parallel): the
    lock on its stable id, held to commit, makes the second find the first one's row (and
    its memberships, synced in the same transaction) instead of inserting it again.
    """
    lock_names(conn, [f"directory-user:{source}:{external_id}"])
    row = conn.execute(
        select(_user.c.id, _user.c.name, _user.c.dn, _user.c.display_name).where(
            _user.c.source == source, _user.c.external_id == external_id
        )
    ).first()
    if row is None:
        row = conn.execute(
            select(_user.c.id, _user.c.name, _user.c.dn, _user.c.display_name).where(
                _user.c.source == source, _user.c.name == name, _user.c.external_id.is_(None)
            )
        ).first()
    if row is None:
        # The name may still be held by a renamed-away account that has not signed in
        # since; it gives the name up (its own row keeps its id and grants).
        conn.execute(
            update(_user)
            .where(_user.c.source == source, _user.c.name == name)
            .values(name=_user.c.name + "~" + _user.c.id.cast(_user.c.name.type))
        )
        result = conn.execute(
            insert(_user).values(
                source=source, name=name, external_id=external_id, dn=dn,
                display_name=display_name, password_hash=None, is_admin=False,
                disabled=False, created_at=now,
            )
        )  # fmt: skip
        bump_generation(conn)
        return int(result.inserted_primary_key[0])  # type: ignore[index]
    user_id = int(row[0])
    if (row[1], row[2], row[3]) != (name, dn, display_name):
        conn.execute(
            update(_user)
            .where(_user.c.id == user_id)
            .values(name=name, dn=dn, display_name=display_name, external_id=external_id)
        )
    return user_id


def ensure_directory_group(conn: Connection, source: str, name: str, dn: str, now: int) -> int:
    """The group row of a directory group, created on first sight; its DN follows."""
    if insert_ignore(
        conn, _group, {"source": source, "name": name, "dn": dn, "created_at": now},
        ["source", "name"],
    ):  # fmt: skip
        bump_generation(conn)
    group_id, stored_dn = conn.execute(
        select(_group.c.id, _group.c.dn).where(_group.c.source == source, _group.c.name == name)
    ).one()
    if stored_dn != dn:
        conn.execute(update(_group).where(_group.c.id == group_id).values(dn=dn))
    return int(group_id)


def sync_directory_groups(
    conn: Connection, user_id: int, source: str, groups: list[tuple[str, str]], now: int
) -> None:
    """Make the user's memberships in `source`'s groups exactly `groups` ((name, dn) pairs),
    as the directory said at this sign-in. Local groups are left alone."""
    wanted = {ensure_directory_group(conn, source, name, dn, now) for name, dn in groups}
    current = set(
        conn.execute(
            select(_member.c.group_id)
            .join(_group, _group.c.id == _member.c.group_id)
            .where(_member.c.user_id == user_id, _group.c.source == source)
        ).scalars()
    )
    if wanted == current:
        return
    if current - wanted:
        conn.execute(
            delete(_member).where(
                _member.c.user_id == user_id, _member.c.group_id.in_(current - wanted)
            )
        )
    for group_id in wanted - current:
        conn.execute(insert(_member).values(group_id=group_id, user_id=user_id))
    bump_generation(conn)


def touch_login(conn: Connection, user_id: int, now: int) -> None:
    conn.execute(update(_user).where(_user.c.id == user_id).values(last_login_at=now))


@dataclass(frozen=True, slots=True)
class SecretRow:
    id: int
    owner_id: int  # the robot's own id, or the token's user
    name: str
    secret_hash: str
    expires_at: int | None
    revoked_at: int | None


def robot_secret(conn: Connection, robot_id: int) -> SecretRow | None:
    row = conn.execute(
        select(_robot.c.id, _robot.c.id, _robot.c.name, _robot.c.secret_hash,
               _robot.c.expires_at, _robot.c.revoked_at).where(_robot.c.id == robot_id)
    ).first()  # fmt: skip
    return SecretRow(*row) if row else None


def personal_token(conn: Connection, token_id: int) -> SecretRow | None:
    row = conn.execute(
        select(_token.c.id, _token.c.user_id, _token.c.name, _token.c.secret_hash,
               _token.c.expires_at, _token.c.revoked_at).where(_token.c.id == token_id)
    ).first()  # fmt: skip
    return SecretRow(*row) if row else None


def mark_secret_used(conn: Connection, kind: str, row_id: int, now: int) -> None:
    table = _robot if kind == "robot" else _token
    conn.execute(update(table).where(table.c.id == row_id).values(last_used_at=now))


def failure_state(conn: Connection, keys: list[str]) -> dict[str, tuple[int, int]]:
    """key -> (failures, blocked_until) for the keys that have failures on record."""
    rows = conn.execute(
        select(_failure.c.key, _failure.c.failures, _failure.c.blocked_until).where(
            _failure.c.key.in_(keys)
        )
    )
    return {key: (failures, blocked) for key, failures, blocked in rows}


def record_failure(
    conn: Connection, key: str, now: int, window: int, limit: int, backoff: int
) -> None:
    """Count a failure; at `limit` failures within `window` seconds the key is blocked for
    `backoff` seconds, doubling with each further failure (capped at one hour).

    Failures of one key may come at once through several replicas (a password sprayed in
    parallel): the row is made if missing and then read FOR UPDATE, so on PostgreSQL each
    failure counts on top of the previous one instead of two reading the same count (or
    both inserting). SQLite's one writer gives the same order."""
    fresh = {"key": key, "failures": 0, "first_at": now, "last_at": now, "blocked_until": 0}
    insert_ignore(conn, _failure, fresh, ["key"])
    counted, first_at = conn.execute(
        select(_failure.c.failures, _failure.c.first_at)
        .where(_failure.c.key == key)
        .with_for_update()
    ).one()
    if now - first_at > window:
        counted, first_at = 0, now
    failures = counted + 1
    blocked_until = 0
    if failures >= limit:
        blocked_until = now + min(3600, backoff * 2 ** min(failures - limit, 12))
    values = {"failures": failures, "first_at": first_at, "last_at": now,
              "blocked_until": blocked_until}  # fmt: skip
    conn.execute(update(_failure).where(_failure.c.key == key).values(**values))


def clear_failures(conn: Connection, keys: list[str]) -> None:
    conn.execute(delete(_failure).where(_failure.c.key.in_(keys)))


def expire_failures(conn: Connection, before: int) -> int:
    return conn.execute(delete(_failure).where(_failure.c.last_at < before)).rowcount
