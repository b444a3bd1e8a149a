"""Signing in and out of the console in real Chromium, against a real server (issue 4,
screen 1): sessions are server-side, rotated, revocable, HttpOnly and SameSite=Lax; every
unsafe request carries a CSRF token; `next=` stays on this site."""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterator

import httpx
import pytest
from playwright.sync_api import Page, expect

from fixtures.admin import AdminApi
from fixtures.browser import Screenshot
from fixtures.servers import DockyardServer, StartServer

_PASSWORD = "console-password-1"  # noqa: S105 - a test account
_CSRF_FIELD = re.compile(r'name="csrf_token" value="([^"]+)"')


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DockyardServer]:
    dockyard = DockyardServer.create(tmp_path_factory.mktemp("console"))
    dockyard.start()
    try:
        yield dockyard
    finally:
        dockyard.stop()


@pytest.fixture(scope="module")
def api(server: DockyardServer) -> Iterator[AdminApi]:
    with AdminApi(server.url, (server.username, server.password)) as admin:
        yield admin


def _sign_in(page: Page, server: DockyardServer, username: str, password: str) -> None:
    page.goto(f"{server.url}/signin")
    page.get_by_label("User name").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()


def _session_cookie(page: Page) -> dict[str, object] | None:
    for cookie in page.context.cookies():
        if cookie.get("name") == "dockyard_session":
            return dict(cookie)
    return None


def _http_sign_in(
    client: httpx.Client,
    username: str,
    password: str,
    next_path: str = "/",
    *,
    session: str | None = None,
) -> httpx.Response:
    """Signs in the way the form does; `session` is a cookie the browser brings along. The
    cookies go by hand: over plain http a client rightly keeps Secure ones to itself."""
    form = httpx.get(client.base_url.join("/signin"))
    match = _CSRF_FIELD.search(form.text)
    assert match is not None
    cookies = f"dockyard_csrf={form.cookies['dockyard_csrf']}"
    if session is not None:
        cookies += f"; dockyard_session={session}"
    body = {"csrf_token": match[1], "username": username, "password": password, "next": next_path}
    response = client.post("/signin", data=body, headers={"Cookie": cookies})
    if "dockyard_session" in response.cookies:
        client.cookies.set("dockyard_session", response.cookies["dockyard_session"])
    return response


def test_admin_signs_in_and_sees_the_login_commands(
    browser_page: Page, server: DockyardServer, screenshot: Screenshot
) -> None:
    page = browser_page
    problems: list[str] = []  # CSP violations and script errors show up as console errors
    page.on("console", lambda msg: problems.append(msg.text) if msg.type == "error" else None)
    page.on("pageerror", lambda exc: problems.append(str(exc)))

    page.goto(f"{server.url}/")
    expect(page).to_have_url(f"{server.url}/signin?next=/")
    expect(page.get_by_role("heading", name="Sign in to Dockyard")).to_be_visible()
    screenshot(page, "signin")

    page.get_by_label("User name").fill(server.username)
    page.get_by_label("Password").fill(server.password)
    page.get_by_role("button", name="Sign in").click()

    expect(page).to_have_url(f"{server.url}/")
    expect(page.get_by_role("heading", name="Overview")).to_be_visible()
    expect(page.locator("header")).to_contain_text(server.username)
    expect(page.get_by_role("button", name="Sign out")).to_be_visible()
    nav = page.get_by_role("navigation", name="Main")
    expect(nav.get_by_role("link", name="Overview")).to_have_attribute("aria-current", "page")
    expect(page.get_by_text(f"docker login {server.hostport}", exact=True)).to_be_visible()
    expect(page.get_by_text(f"podman login {server.hostport}", exact=True)).to_be_visible()
    expect(page.get_by_text("dockyard token add", exact=False)).to_be_visible()
    page.wait_for_function("() => window.htmx !== undefined")  # the vendored htmx loaded
    screenshot(page, "overview")

    cookie = _session_cookie(page)
    assert cookie is not None
    assert cookie["httpOnly"] is True
    assert cookie["sameSite"] == "Lax"
    assert cookie["secure"] is False  # plain http here; https adds Secure
    assert not any(c.get("name") == "dockyard_csrf" for c in page.context.cookies())
    assert problems == []


