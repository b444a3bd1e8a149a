"""The admin API signed in by the console's session cookie (issue screen 1: CSRF protection
on the cookie-authenticated admin API): reads need only the cookie; every other method
also needs the session's token in X-CSRF-Token; an ended session is 401; an explicit
Authorization header wins over the cookie."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest
from anyio.from_thread import BlockingPortal, start_blocking_portal

from dockyard.admin_api import create_admin_api
from dockyard.auth.authenticator import Authenticator
from dockyard.auth.manage import ManageContext
from dockyard.auth.principals import Principal
from dockyard.auth.sessions import SESSION_COOKIE, SessionService
from dockyard.auth.sign_in import SignIn, SignInPolicy
from dockyard.cli.client import InProcessTransport
from fixtures.manage import PASSWORD, add_user

_IDLE_SECONDS = 900


@dataclass
class Api:
    http: httpx.Client
    portal: BlockingPortal
    sessions: SessionService

    def sign_in(self, principal: Principal, sessions: SessionService | None = None) -> str:
        """A console session for `principal`, as signing in makes it: the CSRF token.
        The client now sends its cookie."""
        service = sessions or self.sessions
        session_id, session = self.portal.call(service.start, principal, None, None)
        self.http.cookies.set(SESSION_COOKIE, session_id)
        return session.csrf_token


@pytest.fixture
def api(ctx: ManageContext) -> Iterator[Api]:
    sessions = SessionService(ctx.db, ctx.access, idle_seconds=_IDLE_SECONDS)
    authenticator = Authenticator(SignIn(ctx.db, [], SignInPolicy()), ctx.access)
    app = create_admin_api(ctx, authenticator=authenticator, sessions=sessions)
    with (
        start_blocking_portal() as portal,
        httpx.Client(
            transport=InProcessTransport(app, portal, ("10.9.8.7", 50000)),
            base_url="http://dockyard.test",
        ) as client,
    ):
        yield Api(client, portal, sessions)


def _code(response: httpx.Response) -> str:
    code: str = response.json()["errors"][0]["code"]
    return code


def _groups(api: Api) -> list[str]:
    response = api.http.get("/api/v1/groups", auth=("sarah", PASSWORD))
    assert response.status_code == 200, response.text
    return [group["name"] for group in response.json()]


def test_a_read_needs_only_the_cookie(api: Api, ctx: ManageContext) -> None:
    api.sign_in(add_user(ctx.db, "sarah", admin=True))
    me = api.http.get("/api/v1/me")
    assert me.status_code == 200, me.text
    assert (me.json()["name"], me.json()["admin"]) == ("sarah", True)
    assert api.http.get("/api/v1/users").status_code == 200


@pytest.mark.parametrize("token", [None, "", "not-the-token"])
def test_a_change_without_the_right_token_is_denied_and_changes_nothing(
    api: Api, ctx: ManageContext, token: str | None
) -> None:
    api.sign_in(add_user(ctx.db, "sarah", admin=True))
    headers = {} if token is None else {"X-CSRF-Token": token}
    response = api.http.post("/api/v1/groups", json={"name": "qa"}, headers=headers)
    assert response.status_code == 403, response.text
    assert _code(response) == "DENIED"
    assert "X-CSRF-Token" in response.json()["errors"][0]["message"]
    assert api.http.delete("/api/v1/users/sarah", headers=headers).status_code == 403
    assert _groups(api) == []
    assert api.http.get("/api/v1/users/sarah").status_code == 200


def test_a_change_with_the_sessions_token_works(api: Api, ctx: ManageContext) -> None:
    token = api.sign_in(add_user(ctx.db, "sarah", admin=True))
    headers = {"X-CSRF-Token": token}
    created = api.http.post("/api/v1/groups", json={"name": "qa"}, headers=headers)
    assert created.status_code == 201, created.text
    assert _groups(api) == ["qa"]
    assert api.http.delete("/api/v1/groups/qa", headers=headers).status_code == 204
    assert _groups(api) == []


def test_another_sessions_token_does_not_do(api: Api, ctx: ManageContext) -> None:
    sarah = add_user(ctx.db, "sarah", admin=True)
    other_token = api.sign_in(sarah)  # an older session of the same user
    api.sign_in(sarah)
    response = api.http.post(
        "/api/v1/groups", json={"name": "qa"}, headers={"X-CSRF-Token": other_token}
    )
    assert response.status_code == 403
    assert _groups(api) == []


def test_the_cookie_carries_only_its_users_rights(api: Api, ctx: ManageContext) -> None:
    add_user(ctx.db, "sarah", admin=True)
    token = api.sign_in(add_user(ctx.db, "greg"))
    assert api.http.get("/api/v1/me").json()["name"] == "greg"
    refused = api.http.post("/api/v1/groups", json={"name": "qa"}, headers={"X-CSRF-Token": token})
    assert refused.status_code == 403
    assert _groups(api) == []


def test_a_signed_out_session_is_401(api: Api, ctx: ManageContext) -> None:
    api.sign_in(add_user(ctx.db, "sarah", admin=True))
    session_id = api.http.cookies[SESSION_COOKIE]
    assert api.portal.call(api.sessions.end, session_id)
    response = api.http.get("/api/v1/me")
    assert response.status_code == 401
    assert _code(response) == "UNAUTHORIZED"
    assert api.http.post("/api/v1/groups", json={"name": "qa"}).status_code == 401


def test_an_expired_session_is_401(api: Api, ctx: ManageContext) -> None:
    short = SessionService(ctx.db, ctx.access, idle_seconds=_IDLE_SECONDS, lifetime_seconds=0)
    api.sign_in(add_user(ctx.db, "sarah", admin=True), short)
    response = api.http.get("/api/v1/me")
    assert response.status_code == 401
    assert _code(response) == "UNAUTHORIZED"


def test_an_unknown_cookie_is_401(api: Api, ctx: ManageContext) -> None:
    api.http.cookies.set(SESSION_COOKIE, "made-up")
    assert api.http.get("/api/v1/me").status_code == 401


def test_a_disabled_users_session_is_401(api: Api, ctx: ManageContext) -> None:
    add_user(ctx.db, "sarah", admin=True)
    api.sign_in(add_user(ctx.db, "greg"))
    assert api.http.get("/api/v1/me").status_code == 200
    disabled = api.http.patch(
        "/api/v1/users/greg", json={"disabled": True}, auth=("sarah", PASSWORD)
    )
    assert disabled.status_code == 200, disabled.text
    assert api.http.get("/api/v1/me").status_code == 401


def test_an_authorization_header_wins_over_the_cookie(api: Api, ctx: ManageContext) -> None:
    add_user(ctx.db, "sarah", admin=True)
    api.sign_in(add_user(ctx.db, "greg"))
    # Basic credentials need no CSRF token: a browser never adds them to a forged request.
    created = api.http.post("/api/v1/groups", json={"name": "qa"}, auth=("sarah", PASSWORD))
    assert created.status_code == 201, created.text
    wrong = api.http.get("/api/v1/me", auth=("sarah", "wrong-password"))
    assert wrong.status_code == 401  # not greg by the cookie


def test_without_sessions_the_cookie_is_ignored(ctx: ManageContext) -> None:
    add_user(ctx.db, "sarah", admin=True)
    authenticator = Authenticator(SignIn(ctx.db, [], SignInPolicy()), ctx.access)
    app = create_admin_api(ctx, authenticator=authenticator)
    with (
        start_blocking_portal() as portal,
        httpx.Client(
            transport=InProcessTransport(app, portal, ("10.9.8.7", 50000)),
            base_url="http://dockyard.test",
            cookies={SESSION_COOKIE: "anything"},
        ) as client,
    ):
        assert client.get("/api/v1/me").status_code == 401
