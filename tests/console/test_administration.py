"""The Administration screens in real Chromium against a real server (issue screen 8): the
sysadmin's story, end to end — a registry admin creates a local user and a group, adds the
user to it and grants the group read on a namespace; the member then sees the repository
and cannot push. Also: namespace admins see only their namespaces, a robot's secret is
shown once, the audit log filters, and a form without its CSRF token changes nothing."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect

from fixtures.admin import AdminApi
from fixtures.browser import Screenshot
from fixtures.servers import DockyardServer
from fixtures.v2api import V2

_PASSWORD = "admin-screens-password-1"  # noqa: S105 - a test account
_QA_REPO = "qa/webapp"
_OPS_REPO = "ops/deployer"
_NAMESPACE_ADMIN = "nadia"
_CSRF_FIELD = re.compile(r'name="csrf_token" value="([^"]+)"')
_ROBOT_SECRET = re.compile(r"\S{20,}")


@dataclass(frozen=True)
class World:
    server: DockyardServer

    @property
    def admin(self) -> tuple[str, str]:
        return (self.server.username, self.server.password)

    def url(self, path: str) -> str:
        return f"{self.server.url}{path}"


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    server = DockyardServer.create(tmp_path_factory.mktemp("administration"))
    server.start()
    auth = (server.username, server.password)
    try:
        with (
            httpx.Client(base_url=server.url, auth=auth, timeout=60) as http,
            AdminApi(server.url, auth) as api,
        ):
            v2 = V2(http)
            for name in (_QA_REPO, _OPS_REPO):
                payload = v2.image_manifest(name, [f"{name} layer".encode()])
                response = v2.put_manifest(name, "latest", payload)
                assert response.status_code == 201, response.text
            api.add_user(_NAMESPACE_ADMIN, _PASSWORD)
            api.grant("admin", f"user:{_NAMESPACE_ADMIN}", "ops")
        yield World(server)
    finally:
        server.stop()


@pytest.fixture
def page(browser_page: Page) -> Iterator[Page]:
    """The test's page; script errors and CSP violations fail the test."""
    problems: list[str] = []
    browser_page.on(
        "console", lambda msg: problems.append(msg.text) if msg.type == "error" else None
    )
    browser_page.on("pageerror", lambda exc: problems.append(str(exc)))
    yield browser_page
    # 4xx answers are logged by Chromium as failed resources; they are expected here.
    assert [p for p in problems if "status of 4" not in p] == []


def _sign_in(page: Page, world: World, username: str, password: str) -> None:
    page.goto(world.url("/signin"))
    page.get_by_label("User name").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Overview")).to_be_visible()


def _admin_nav(page: Page, name: str) -> None:
    page.get_by_role("navigation", name="Administration").get_by_role("link", name=name).click()


def _flash(page: Page, text: str) -> None:
    expect(page.get_by_role("status")).to_have_text(text)


def test_a_registry_admin_gives_a_group_read_on_a_namespace(
    page: Page, browser: Browser, world: World, screenshot: Screenshot
) -> None:
    _sign_in(page, world, *world.admin)
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Administration").click()
    expect(page.get_by_role("heading", name="Administration")).to_be_visible()
    screenshot(page, "admin-landing")

    # a local user
    _admin_nav(page, "Users")
    page.get_by_label("User name").fill("quinn")
    page.get_by_label("Password").fill(_PASSWORD)
    page.get_by_role("button", name="Create user").click()
    expect(page).to_have_url(world.url("/admin/users/quinn?done=user-created"))
    _flash(page, "User created.")
    expect(page.get_by_role("heading", name="quinn")).to_be_visible()

    # the same name again: the service's refusal, on the page, with its status
    _admin_nav(page, "Users")
    page.get_by_label("User name").fill("quinn")
    page.get_by_label("Password").fill(_PASSWORD)
    with page.expect_response(world.url("/admin/users")) as answer:
        page.get_by_role("button", name="Create user").click()
    assert answer.value.status == 409
    expect(page.get_by_role("alert")).to_have_text("User quinn exists.")
    expect(page.get_by_label("User name")).to_have_value("quinn")
    expect(page.locator("table#users")).to_contain_text("quinn")
    screenshot(page, "admin-users")

    # a group, with quinn as its member
    _admin_nav(page, "Groups")
    page.get_by_label("Group name").fill("testers")
    page.get_by_role("button", name="Create group").click()
    _flash(page, "Group created.")
    page.get_by_label("Add member").fill("quinn")
    page.get_by_role("button", name="Add", exact=True).click()
    _flash(page, "Member added.")
    expect(page.locator("table#members")).to_contain_text("quinn")

    # read on the namespace, for the group
    _admin_nav(page, "Namespaces")
    expect(page.locator("table#namespaces")).to_contain_text("ops")
    screenshot(page, "admin-namespaces")
    page.get_by_role("link", name="qa", exact=True).click()
    expect(page.locator("#policy-sentence")).to_contain_text("Only the users, groups and robots")
    page.get_by_label("Kind").select_option("group")
    page.get_by_label("Name", exact=True).fill("testers")
    page.get_by_label("Role", exact=True).select_option("read")
    page.get_by_role("button", name="Grant").click()
    _flash(page, "Role granted.")
    members = page.get_by_role("table", name="Roles on qa")
    expect(members.get_by_role("row").filter(has_text="testers")).to_contain_text("read")
    screenshot(page, "admin-namespace")

    # membership seen from both sides
    page.get_by_role("link", name="testers").click()
    expect(page.get_by_role("table", name="Grants held by testers")).to_contain_text("read")
    screenshot(page, "admin-group")
    page.get_by_role("link", name="quinn").click()
    expect(page.get_by_role("table", name="Groups")).to_contain_text("testers")
    screenshot(page, "admin-user")

    _the_member_reads_but_cannot_push(browser, world)