def test_keyboard_users_can_sign_in(browser_page: Page, server: DockyardServer) -> None:
    page = browser_page
    page.goto(f"{server.url}/signin")
    expect(page.get_by_label("User name")).to_be_focused()  # autofocus
    page.keyboard.type(server.username)
    page.keyboard.press("Tab")
    page.keyboard.type(server.password)
    page.keyboard.press("Enter")
    expect(page).to_have_url(f"{server.url}/")


def test_a_wrong_password_shows_the_message_and_sets_no_session(
    browser_page: Page, server: DockyardServer, screenshot: Screenshot
) -> None:
    page = browser_page
    _sign_in(page, server, server.username, "not-the-password")
    expect(page.get_by_role("alert")).to_have_text("Wrong user name or password.")
    expect(page.get_by_label("User name")).to_have_value(server.username)
    expect(page.get_by_label("Password")).to_have_value("")
    screenshot(page, "signin-wrong-password")
    assert _session_cookie(page) is None

    _sign_in(page, server, "nobody-by-this-name", "whatever")  # same words: no hint which
    expect(page.get_by_role("alert")).to_have_text("Wrong user name or password.")
    assert _session_cookie(page) is None


def test_signing_out_ends_the_session(browser_page: Page, server: DockyardServer) -> None:
    page = browser_page
    _sign_in(page, server, server.username, server.password)
    expect(page).to_have_url(f"{server.url}/")
    cookie = _session_cookie(page)
    assert cookie is not None
    old = str(cookie["value"])

    page.get_by_role("button", name="Sign out").click()
    expect(page).to_have_url(f"{server.url}/signin")
    assert _session_cookie(page) is None

    # The old cookie replayed from elsewhere is worth nothing: the server forgot it.
    with httpx.Client(base_url=server.url, cookies={"dockyard_session": old}) as client:
        response = client.get("/")
    assert response.status_code == 303
    assert response.headers["location"] == "/signin?next=/"


def test_a_disabled_user_is_signed_out_on_the_next_page_load(
    browser_page: Page, server: DockyardServer, api: AdminApi
) -> None:
    page = browser_page
    name = f"dora-{secrets.token_hex(3)}"
    api.add_user(name, _PASSWORD)
    _sign_in(page, server, name, _PASSWORD)
    expect(page).to_have_url(f"{server.url}/")
    expect(page.locator("header")).to_contain_text(name)

    response = api.http.patch(f"/api/v1/users/{name}", json={"disabled": True})
    assert response.status_code == 200, response.text

    page.reload()
    expect(page).to_have_url(f"{server.url}/signin?next=/")
    assert _session_cookie(page) is None


def test_sign_in_rotates_the_session_id(browser_page: Page, server: DockyardServer) -> None:
    page = browser_page
    _sign_in(page, server, server.username, server.password)
    expect(page).to_have_url(f"{server.url}/")
    first = _session_cookie(page)
    assert first is not None
    page.goto(f"{server.url}/signin")  # signed in already: sent on to the overview
    expect(page).to_have_url(f"{server.url}/")
    # Signing in again with that cookie in hand must mint a new id and forget the old one.
    old = str(first["value"])
    with httpx.Client(base_url=server.url) as client:
        response = _http_sign_in(client, server.username, server.password, session=old)
        assert response.status_code == 303
        second = response.cookies.get("dockyard_session")
        assert second
        assert second != old
        client.cookies.clear()
        stale = client.get("/", headers={"Cookie": f"dockyard_session={old}"})
        assert stale.status_code == 303  # the id the browser brought was discarded
        fresh = client.get("/", headers={"Cookie": f"dockyard_session={second}"})
        assert fresh.status_code == 200


