"""Queries on console sessions (the service is auth/sessions.py). Ids arrive hashed."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Connection, delete, insert, or_, select, update

from dockyard.metadata.models import ConsoleSession, User, table_of

__all__ = [
    "SessionRow",
    "add_session",
    "delete_expired_sessions",
    "delete_session",
    "delete_user_sessions",
    "session_by_hash",
    "touch_session",
]

_session = table_of(ConsoleSession)
_user = table_of(User)


@dataclass(frozen=True, slots=True)
class SessionRow:
    """A session with the user it belongs to (name and source as the user row has them)."""

    id_hash: str
    user_id: int
    created_at: int
    last_seen_at: int
    expires_at: int
    csrf_token: str
    by_token: bool
    address: str | None
    user_agent: str | None
    user_name: str
    user_source: str
    user_is_admin: bool


def add_session(conn: Connection, row: SessionRow) -> None:
    conn.execute(
        insert(_session).values(
            id_hash=row.id_hash,
            user_id=row.user_id,
            created_at=row.created_at,
            last_seen_at=row.last_seen_at,
            expires_at=row.expires_at,
            csrf_token=row.csrf_token,
            by_token=row.by_token,
            address=row.address,
            user_agent=row.user_agent,
        )
    )


def session_by_hash(conn: Connection, id_hash: str) -> SessionRow | None:
    query = (
        select(
            _session.c.id_hash,
            _session.c.user_id,
            _session.c.created_at,
            _session.c.last_seen_at,
            _session.c.expires_at,
            _session.c.csrf_token,
            _session.c.by_token,
            _session.c.address,
            _session.c.user_agent,
            _user.c.name,
            _user.c.source,
            _user.c.is_admin,
        )
        .join(_user, _user.c.id == _session.c.user_id)
        .where(_session.c.id_hash == id_hash)
    )
    row = conn.execute(query).first()
    return SessionRow(*tuple(row)) if row else None


def touch_session(conn: Connection, id_hash: str, now: int) -> None:
    conn.execute(update(_session).where(_session.c.id_hash == id_hash).values(last_seen_at=now))


def delete_session(conn: Connection, id_hash: str) -> bool:
    """Whether the session existed."""
    return conn.execute(delete(_session).where(_session.c.id_hash == id_hash)).rowcount > 0


def delete_user_sessions(conn: Connection, user_id: int) -> int:
    return conn.execute(delete(_session).where(_session.c.user_id == user_id)).rowcount


def delete_expired_sessions(conn: Connection, now: int, idle_seconds: int) -> int:
    """Removes sessions past their lifetime or idle for `idle_seconds`; returns how many."""
    stale = or_(_session.c.expires_at <= now, _session.c.last_seen_at <= now - idle_seconds)
    return conn.execute(delete(_session).where(stale)).rowcount