def _the_member_reads_but_cannot_push(browser: Browser, world: World) -> None:
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    try:
        page = context.new_page()
        _sign_in(page, world, "quinn", _PASSWORD)
        nav = page.get_by_role("navigation", name="Main")
        expect(nav.get_by_role("link", name="Administration")).to_have_count(0)
        page.goto(world.url("/images"))
        rows = page.locator("table#repositories tbody tr")
        expect(rows).to_have_count(1)
        expect(rows.first).to_contain_text(_QA_REPO)
        admin_page = page.goto(world.url("/admin/users"))
        assert admin_page is not None
        assert admin_page.status == 403
    finally:
        context.close()
    with httpx.Client(base_url=world.server.url, auth=("quinn", _PASSWORD), timeout=30) as http:
        assert http.get(f"/v2/{_QA_REPO}/manifests/latest").status_code == 200
        refused = http.post(f"/v2/{_QA_REPO}/blobs/uploads/")
        assert refused.status_code == 403, refused.text
        assert refused.json()["errors"][0]["code"] == "DENIED"


def test_a_namespace_admin_sees_only_their_namespace(
    page: Page, world: World, screenshot: Screenshot
) -> None:
    _sign_in(page, world, _NAMESPACE_ADMIN, _PASSWORD)
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Administration").click()
    sections = page.get_by_role("navigation", name="Administration")
    expect(sections.get_by_role("link")).to_have_text(
        ["Summary", "Namespaces", "Retention", "Robots"]
    )
    expect(page.get_by_role("link", name="ops", exact=True)).to_be_visible()

    _admin_nav(page, "Namespaces")
    rows = page.locator("table#namespaces tbody tr")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("ops")

    page.get_by_role("link", name="ops", exact=True).click()
    page.get_by_label("Access policy", exact=True).select_option("shared")
    page.get_by_role("button", name="Change policy").click()
    _flash(page, "Access policy changed.")
    expect(page.locator("#policy-sentence")).to_contain_text("Every signed-in user may pull")

    # The namespace page links the repository twice: its Storage table (to the images) and
    # its Repositories table (to the repository's administration).
    repositories = page.get_by_role("table", name="Repositories")
    repositories.get_by_role("link", name=_OPS_REPO).click()
    expect(page.get_by_role("heading", name=_OPS_REPO)).to_be_visible()
    screenshot(page, "admin-repository")

    for path in ("/admin/namespaces/qa", "/admin/users", "/admin/audit"):
        response = page.goto(world.url(path))
        assert response is not None
        assert response.status in (403, 404), path
        expect(page.get_by_role("alert")).to_be_visible()
    assert "quinn" not in page.content()


