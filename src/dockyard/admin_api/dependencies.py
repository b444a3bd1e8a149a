"""Who is calling, declared once per route: `Caller` (anyone signed in) or `AdminCaller`
(registry admins). The services then check each object (auth.manage).

Credentials: `Authorization: Basic` (a password, a personal token or a robot secret as the
password) or `Authorization: Bearer <personal token or robot secret>`; without an
Authorization header, the console's session cookie. Without valid ones the answer is 401
with a Basic challenge; a sign-in that may not be tried now (too many failures) is 429 with
Retry-After; a directory that cannot be asked is 401 with the reason.

A browser sends the session cookie on its own, so a cookie alone does not prove that the
console made the request: every cookie-authenticated request other than GET, HEAD and
OPTIONS must also carry the session's CSRF token in `X-CSRF-Token` (403 DENIED otherwise).
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request

from dockyard.admin_api.errors import ApiRefusal
from dockyard.auth.authenticator import Authenticator, SignInRefused
from dockyard.auth.manage import ManageContext
from dockyard.auth.permissions import is_active, is_registry_admin
from dockyard.auth.principals import Principal
from dockyard.auth.sessions import SESSION_COOKIE, SessionService, csrf_matches
from dockyard.registry.upstream.imports import Importer

__all__ = [
    "Address",
    "AdminCaller",
    "ApiState",
    "Caller",
    "Context",
    "Imports",
    "current_principal",
    "registry_admin",
]

_CHALLENGE = {"WWW-Authenticate": 'Basic realm="dockyard"'}
_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
_CSRF_HEADER = "x-csrf-token"


@dataclass(frozen=True)
class ApiState:
    """Kept in `app.state.admin`: what the dependencies hand to the routes."""

    context: ManageContext
    authenticator: Authenticator | None
    operator: Principal | None  # set: every request acts as this principal (local CLI)
    sessions: SessionService | None = None  # set: the console's session cookie signs in too
    importer: Importer | None = None  # upstreams and syncs (None: those routes answer 503)


def _state(request: Request) -> ApiState:
    state = request.app.state.admin
    if not isinstance(state, ApiState):  # pragma: no cover - set by create_admin_api
        raise TypeError("admin API state missing")
    return state


def _unauthorized(message: str) -> ApiRefusal:
    return ApiRefusal(401, "UNAUTHORIZED", message, dict(_CHALLENGE))


def _basic(value: str) -> tuple[str, str] | None:
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
    username, sep, password = decoded.partition(":")
    return (username, password) if sep else None


async def client_address(request: Request) -> str | None:
    return request.client.host if request.client else None


Address = Annotated[str | None, Depends(client_address)]


async def current_principal(request: Request, address: Address) -> Principal:
    state = _state(request)
    if state.operator is not None:
        return state.operator
    if state.authenticator is None:  # pragma: no cover - create_admin_api requires one
        raise _unauthorized("no sign-in configured")
    if "authorization" not in request.headers and SESSION_COOKIE in request.cookies:
        return await _session_principal(request, state)
    scheme, _, value = request.headers.get("authorization", "").partition(" ")
    principal = None
    try:
        if scheme.lower() == "basic" and (pair := _basic(value)) is not None:
            principal = await state.authenticator.authenticate(*pair, address)
        elif scheme.lower() == "bearer" and value.strip():
            principal = await state.authenticator.authenticate_secret(value.strip(), address)
    except SignInRefused as refused:
        if refused.retry_after is not None:
            retry = {"Retry-After": str(refused.retry_after)}
            raise ApiRefusal(429, "TOOMANYREQUESTS", refused.message, retry) from None
        raise _unauthorized(refused.message) from None
    if principal is None:
        raise _unauthorized("authentication required")
    return principal


async def _session_principal(request: Request, state: ApiState) -> Principal:
    """The console session's user; unsafe methods also need the session's CSRF token."""
    if state.sessions is None:
        raise _unauthorized("authentication required")
    session = await state.sessions.resolve(request.cookies.get(SESSION_COOKIE))
    if session is None:
        raise _unauthorized("the console session has ended: sign in again")
    if request.method not in _SAFE_METHODS and not csrf_matches(
        session.csrf_token, request.headers.get(_CSRF_HEADER)
    ):
        raise ApiRefusal(
            403, "DENIED", "a request signed in by the session cookie needs its X-CSRF-Token"
        )
    return session.principal


Caller = Annotated[Principal, Depends(current_principal)]


async def manage_context(request: Request) -> ManageContext:
    return _state(request).context


Context = Annotated[ManageContext, Depends(manage_context)]


async def registry_admin(caller: Caller, context: Context) -> Principal:
    snapshot = await context.access.current()
    if not (is_active(snapshot, caller) and is_registry_admin(snapshot, caller)):
        raise ApiRefusal(403, "DENIED", "only registry admins may do this")
    return caller


AdminCaller = Annotated[Principal, Depends(registry_admin)]


async def importer(request: Request) -> Importer:
    found = _state(request).importer
    if found is None:
        raise ApiRefusal(503, "UNAVAILABLE", "imports are not set up in this process")
    return found


Imports = Annotated[Importer, Depends(importer)]
