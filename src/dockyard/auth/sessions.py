"""Console sessions: server-side, revocable, rotated at every sign-in (pitfalls §28).

The browser holds a random 256-bit id; the database holds only its SHA-256, with the user,
a per-session CSRF token, and three times: created, last seen, absolute expiry. A session
ends when the user signs out (the row is deleted), when it has been idle for `idle_seconds`
or lived `lifetime_seconds`, or when its user is disabled or removed (checked on every
request against the worker's access snapshot). Expired rows are deleted lazily: the one a
request brings, and all of them at each sign-in.
"""

from __future__ import annotations

import hashlib
import secrets
import time
from dataclasses import dataclass

import anyio

from dockyard.auth.permissions import is_active
from dockyard.auth.principals import Principal, PrincipalKind
from dockyard.auth.snapshot import AccessCache
from dockyard.metadata.db import Database
from dockyard.metadata.queries import sessions as queries
from dockyard.metadata.queries.sessions import SessionRow

__all__ = ["LIFETIME_SECONDS", "SESSION_COOKIE", "Session", "SessionService", "csrf_matches"]

# The cookie's name lives here, not in the console: the admin API accepts it too.
SESSION_COOKIE = "dockyard_session"
LIFETIME_SECONDS = 12 * 3600
# last_seen is written at most this often per session: idle timeouts are minutes long, and a
# write per page view would queue every request behind SQLite's one writer.
_TOUCH_INTERVAL_SECONDS = 60
_MAX_USER_AGENT = 512
_MAX_ADDRESS = 64


@dataclass(frozen=True, slots=True)
class Session:
    """A live session as a request sees it."""

    principal: Principal
    csrf_token: str
    created_at: int
    expires_at: int


def csrf_matches(expected: str | None, given: str | None) -> bool:
    """Whether `given` is the session's CSRF token (compared in constant time)."""
    if not expected or not given:
        return False
    return secrets.compare_digest(expected.encode(), given.encode())


def _hash(session_id: str) -> str:
    return hashlib.sha256(session_id.encode()).hexdigest()


def _principal(row: SessionRow) -> Principal:
    name = row.user_name if row.user_source == "local" else f"{row.user_source}\\{row.user_name}"
    return Principal.user(row.user_id, name, row.user_is_admin, by_token=row.by_token)


class SessionService:
    def __init__(
        self,
        db: Database,
        access: AccessCache,
        *,
        idle_seconds: int,
        lifetime_seconds: int = LIFETIME_SECONDS,
    ) -> None:
        self._db = db
        self._access = access
        self.idle_seconds = idle_seconds
        self.lifetime_seconds = lifetime_seconds

    async def start(
        self, principal: Principal, address: str | None, user_agent: str | None
    ) -> tuple[str, Session]:
        """A new session for a signed-in user: (the id for the cookie, the session). Always
        a fresh id: whatever id the browser brought is never reused (session fixation)."""
        if principal.kind is not PrincipalKind.USER:
            raise ValueError("only users sign in to the console")
        session_id = secrets.token_urlsafe(32)  # 256 bits
        now = int(time.time())
        row = SessionRow(
            id_hash=_hash(session_id),
            user_id=principal.id,
            created_at=now,
            last_seen_at=now,
            expires_at=now + self.lifetime_seconds,
            csrf_token=secrets.token_urlsafe(32),
            by_token=principal.by_token,
            address=address[:_MAX_ADDRESS] if address else None,
            user_agent=user_agent[:_MAX_USER_AGENT] if user_agent else None,
            user_name=principal.name,
            user_source="",
            user_is_admin=principal.is_admin,
        )

        def write() -> None:
            with self._db.write() as conn:
                queries.delete_expired_sessions(conn, now, self.idle_seconds)
                queries.add_session(conn, row)

        await anyio.to_thread.run_sync(write)
        return session_id, Session(principal, row.csrf_token, now, row.expires_at)

    async def resolve(self, session_id: str | None) -> Session | None:
        """The live session for a cookie value, else None (unknown, expired, or its user
        disabled or gone). Refreshes the idle clock."""
        if not session_id or len(session_id) > 128:
            return None
        id_hash = _hash(session_id)
        now = int(time.time())

        def read() -> SessionRow | None:
            with self._db.read() as conn:
                return queries.session_by_hash(conn, id_hash)

        row = await anyio.to_thread.run_sync(read)
        if row is None:
            return None
        if row.expires_at <= now or row.last_seen_at <= now - self.idle_seconds:
            await self._delete(id_hash)
            return None
        principal = _principal(row)
        snapshot = await self._access.current()
        if not is_active(snapshot, principal):
            await self._delete(id_hash)  # disabled: re-enabling must not revive it
            return None
        if now - row.last_seen_at >= _TOUCH_INTERVAL_SECONDS:
            await anyio.to_thread.run_sync(self._touch, id_hash, now)
        return Session(principal, row.csrf_token, row.created_at, row.expires_at)

    async def end(self, session_id: str | None) -> bool:
        """Signs out: deletes the session. Whether there was one."""
        if not session_id or len(session_id) > 128:
            return False
        return await self._delete(_hash(session_id))

    def end_all_for_user(self, user_id: int) -> int:
        """Deletes every session of a user (blocking: call from a thread)."""
        with self._db.write() as conn:
            return queries.delete_user_sessions(conn, user_id)

    def _touch(self, id_hash: str, now: int) -> None:
        with self._db.write() as conn:
            queries.touch_session(conn, id_hash, now)

    async def _delete(self, id_hash: str) -> bool:
        def write() -> bool:
            with self._db.write() as conn:
                return queries.delete_session(conn, id_hash)

        return await anyio.to_thread.run_sync(write)