def test_a_user_is_managed_from_their_page(page: Page, world: World) -> None:
    with AdminApi(world.server.url, world.admin) as api:
        api.add_user("pat", _PASSWORD)
        api.add_group("joiners")
    _sign_in(page, world, *world.admin)
    page.goto(world.url("/admin/users/pat"))
    facts = page.get_by_role("table", name="About pat")

    page.get_by_role("button", name="Make registry admin").click()
    _flash(page, "User updated.")
    expect(facts.get_by_role("row", name="Registry admin")).to_contain_text("yes")
    page.get_by_role("button", name="Remove registry admin").click()
    expect(facts.get_by_role("row", name="Registry admin")).to_contain_text("no")
    page.get_by_role("button", name="Disable").click()
    expect(facts.get_by_role("row", name="Status")).to_contain_text("disabled")
    with httpx.Client(base_url=world.server.url, auth=("pat", _PASSWORD)) as http:
        assert http.get("/v2/").status_code == 401
    page.get_by_role("button", name="Enable").click()
    expect(facts.get_by_role("row", name="Status")).to_contain_text("active")

    page.get_by_label("New password", exact=True).fill("a-new-password-1")
    page.get_by_label("New password again").fill("another-password-1")
    page.get_by_role("button", name="Set password").click()
    expect(page.get_by_role("alert")).to_have_text("The two passwords differ.")
    page.get_by_label("New password", exact=True).fill("a-new-password-1")
    page.get_by_label("New password again").fill("a-new-password-1")
    page.get_by_role("button", name="Set password").click()
    _flash(page, "Password changed.")
    with httpx.Client(base_url=world.server.url, auth=("pat", "a-new-password-1")) as http:
        assert http.get("/v2/").status_code == 200

    page.get_by_label("Add to group").select_option("joiners")
    page.get_by_role("button", name="Add", exact=True).click()
    _flash(page, "Member added.")
    page.get_by_role("button", name="Remove pat from joiners").click()
    _flash(page, "Member removed.")
    expect(page.get_by_text("Not a member of any group.")).to_be_visible()

    page.get_by_label("Yes, delete pat").check()
    page.get_by_role("button", name="Delete user").click()
    expect(page).to_have_url(world.url("/admin/users?done=user-deleted"))
    _flash(page, "User deleted.")
    expect(page.locator("table#users")).not_to_contain_text("pat")


def test_a_namespace_is_created_and_its_grants_managed(page: Page, world: World) -> None:
    with AdminApi(world.server.url, world.admin) as api:
        api.add_user("sam", _PASSWORD)
    _sign_in(page, world, *world.admin)
    page.goto(world.url("/admin/namespaces"))
    page.get_by_label("Namespace name").fill("Bad Name")
    page.get_by_role("button", name="Create namespace").click()
    expect(page.get_by_role("alert")).to_contain_text("A namespace name is lower-case")
    page.get_by_label("Namespace name").fill("newteam")
    page.get_by_label("Access policy").select_option("anonymous")
    page.get_by_role("button", name="Create namespace").click()
    _flash(page, "Namespace created.")
    expect(page.locator("#policy-sentence")).to_contain_text("Anyone may pull")

    page.get_by_label("Name", exact=True).fill("nobody-here")
    page.get_by_role("button", name="Grant").click()
    expect(page.get_by_role("alert")).to_have_text("user:nobody-here not found.")
    page.get_by_label("Name", exact=True).fill("sam")
    page.get_by_label("Role", exact=True).select_option("write")
    page.get_by_role("button", name="Grant").click()
    _flash(page, "Role granted.")
    page.get_by_role("button", name="Revoke write of user:sam on newteam").click()
    _flash(page, "Role revoked.")
    members = page.get_by_role("table", name="Roles on newteam")
    expect(members).to_contain_text(world.server.username)  # its creator, as its admin
    expect(members).not_to_contain_text("sam")


def test_a_robots_secret_is_shown_once(page: Page, world: World, screenshot: Screenshot) -> None:
    _sign_in(page, world, *world.admin)
    page.goto(world.url("/admin/robots"))
    page.get_by_label("Robot name").fill("builder")
    page.get_by_label("Description").fill("<script>alert('x')</script> CI")
    page.get_by_label("Expires in (days)").fill("30")
    page.get_by_label("Role 1").select_option("write")
    page.get_by_label("On namespace or repository 1").fill("qa")
    page.get_by_role("button", name="Create robot").click()

    expect(page.get_by_role("heading", name="Robot robot$builder created")).to_be_visible()
    secret = page.locator("#robot-secret").inner_text()
    assert _ROBOT_SECRET.fullmatch(secret), secret
    expect(page.get_by_role("button", name="Copy the secret")).to_have_attribute(
        "data-copy", secret
    )
    screenshot(page, "admin-robot-created")
    with httpx.Client(base_url=world.server.url, auth=("robot$builder", secret)) as http:
        assert http.get(f"/v2/{_QA_REPO}/tags/list").status_code == 200

    page.reload()  # sends the form again: refused, the name is taken; no secret
    expect(page.get_by_role("alert")).to_have_text("Robot builder exists.")
    assert secret not in page.content()
    page.goto(world.url("/admin/robots"))
    row = page.locator("tr#robot-builder")
    expect(row).to_contain_text("<script>alert('x')</script> CI")
    expect(row).to_contain_text("active")
    assert secret not in page.content()
    screenshot(page, "admin-robots")

    row.get_by_role("button", name="Revoke robot$builder").click()
    _flash(page, "Robot revoked.")
    expect(page.locator("tr#robot-builder")).to_contain_text("revoked")
    with httpx.Client(base_url=world.server.url, auth=("robot$builder", secret)) as http:
        assert http.get(f"/v2/{_QA_REPO}/tags/list").status_code == 401