def test_sign_out_without_the_csrf_token_is_refused(server: DockyardServer) -> None:
    with httpx.Client(base_url=server.url) as client:
        assert _http_sign_in(client, server.username, server.password).status_code == 303
        refused = client.post("/signout")
        assert refused.status_code == 403
        assert "did not come from Dockyard" in refused.text
        forged = client.post("/signout", data={"csrf_token": "guess"})
        assert forged.status_code == 403
        assert client.get("/").status_code == 200  # still signed in

        page = client.get("/")
        match = _CSRF_FIELD.search(page.text)
        assert match is not None
        signed_out = client.post("/signout", headers={"X-CSRF-Token": match[1]})
        assert signed_out.status_code == 303
        assert client.get("/").status_code == 303


def test_sign_in_needs_the_form_csrf_pair(server: DockyardServer) -> None:
    body = {"username": server.username, "password": server.password, "csrf_token": "x" * 43}
    with httpx.Client(base_url=server.url) as client:
        no_cookie = client.post("/signin", data=body)
        assert no_cookie.status_code == 403
        assert "dockyard_session" not in no_cookie.cookies
        client.get("/signin")  # sets a cookie whose value the form field must repeat
        mismatch = client.post("/signin", data=body)
        assert mismatch.status_code == 403


@pytest.mark.parametrize(
    "target", ["https://evil.example/", "//evil.example/", "/\\evil.example", "javascript:x"]
)
def test_next_never_leaves_the_site(server: DockyardServer, target: str) -> None:
    with httpx.Client(base_url=server.url) as client:
        response = _http_sign_in(client, server.username, server.password, next_path=target)
    assert response.status_code == 303
    assert response.headers["location"] == "/"


def test_next_keeps_a_local_path(server: DockyardServer) -> None:
    with httpx.Client(base_url=server.url) as client:
        response = _http_sign_in(client, server.username, server.password, "/?tab=login")
    assert response.headers["location"] == "/?tab=login"


def test_an_evil_next_in_the_browser_lands_on_the_overview(
    browser_page: Page, server: DockyardServer
) -> None:
    page = browser_page
    page.goto(f"{server.url}/signin?next=https://evil.example/")
    page.get_by_label("User name").fill(server.username)
    page.get_by_label("Password").fill(server.password)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(f"{server.url}/")


@pytest.mark.parametrize("path", ["/signin", "/"])
def test_pages_carry_the_security_headers(server: DockyardServer, path: str) -> None:
    with httpx.Client(base_url=server.url) as client:
        if path != "/signin":
            _http_sign_in(client, server.username, server.password)
        response = client.get(path)
    assert response.status_code == 200
    headers = response.headers
    assert headers["content-security-policy"].startswith(
        "default-src 'self'; frame-ancestors 'none'"
    )
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["referrer-policy"] == "same-origin"
    assert headers["cache-control"] == "no-store"
    assert "<script>" not in response.text  # no inline scripts: the CSP would block them


def test_the_secure_flag_follows_an_https_public_url(dockyard_factory: StartServer) -> None:
    public = dockyard_factory(extra_env={"DOCKYARD_PUBLIC_URL": "https://registry.example.com"})
    with httpx.Client(base_url=public.url) as client:
        form = client.get("/signin")
        assert "Secure" in form.headers["set-cookie"]  # the pre-session CSRF cookie too
        response = _http_sign_in(client, public.username, public.password)
        assert response.status_code == 303
        cookie = response.headers.get_list("set-cookie")
        [session] = [c for c in cookie if c.startswith("dockyard_session=")]
        assert "; Secure" in session
        assert "; HttpOnly" in session
        assert "; SameSite=lax" in session.replace("Lax", "lax")
        assert "; Path=/" in session
        overview = client.get(
            "/", headers={"Cookie": f"dockyard_session={response.cookies['dockyard_session']}"}
        )
    assert overview.status_code == 200
    assert "docker login registry.example.com" in overview.text


def test_the_other_routes_still_answer(server: DockyardServer) -> None:
    with httpx.Client(base_url=server.url) as client:
        assert client.get("/healthz").status_code == 200
        assert client.get("/readyz").status_code == 200
        assert client.get("/metrics").status_code == 200
        assert client.get("/v2/").status_code == 401
        assert client.get("/api/v1/users").status_code == 401
        static = client.get("/static/dockyard.css")
        assert static.status_code == 200
        assert static.headers["x-content-type-options"] == "nosniff"
        assert client.get("/static/htmx.min.js").status_code == 200
