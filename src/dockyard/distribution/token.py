"""The Docker token endpoint (`/auth/token`): GET with Basic, and the OAuth2 POST form.

It grants the intersection of what is asked and what is allowed, which may be nothing;
the registry refuses later (distribution's token.md). No refresh tokens are issued, so
Docker keeps using GET with credentials it holds (conformance-and-clients.md §2.8).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from urllib.parse import parse_qs

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from dockyard.auth.authenticator import Authenticator, SignInRefused
from dockyard.auth.permissions import granted_actions
from dockyard.auth.principals import ANONYMOUS, Principal
from dockyard.auth.scopes import Scope, parse_scopes
from dockyard.auth.snapshot import AccessCache
from dockyard.auth.tokens import TokenService
from dockyard.distribution.access import basic_credentials, client_address

__all__ = ["TokenEndpoint"]

_MAX_FORM_BYTES = 64 * 1024


def _unauthorized(message: str) -> Response:
    body = {"errors": [{"code": "UNAUTHORIZED", "message": message}]}
    return Response(
        json.dumps(body), status_code=401, media_type="application/json",
        headers={"WWW-Authenticate": 'Basic realm="dockyard"'},
    )  # fmt: skip


def _refused(refused: SignInRefused) -> Response:
    if refused.retry_after is None:
        return _unauthorized(refused.message)
    body = {"errors": [{"code": "TOOMANYREQUESTS", "message": refused.message}]}
    return Response(
        json.dumps(body), status_code=429, media_type="application/json",
        headers={"Retry-After": str(refused.retry_after)},
    )  # fmt: skip


class TokenEndpoint:
    def __init__(
        self, authenticator: Authenticator, tokens: TokenService, access: AccessCache
    ) -> None:
        self._authenticator = authenticator
        self._tokens = tokens
        self._access = access

    async def _grant(self, principal: Principal, scopes: list[Scope]) -> list[Scope]:
        snapshot = await self._access.current()
        granted = []
        for scope in scopes:
            actions = granted_actions(snapshot, principal, scope.type, scope.name, scope.actions)
            if actions:
                granted.append(Scope(scope.type, scope.name, actions))
        return granted

    async def _issue(self, principal: Principal, scopes: list[Scope]) -> dict[str, object]:
        granted = await self._grant(principal, scopes)
        token, issued_at, expires_in = self._tokens.issue(
            principal.subject, principal.name, principal.is_admin, granted
        )
        return {
            "token": token,
            "access_token": token,
            "expires_in": expires_in,
            "issued_at": datetime.fromtimestamp(issued_at, UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "scope": " ".join(s.render() for s in granted),
        }

    async def get(self, request: Request) -> Response:
        principal = ANONYMOUS
        header = request.headers.get("authorization", "")
        if header:
            credentials = basic_credentials(header)
            try:
                found = (
                    await self._authenticator.authenticate(*credentials, client_address(request))
                    if credentials
                    else None
                )
            except SignInRefused as refused:
                return _refused(refused)
            if found is None:
                return _unauthorized("invalid username or password")
            principal = found
        scopes = parse_scopes(request.query_params.getlist("scope"))
        answer = await self._issue(principal, scopes)
        return JSONResponse(answer, headers={"Cache-Control": "no-store"})

    async def post(self, request: Request) -> Response:
        body = await request.body()
        if len(body) > _MAX_FORM_BYTES:
            return JSONResponse({"error": "invalid_request"}, status_code=400)
        fields = parse_qs(body.decode("utf-8", "replace"))
        form = {key: values[0] for key, values in fields.items()}
        grant_type = form.get("grant_type")
        if grant_type != "password":
            # containerd falls back to GET on 400; Docker only POSTs with a refresh token,
            # which we never hand out.
            return JSONResponse(
                {"error": "unsupported_grant_type",
                 "error_description": "only the password grant is supported"},
                status_code=400,
            )  # fmt: skip
        username, password = form.get("username"), form.get("password")
        if not username or not password:
            return _unauthorized("username and password are required")
        try:
            principal = await self._authenticator.authenticate(
                username, password, client_address(request)
            )
        except SignInRefused as refused:
            return _refused(refused)
        if principal is None:
            return _unauthorized("invalid username or password")
        scopes = parse_scopes(fields.get("scope", []))
        answer = await self._issue(principal, scopes)
        return JSONResponse(answer, headers={"Cache-Control": "no-store"})
