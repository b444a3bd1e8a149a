"""Who is calling /v2, and may they? Bearer tokens, Basic credentials and the challenge.

Refusals follow what clients print (conformance-and-clients.md §2.1): no or bad credentials
→ 401 UNAUTHORIZED with a Bearer challenge; a token without the action → 401 with
`error="insufficient_scope"` and an `error_description` naming it; Basic credentials without
the right → 403 DENIED.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass

from starlette.requests import Request

from dockyard.auth.authenticator import Authenticator, SignInRefused
from dockyard.auth.maintenance import read_only_message
from dockyard.auth.permissions import allows, granted_actions, is_active
from dockyard.auth.principals import ANONYMOUS, Principal
from dockyard.auth.snapshot import AccessCache, AccessSnapshot
from dockyard.auth.tokens import TokenError, TokenService

__all__ = [
    "AccessControl",
    "Admitted",
    "Challenge",
    "Need",
    "Refused",
    "basic_credentials",
    "client_address",
    "sign_in_refused",
]

# The actions a challenge asks for, by the action a route needs.
_WRITE_ACTIONS = frozenset({"push", "delete"})  # the catalog's "*" is a read
_CHALLENGE_ACTIONS = {"pull": "pull", "push": "pull,push", "delete": "delete", "*": "*"}


@dataclass(frozen=True, slots=True)
class Need:
    """What a route needs: an action on a resource."""

    resource_type: str
    name: str
    action: str

    def challenge_scope(self) -> str:
        return f"{self.resource_type}:{self.name}:{_CHALLENGE_ACTIONS[self.action]}"


@dataclass(frozen=True, slots=True)
class Challenge:
    scopes: tuple[str, ...] = ()
    error: str | None = None
    description: str | None = None


class Refused(Exception):
    """The request may not go on; carries what the response must say."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        challenge: Challenge | None,
        retry_after: int | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.challenge = challenge
        self.retry_after = retry_after


def client_address(request: Request) -> str | None:
    return request.client.host if request.client else None


def sign_in_refused(refused: SignInRefused, scopes: tuple[str, ...] = ()) -> Refused:
    """A check that could not be made: too many failures (429) or a directory down (401)."""
    if refused.retry_after is not None:
        return Refused(429, "TOOMANYREQUESTS", refused.message, None, refused.retry_after)
    return Refused(401, "UNAUTHORIZED", refused.message, Challenge(scopes))


