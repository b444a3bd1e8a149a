"""One sign-in check, blocking (callers run it in a worker thread): passwords of local users,
robot secrets and personal access tokens, and directory accounts; with backoff after
repeated failures, and an audit row for every check made.

Which identity a login name means (pitfalls §23): `robot$NAME` is a robot; `DIRECTORY\\name`
is that directory's account; a plain name is the local user of that name if there is one,
else the first directory that accepts the password. A directory account named `admin` is
therefore never the local `admin`: it signs in as `hackershop\\admin`, a different subject.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import Connection

from dockyard.auth.ldap import Directory, DirectoryUnavailable, DirectoryUser
from dockyard.auth.passwords import verify_password
from dockyard.auth.principals import Principal
from dockyard.auth.token_secrets import SecretKind, TokenSecret, matches, parse_secret
from dockyard.metadata.db import Database
from dockyard.metadata.queries import audit, identities, users

__all__ = ["SignIn", "SignInPolicy", "SignInRefused", "Verified"]

_log = logging.getLogger("dockyard.auth")
_ROBOT_PREFIX = "robot$"
_ADDRESS_LIMIT_FACTOR = 10  # one address may fail this many times more than one account
_MAX_NAME = 255


class SignInRefused(Exception):
    """Not a wrong password: the check could not be made (a directory is down) or may not
    be made now (too many failures). `message` is safe to show to the client."""

    def __init__(self, message: str, retry_after: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.retry_after = retry_after


@dataclass(frozen=True, slots=True)
class SignInPolicy:
    failure_limit: int = 10
    backoff_seconds: int = 60
    window_seconds: int = 900
    directory_cache_seconds: int = 120


@dataclass(frozen=True, slots=True)
class Verified:
    """A successful check. `fingerprint` is what must stay unchanged for it to stay valid
    (the password hash or secret hash); `reusable_for` bounds reuse of directory sign-ins."""

    principal: Principal
    method: str  # "password", "directory", "robot", "token"
    fingerprint: str | None = None
    credential_id: int | None = None  # the robot's or the personal token's row
    expires_at: int | None = None  # of the robot or token
    reusable_for: float | None = None


class SignIn:
    def __init__(
        self, db: Database, directories: Sequence[Directory], policy: SignInPolicy
    ) -> None:
        self._db = db
        self._directories = {d.name: d for d in directories}
        self._policy = policy
        self._argon2_slots = threading.BoundedSemaphore(2)

    # -- the check ------------------------------------------------------------------------

    def check(self, username: str, password: str, address: str | None) -> Verified | None:
        """The identity for these credentials, or None when they are wrong."""
        login = username.strip()[:_MAX_NAME]
        keys = self._failure_keys(login, address)
        self._refuse_if_blocked(keys)
        try:
            verified, reason = self._verify(login, password)
        except SignInRefused as refused:
            self._audit(None, "login.failure", address, {"user": login, "reason": refused.message})
            raise
        if verified is None:
            self._fail(keys, login, address, reason)
            return None
        self._succeed(keys, verified, address)
        return verified

    def check_secret(self, secret: str, address: str | None) -> Verified | None:
        """A robot secret or personal token sent on its own (`Authorization: Bearer`)."""
        parsed = parse_secret(secret.strip())
        keys = self._failure_keys("", address)[1:]
        self._refuse_if_blocked(keys)
        verified, reason = (None, "not a token") if parsed is None else self._secret(parsed, None)
        if verified is None:
            self._fail(keys, "(token)", address, reason)
            return None
        self._succeed(keys, verified, address)
        return verified

    def _verify(self, login: str, password: str) -> tuple[Verified | None, str]:
        if not login or not password:
            return None, "empty user name or password"
        parsed = parse_secret(password)
        if parsed is not None:
            return self._secret(parsed, login)
        if login.startswith(_ROBOT_PREFIX):
            return None, "robots sign in with their secret"
        directory_name, sep, name = login.partition("\\")
        if sep:
            directory = self._directories.get(directory_name.casefold())
            if directory is None:
                return None, f"no directory named {directory_name!r}"
            return self._directory(directory, name, password), "wrong directory credentials"
        with self._db.read() as conn:
            row = users.user_by_name(conn, login.casefold())
        if row is not None or not self._directories:
            return self._local(row, password), "wrong password or unknown user"
        unavailable: list[str] = []
        for directory in self._directories.values():
            try:
                verified = self._directory(directory, login, password)
            except SignInRefused as refused:
                unavailable.append(refused.message)
                continue
            if verified is not None:
                return verified, ""
        if unavailable:
            raise SignInRefused("; ".join(unavailable))
        return None, "wrong password or unknown user"

    def _local(self, row: users.UserRow | None, password: str) -> Verified | None:
        with self._argon2_slots:
            ok = verify_password(row.password_hash if row else None, password)
        if row is None or not ok or row.disabled or row.password_hash is None:
            return None
        principal = Principal.user(row.id, row.name, row.is_admin)
        return Verified(principal, "password", row.password_hash)

    def _directory(self, directory: Directory, name: str, password: str) -> Verified | None:
        try:
            found = directory.authenticate(name, password)
        except DirectoryUnavailable as exc:
            _log.warning("directory unavailable", extra={"fields": {"error": str(exc)}})
            raise SignInRefused(f"directory {directory.name} is unavailable") from exc
        if found is None:
            return None
        row = self._link(found)
        if row.disabled:
            return None
        principal = Principal.user(row.id, f"{row.source}\\{row.name}", row.is_admin)
        return Verified(principal, "directory", reusable_for=self._policy.directory_cache_seconds)

    def _link(self, found: DirectoryUser) -> users.UserRow:
        now = int(time.time())
        with self._db.write() as conn:
            user_id = identities.link_directory_user(
                conn, found.directory, found.external_id, found.username, found.dn,
                found.display_name, now,
            )  # fmt: skip
            groups = [(group.name, group.dn) for group in found.groups]
            identities.sync_directory_groups(conn, user_id, found.directory, groups, now)
            row = users.user_by_name(conn, found.username, source=found.directory)
        if row is None:  # pragma: no cover - linked in the same transaction
            raise RuntimeError("directory user vanished while signing in")
        return row

    def _secret(self, secret: TokenSecret, login: str | None) -> tuple[Verified | None, str]:
        now = int(time.time())
        with self._db.read() as conn:
            if secret.kind is SecretKind.ROBOT:
                row = identities.robot_secret(conn, secret.row_id)
                owner = None
            else:
                row = identities.personal_token(conn, secret.row_id)
                owner = users.user_by_id(conn, row.owner_id) if row else None
        if row is None or not matches(secret, row.secret_hash):
            return None, "unknown or wrong token"
        if row.revoked_at is not None or (row.expires_at is not None and row.expires_at <= now):
            return None, "token revoked or expired"
        if secret.kind is SecretKind.ROBOT:
            name = _ROBOT_PREFIX + row.name
            if login is not None and login.casefold() != name:
                return None, "robot secret sent with another user name"
            robot = Principal.robot(row.id, name)
            return Verified(robot, "robot", row.secret_hash, row.id, row.expires_at), ""
        if owner is None or owner.disabled:
            return None, "token owner is disabled"
        display = owner.name if owner.source == "local" else f"{owner.source}\\{owner.name}"
        if login is not None and login.casefold() not in {owner.name, display.casefold()}:
            return None, "token sent with another user name"
        principal = Principal.user(owner.id, display, owner.is_admin, by_token=True)
        return Verified(principal, "token", row.secret_hash, row.id, row.expires_at), ""

    def still_valid(self, verified: Verified) -> bool:
        """After a change to access data: whether a cached sign-in still holds (the password
        or secret it was checked against is unchanged and not revoked). Directory sign-ins
        hold until their reuse window ends; being disabled is checked on every request."""
        if verified.method == "directory":
            return True
        with self._db.read() as conn:
            if verified.method == "password":
                user = users.user_by_id(conn, verified.principal.id)
                return user is not None and user.password_hash == verified.fingerprint
            credential_id = verified.credential_id or 0
            if verified.method == "robot":
                row = identities.robot_secret(conn, credential_id)
            else:
                row = identities.personal_token(conn, credential_id)
        return (
            row is not None and row.revoked_at is None and row.secret_hash == verified.fingerprint
        )

    # -- backoff and audit ----------------------------------------------------------------

    @staticmethod
    def _failure_keys(login: str, address: str | None) -> list[str]:
        where = address or "unknown"
        return [f"user:{login.casefold()}@{where}", f"address:{where}"]

    def _limits(self, key: str) -> int:
        limit = self._policy.failure_limit
        return limit * _ADDRESS_LIMIT_FACTOR if key.startswith("address:") else limit

    def _refuse_if_blocked(self, keys: list[str]) -> None:
        now = int(time.time())
        with self._db.read() as conn:
            state = identities.failure_state(conn, keys)
        blocked_until = max((blocked for _, blocked in state.values()), default=0)
        if blocked_until > now:
            raise SignInRefused(
                "too many failed sign-ins; try again later", retry_after=blocked_until - now
            )

    def _fail(self, keys: list[str], login: str, address: str | None, reason: str) -> None:
        now = int(time.time())
        with self._db.write() as conn:
            for key in keys:
                identities.record_failure(
                    conn, key, now, self._policy.window_seconds, self._limits(key),
                    self._policy.backoff_seconds,
                )  # fmt: skip
            # Rows outlive neither the counting window nor the longest back-off (1 h).
            identities.expire_failures(conn, now - max(self._policy.window_seconds, 3600))
            self._record(conn, None, "login.failure", address, {"user": login, "reason": reason})

    def _succeed(self, keys: list[str], verified: Verified, address: str | None) -> None:
        now = int(time.time())
        principal = verified.principal
        with self._db.write() as conn:
            identities.clear_failures(conn, keys)
            if verified.credential_id is not None:
                kind = "robot" if verified.method == "robot" else "token"
                identities.mark_secret_used(conn, kind, verified.credential_id, now)
            if verified.method != "robot":
                identities.touch_login(conn, principal.id, now)
            self._record(conn, principal.name, "login.success", address,
                         {"method": verified.method})  # fmt: skip

    def _audit(
        self, actor: str | None, action: str, address: str | None, detail: dict[str, str]
    ) -> None:
        with self._db.write() as conn:
            self._record(conn, actor, action, address, detail)

    @staticmethod
    def _record(
        conn: Connection, actor: str | None, action: str, address: str | None,
        detail: dict[str, str],
    ) -> None:  # fmt: skip
        audit.record(conn, at=int(time.time()), actor=actor, action=action, target=None,
                     address=address, detail=detail)  # fmt: skip
