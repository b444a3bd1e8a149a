"""The Overview and Status screens in real Chromium against a real server (issue 4, screens
2 and 9): images by namespace with their policy, recent pushes with their newest tags,
storage for registry admins, pull and push commands by role, and a directory that is down
said plainly on the status page."""

from __future__ import annotations

import json
from collections.abc import Iterator

import httpx
import pytest
from playwright.sync_api import Page, expect

from fixtures.admin import AdminApi
from fixtures.browser import Screenshot, sign_in
from fixtures.servers import DockyardServer, free_port
from fixtures.v2api import V2

_PASSWORD = "overview-password-1"  # noqa: S105 - a test account
_READER = "reader"
_WRITER = "writer"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DockyardServer]:
    nobody = f"ldap://127.0.0.1:{free_port()}"  # connections refused
    down = [{"name": "corp", "url": nobody, "user_base": "dc=corp,dc=lan",
             "timeout_seconds": 2}]  # fmt: skip
    server = DockyardServer.create(
        tmp_path_factory.mktemp("overview"), extra_env={"DOCKYARD_DIRECTORIES": json.dumps(down)}
    )
    server.start()
    auth = (server.username, server.password)
    try:
        with (
            httpx.Client(base_url=server.url, auth=auth, timeout=60) as http,
            AdminApi(server.url, auth) as api,
        ):
            v2 = V2(http)
            for name, tags in (("team/app", ("v1", "v2", "v3", "v4")), ("lab/tool", ("dev",))):
                payload = v2.image_manifest(name, [name.encode()])
                for tag in tags:
                    assert v2.put_manifest(name, tag, payload).status_code == 201
            for user, role in ((_READER, "read"), (_WRITER, "write")):
                api.add_user(user, _PASSWORD)
                api.grant(role, f"user:{user}", "team")
        yield server
    finally:
        server.stop()


def test_admin_overview_shows_namespaces_recent_pushes_and_storage(
    browser_page: Page, server: DockyardServer, screenshot: Screenshot
) -> None:
    page = browser_page
    sign_in(page, server.url, server.username, server.password)
    namespaces = page.locator("#namespaces")
    expect(namespaces.get_by_role("row")).to_have_count(3)  # header, lab, team
    expect(namespaces.get_by_role("row").filter(has_text="team")).to_contain_text("private")
    recent = page.locator("#recent li")
    expect(recent).to_have_count(2)
    team = recent.filter(has_text="team/app")
    expect(team).to_contain_text("v4")  # the newest three tags of four
    expect(team).not_to_contain_text("v1")
    for _ in range(50):  # measured in the background after the first view
        if page.locator("#storage-pending").count() == 0:
            break
        page.wait_for_timeout(100)
        page.reload()
    expect(page.locator("#storage")).to_contain_text("Used by blobs")
    expect(page.locator("#storage")).to_contain_text("Reclaimable")
    page.get_by_label("Repository").fill("team/app")
    page.get_by_role("button", name="Show").click()
    expect(page.locator("#overview-pull")).to_contain_text(f"{server.hostport}/team/app")
    expect(page.locator("#overview-push")).to_be_visible()
    screenshot(page, "overview")
    team.get_by_role("link", name="team/app").click()
    expect(page.get_by_role("heading", name="team/app")).to_be_visible()


@pytest.mark.parametrize(("username", "pushes"), [(_READER, False), (_WRITER, True)])
def test_push_commands_only_for_those_who_may_push(
    browser_page: Page, server: DockyardServer, username: str, pushes: bool
) -> None:
    page = browser_page
    sign_in(page, server.url, username, _PASSWORD)
    expect(page.locator("#storage")).to_have_count(0)  # registry admins only
    expect(page.locator("#namespaces")).not_to_contain_text("lab")
    page.goto(f"{server.url}/?repository=team/app")
    expect(page.locator("#overview-pull")).to_be_visible()
    expect(page.locator("#overview-push")).to_have_count(1 if pushes else 0)
    page.goto(f"{server.url}/?repository=lab/tool")  # exists, but not theirs to read
    expect(page.get_by_role("alert")).to_have_text(
        "You cannot read lab/tool, or it does not exist."
    )
    expect(page.locator("#overview-pull")).to_have_count(0)
    page.goto(f"{server.url}/?repository=Not%20A%20Name")
    expect(page.get_by_role("alert")).to_have_text("That is not a repository name.")


def test_status_says_plainly_which_dependency_is_down(
    browser_page: Page, server: DockyardServer, screenshot: Screenshot
) -> None:
    page = browser_page
    sign_in(page, server.url, server.username, server.password)
    response = page.goto(f"{server.url}/status")
    assert response is not None
    assert response.status == 503
    rows = page.locator("#status tbody tr")
    expect(rows.filter(has_text="database")).to_contain_text("working")
    expect(rows.filter(has_text="storage")).to_contain_text("free")
    corp = rows.filter(has_text="directory corp")
    expect(corp).to_contain_text("down")
    expect(corp).to_contain_text("127.0.0.1")  # the reason names the server
    expect(page.get_by_role("alert")).to_contain_text("not working")
    screenshot(page, "status")