def test_the_audit_log_filters(page: Page, world: World, screenshot: Screenshot) -> None:
    with AdminApi(world.server.url, world.admin) as api:
        api.add_group("auditors")
    _sign_in(page, world, *world.admin)
    page.goto(world.url("/admin/audit"))
    page.get_by_label("Action").fill("group.create")
    page.get_by_label("Target").fill("group:auditors")
    page.get_by_role("button", name="Filter").click()
    rows = page.locator("table#audit tbody tr")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text(world.server.username)
    expect(rows.first).to_contain_text("group:auditors")
    screenshot(page, "admin-audit")

    page.get_by_label("Actor").fill("somebody-else")
    page.get_by_role("button", name="Filter").click()
    expect(page.get_by_text("No events match these filters.")).to_be_visible()

    page.goto(world.url("/admin/audit?since=2999-01-01T00:00"))
    expect(page.get_by_text("No events match these filters.")).to_be_visible()
    response = page.goto(world.url("/admin/audit?since=yesterday"))
    assert response is not None
    assert response.status == 400
    expect(page.get_by_role("alert")).to_contain_text("From is a date and time")


def test_the_audit_log_pages_to_older_events(page: Page, world: World) -> None:
    with AdminApi(world.server.url, world.admin) as api:
        for i in range(55):  # more than a page of 50
            api.add_group(f"paging-{i:02d}")
    _sign_in(page, world, *world.admin)
    page.goto(world.url("/admin/audit?action=group.create"))
    rows = page.locator("table#audit tbody tr")
    expect(rows).to_have_count(50)
    expect(rows.first).to_contain_text("group:paging-54")
    expect(rows.last).to_contain_text("group:paging-05")
    page.get_by_role("link", name="Older").click()
    expect(page).to_have_url(re.compile(r"/admin/audit\?action=group.create&before=\d+$"))
    expect(rows.first).to_contain_text("group:paging-04")
    expect(rows.filter(has_text="group:paging-")).to_have_count(5)  # then older groups'
    expect(page.get_by_role("link", name="Newest")).to_be_visible()


def _http_session(world: World) -> tuple[httpx.Client, str]:
    """Signed in the way the form does; the session's CSRF token, read from a page."""
    client = httpx.Client(base_url=world.server.url, timeout=30)
    form = client.get("/signin")
    match = _CSRF_FIELD.search(form.text)
    assert match is not None
    body = {"csrf_token": match[1], "username": world.admin[0], "password": world.admin[1]}
    signed_in = client.post("/signin", data=body)
    assert signed_in.status_code == 303, signed_in.text
    page = client.get("/admin/groups")
    token = _CSRF_FIELD.search(page.text)
    assert token is not None
    return client, token[1]


def test_a_form_without_its_csrf_token_changes_nothing(world: World) -> None:
    client, token = _http_session(world)
    try:
        for form in ({"name": "forged"}, {"name": "forged", "csrf_token": "x" * 43}):
            refused = client.post("/admin/groups", data=form)
            assert refused.status_code == 403
            assert "did not come from Dockyard" in refused.text
        refused = client.post("/admin/users/quinn", data={"action": "delete", "confirm": "yes"})
        assert refused.status_code == 403
        listed = client.get("/admin/groups")
        assert "forged" not in listed.text
        made = client.post("/admin/groups", data={"name": "genuine", "csrf_token": token})
        assert made.status_code == 303
        assert made.headers["location"] == "/admin/groups/genuine?done=group-created"
    finally:
        client.close()
    with AdminApi(world.server.url, world.admin) as api:
        assert api.http.get("/api/v1/groups/forged").status_code == 404
        assert api.http.get("/api/v1/groups/genuine").status_code == 200


def test_signed_out_visitors_are_sent_to_sign_in(world: World) -> None:
    for path in ("/admin", "/admin/users", "/admin/namespaces/qa"):
        response = httpx.get(world.url(path))
        assert response.status_code == 303
        assert response.headers["location"].startswith("/signin?next=/admin")
    response = httpx.post(world.url("/admin/groups"), data={"name": "x"})
    assert response.status_code == 303
