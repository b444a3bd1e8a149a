"""Checks credentials, with a per-worker cache that never outlives a change of access.

argon2 costs tens of milliseconds by design, directory binds cost a round trip, and Basic-
auth clients send credentials on every request: a successful check is remembered (keyed by a
keyed BLAKE2 of the credentials, never the password itself) while the access generation is
unchanged. When it moves, the cached sign-in is re-validated against its row (the password
hash or secret it was checked against must be unchanged); a disabled user or a revoked or
expired robot is refused on the next request whatever the cache holds (pitfalls §19, §25).
Directory sign-ins are reused for a bounded time, then bound again.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import secrets
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

import anyio

from dockyard.auth.permissions import is_active
from dockyard.auth.principals import Principal
from dockyard.auth.sign_in import SignIn, SignInRefused, Verified
from dockyard.auth.snapshot import AccessCache, AccessSnapshot

__all__ = ["Authenticator", "SignInRefused"]

_CACHE_SIZE = 4096
_CHECK_CONCURRENCY = 8


@dataclass(slots=True)
class _Cached:
    verified: Verified
    generation: int
    reuse_until: float | None  # monotonic; directory sign-ins only


class Authenticator:
    def __init__(self, sign_in: SignIn, access: AccessCache) -> None:
        self._sign_in = sign_in
        self._access = access
        self._key = secrets.token_bytes(32)
        self._cache: OrderedDict[bytes, _Cached] = OrderedDict()
        self._pending: dict[bytes, asyncio.Future[Principal | None]] = {}
        self._limiter = anyio.CapacityLimiter(_CHECK_CONCURRENCY)

    def _cache_key(self, *parts: str) -> bytes:
        message = "\0".join(parts).encode()
        return hashlib.blake2b(message, key=self._key, digest_size=32).digest()

    async def authenticate(
        self,
        username: str,
        password: str,
        address: str | None = None,
        snapshot: AccessSnapshot | None = None,
    ) -> Principal | None:
        """The principal for these credentials (a password, a robot secret or a personal
        token), else None. Raises SignInRefused when no check may be made now. `snapshot`
        is the caller's current one, if it has it already."""
        if not username or not password:
            return None
        key = self._cache_key("p", username, password)
        check = functools.partial(self._sign_in.check, username, password, address)
        return await self._cached(key, check, snapshot)

    async def authenticate_secret(
        self, secret: str, address: str | None = None
    ) -> Principal | None:
        """The principal for a robot secret or personal token sent on its own."""
        if not secret:
            return None
        key = self._cache_key("s", secret)
        check = functools.partial(self._sign_in.check_secret, secret, address)
        return await self._cached(key, check, None)

    async def _cached(
        self, key: bytes, check: Callable[[], Verified | None], snapshot: AccessSnapshot | None
    ) -> Principal | None:
        if snapshot is None:
            snapshot = await self._access.current()
        entry = self._cache.get(key)
        if entry is not None:
            principal = await self._reuse(key, entry, snapshot.generation)
            if principal is not None:
                return principal if is_active(snapshot, principal) else None
        # Single flight: a client opening 32 connections at once pays one check, not 32.
        pending = self._pending.get(key)
        if pending is not None:
            return await pending
        future: asyncio.Future[Principal | None] = asyncio.get_running_loop().create_future()
        self._pending[key] = future
        try:
            verified = await anyio.to_thread.run_sync(check, limiter=self._limiter)
            principal = self._remember(key, verified, snapshot.generation)
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()  # retrieved: waiters re-raise it; none is fine too
            raise
        else:
            future.set_result(principal)
            return principal
        finally:
            del self._pending[key]

    async def _reuse(self, key: bytes, entry: _Cached, generation: int) -> Principal | None:
        verified = entry.verified
        now = time.monotonic()
        if entry.reuse_until is not None and now >= entry.reuse_until:
            return None
        if verified.expires_at is not None and time.time() >= verified.expires_at:
            self._cache.pop(key, None)
            return None
        if entry.generation != generation:
            if not await anyio.to_thread.run_sync(self._sign_in.still_valid, verified):
                self._cache.pop(key, None)
                return None
            entry.generation = generation
        return verified.principal

    def _remember(self, key: bytes, verified: Verified | None, generation: int) -> Principal | None:
        if verified is None:
            self._cache.pop(key, None)
            return None
        reuse_until = None
        if verified.reusable_for is not None:
            reuse_until = time.monotonic() + verified.reusable_for
        self._cache[key] = _Cached(verified, generation, reuse_until)
        if len(self._cache) > _CACHE_SIZE:
            self._cache.popitem(last=False)
        return verified.principal