def basic_credentials(header: str) -> tuple[str, str] | None:
    if header[:6].lower() != "basic ":
        return None
    try:
        decoded = base64.b64decode(header[6:].strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
    username, sep, password = decoded.partition(":")
    return (username, password) if sep else None


@dataclass(frozen=True, slots=True)
class Admitted:
    """A caller let through: who, which optional needs they meet, and the access snapshot
    the decision was made on (listings filter with it)."""

    principal: Principal
    optional: tuple[bool, ...]
    snapshot: AccessSnapshot


@dataclass(slots=True)
class _Caller:
    principal: Principal
    token_access: dict[tuple[str, str], frozenset[str]] | None  # None: Basic/anonymous
    snapshot: AccessSnapshot


class AccessControl:
    def __init__(
        self,
        authenticator: Authenticator,
        tokens: TokenService,
        access: AccessCache,
        read_only: bool = False,
    ) -> None:
        self.authenticator = authenticator
        self.tokens = tokens
        self.access = access
        self.read_only = read_only  # the setting; the stored switch is in each snapshot

    async def _caller(self, request: Request, needs: list[Need]) -> _Caller:
        scopes = tuple(n.challenge_scope() for n in needs)
        header = request.headers.get("authorization", "")
        snapshot = await self.access.current()
        if not header:
            return _Caller(ANONYMOUS, None, snapshot)
        if header[:7].lower() == "bearer ":
            try:
                claims = self.tokens.verify(header[7:].strip())
            except TokenError as exc:
                raise Refused(
                    401, "UNAUTHORIZED", "authentication required",
                    Challenge(scopes, "invalid_token", str(exc)),
                ) from exc  # fmt: skip
            principal = claims.principal
            if not is_active(snapshot, principal):  # disabled or revoked since the token
                raise Refused(
                    401, "UNAUTHORIZED", "authentication required",
                    Challenge(scopes, "invalid_token", "the account is disabled or revoked"),
                )  # fmt: skip
            return _Caller(principal, claims.access, snapshot)
        credentials = basic_credentials(header)
        found = None
        if credentials is not None:
            try:
                found = await self.authenticator.authenticate(*credentials, client_address(request))
            except SignInRefused as refused:
                raise sign_in_refused(refused, scopes) from refused
        if found is None:
            raise Refused(401, "UNAUTHORIZED", "invalid username or password", Challenge(scopes))
        return _Caller(found, None, snapshot)

    def _may(self, caller: _Caller, need: Need) -> bool:
        if caller.token_access is not None:
            granted = caller.token_access.get((need.resource_type, need.name), frozenset())
        else:
            granted = granted_actions(
                caller.snapshot, caller.principal, need.resource_type, need.name,
                frozenset({need.action}),
            )  # fmt: skip
        return allows(granted, need.action)

    async def require(
        self, request: Request, need: Need, optional: tuple[Need, ...] = ()
    ) -> Admitted:
        """The caller, if allowed `need`; also whether each `optional` need is allowed.

        Optional needs (the source of a cross-repository mount) never refuse: the caller
        falls back to a plain upload when they are not met.
        """
        all_needs = [need, *optional]
        caller = await self._caller(request, all_needs)
        if not self._may(caller, need):
            scopes = tuple(n.challenge_scope() for n in all_needs)
            refused = f"{need.action} on {need.resource_type}:{need.name}"
            if caller.principal.is_anonymous:
                raise Refused(401, "UNAUTHORIZED", "authentication required", Challenge(scopes))
            if caller.token_access is not None:
                raise Refused(
                    401, "DENIED", "requested access to the resource is denied",
                    Challenge(scopes, "insufficient_scope", f"access denied: {refused}"),
                )  # fmt: skip
            raise Refused(403, "DENIED", f"requested access to the resource is denied: {refused}",
                          None)  # fmt: skip
        if need.action in _WRITE_ACTIONS:
            # Checked after the permission (an anonymous push still gets its challenge, so
            # clients sign in and then show this message). 405 UNSUPPORTED, as distribution's
            # read-only mode answers; no 5xx, which clients retry (docs/design.md).
            message = read_only_message(caller.snapshot, self.read_only)
            if message is not None:
                raise Refused(405, "UNSUPPORTED", message, None)
        allowed = tuple(self._may(caller, n) for n in optional)
        if caller.token_access is not None:
            # A token that simply did not ask for an optional scope the caller holds (clients
            # reuse the push token they have for a mount): ask for a wider one, as
            # distribution does, rather than silently losing the mount.
            for wanted, granted in zip(optional, allowed, strict=True):
                if not granted and allows(
                    granted_actions(caller.snapshot, caller.principal, wanted.resource_type,
                                    wanted.name, frozenset({wanted.action})),
                    wanted.action,
                ):  # fmt: skip
                    scopes = tuple(n.challenge_scope() for n in all_needs)
                    raise Refused(
                        401, "DENIED", "requested access to the resource is denied",
                        Challenge(scopes, "insufficient_scope",
                                  f"token lacks {wanted.action} on {wanted.resource_type}:"
                                  f"{wanted.name}"),
                    )  # fmt: skip
        return Admitted(caller.principal, allowed, caller.snapshot)

    async def ping(self, request: Request) -> Principal:
        """`GET /v2/`: any valid identity passes; nobody gets the challenge (pitfalls §4)."""
        caller = await self._caller(request, [])
        if caller.principal.is_anonymous:
            raise Refused(401, "UNAUTHORIZED", "authentication required", Challenge())
        return caller.principal
