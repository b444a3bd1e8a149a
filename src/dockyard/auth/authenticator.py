"""Checks username/password pairs, with a cache that never outlives a password change.

argon2 costs tens of milliseconds by design, and Basic-auth clients send the password on
every request: a verified pair is remembered (keyed by an HMAC, never the password) and
re-checked against the user's row whenever the database changed since, so a password
change or a disabled account takes effect on the next request (pitfalls §19, §25).
"""

from __future__ import annotations

import asyncio
import hashlib
import secrets
import time
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

import anyio
from sqlalchemy import Connection

from dockyard.auth.passwords import generate_password, hash_password, verify_password
from dockyard.auth.principals import Principal
from dockyard.metadata.db import Database
from dockyard.metadata.queries import audit, users

__all__ = ["Authenticator", "bootstrap_admin"]

_CACHE_SIZE = 4096
ADMIN_NAME = "admin"


@dataclass(slots=True)
class _Verified:
    principal: Principal
    password_hash: str
    generation: int


def _principal(row: users.UserRow) -> Principal:
    return Principal(subject=f"{row.source}:{row.id}", name=row.name, is_admin=row.is_admin)


class Authenticator:
    def __init__(self, db: Database, hash_concurrency: int = 2) -> None:
        self._db = db
        self._key = secrets.token_bytes(32)
        self._verified: OrderedDict[bytes, _Verified] = OrderedDict()
        self._limiter = anyio.CapacityLimiter(hash_concurrency)
        self._pending: dict[bytes, asyncio.Future[Principal | None]] = {}

    def _cache_key(self, username: str, password: str) -> bytes:
        # Keyed BLAKE2 is a MAC (and a few µs cheaper than the hmac module on this path).
        message = f"{username}\0{password}".encode()
        return hashlib.blake2b(message, key=self._key, digest_size=32).digest()

    def _lookup(self, username: str) -> users.UserRow | None:
        with self._db.read() as conn:
            return users.user_by_name(conn, username)

    async def authenticate(self, username: str, password: str) -> Principal | None:
        """The principal for valid local credentials, else None."""
        if not username or not password:
            return None
        key = self._cache_key(username, password)
        generation = self._db.generation()
        cached = self._verified.get(key)
        if cached is not None and cached.generation == generation:
            return cached.principal
        # Single flight: a client opening 32 connections at once pays one check, not 32.
        pending = self._pending.get(key)
        if pending is not None:
            return await pending
        future: asyncio.Future[Principal | None] = asyncio.get_running_loop().create_future()
        self._pending[key] = future
        try:
            principal = await self._check(key, username, password, cached, generation)
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()  # retrieved: waiters re-raise it; none is fine too
            raise
        else:
            future.set_result(principal)
            return principal
        finally:
            del self._pending[key]

    async def _check(
        self, key: bytes, username: str, password: str, cached: _Verified | None, generation: int
    ) -> Principal | None:
        row = await anyio.to_thread.run_sync(self._lookup, username)
        if (
            row is not None
            and cached is not None
            and not row.disabled
            and row.password_hash == cached.password_hash
        ):
            cached.generation = generation
            cached.principal = _principal(row)
            return cached.principal
        ok = await anyio.to_thread.run_sync(
            verify_password, row.password_hash if row else None, password, limiter=self._limiter
        )
        if row is None or row.disabled or not ok or row.password_hash is None:
            self._verified.pop(key, None)
            return None
        principal = _principal(row)
        self._verified[key] = _Verified(principal, row.password_hash, generation)
        if len(self._verified) > _CACHE_SIZE:
            self._verified.popitem(last=False)
        return principal


def bootstrap_admin(db: Database, password: str | None, data_dir: Path) -> str | None:
    """Create the initial `admin` on an empty user table.

    Returns the generated password when one had to be made up (the caller prints it once);
    it is also written to a 0600 file in the data directory, never logged.
    """
    generated = None if password else generate_password()
    secret = password or generated or ""
    with db.write() as conn:
        if users.count_users(conn) > 0:
            return None
        _create_admin(conn, secret)
    if generated is not None:
        path = data_dir / "initial-admin-password"
        path.touch(mode=0o600)
        path.write_text(generated + "\n")
    return generated


def _create_admin(conn: Connection, password: str) -> None:
    now = int(time.time())
    users.add_user(conn, ADMIN_NAME, hash_password(password), is_admin=True, now=now)
    audit.record(conn, at=now, actor=None, action="user.create", target=ADMIN_NAME,
                 detail={"admin": True, "reason": "initial administrator"})  # fmt: skip
