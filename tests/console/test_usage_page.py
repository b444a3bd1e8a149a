"""Storage usage and quotas in the console, in real Chromium against a real server: a
registry admin reads a namespace's usage (own and shared), sets its quota by typing a size,
sees the bar go over, and the push is refused; a namespace admin sees the figures but no
quota form; a reader sees a repository's usage and its namespace's bar on its page."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest
from playwright.sync_api import Page, expect

from fixtures.admin import AdminApi
from fixtures.browser import Screenshot, sign_in
from fixtures.deletes import Pusher
from fixtures.servers import DockyardServer
from fixtures.v2api import V2

_PASSWORD = "usage-password-1"  # noqa: S105 - a test account


@dataclass(frozen=True)
class World:
    server: DockyardServer
    http: httpx.Client


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    server = DockyardServer.create(tmp_path_factory.mktemp("usage-console"))
    server.start()
    auth = (server.username, server.password)
    try:
        with (
            httpx.Client(base_url=server.url, auth=auth, timeout=60) as http,
            AdminApi(server.url, auth) as api,
        ):
            push = Pusher(V2(http))
            shared = os.urandom(300_000)
            push.image("team/app", [shared, os.urandom(200_000)], tags=("v1",))
            push.image("team/web", [shared, os.urandom(50_000)], tags=("v1",))
            push.image("ops/tool", [shared], tags=("v1",))
            for name in ("nina", "rita"):
                api.add_user(name, _PASSWORD)
            api.grant("admin", "user:nina", "team")
            api.grant("read", "user:rita", "team")
            yield World(server, http)
    finally:
        server.stop()


def test_a_registry_admin_sets_a_quota_and_the_push_is_refused(
    browser_page: Page, world: World, screenshot: Screenshot
) -> None:
    page = browser_page
    sign_in(page, world.server.url, world.server.username, world.server.password)
    page.goto(f"{world.server.url}/admin/namespaces/team")
    storage = page.locator("#storage")
    expect(storage.get_by_role("heading", name="Storage")).to_be_visible()
    expect(page.locator("#storage-shared")).to_contain_text("293.0 KiB")  # ops links it too
    expect(page.locator("#storage-own")).to_contain_text("244.")  # the two own layers, configs
    expect(page.locator("#storage-quota")).to_contain_text("none")
    expect(page.locator("#largest tbody tr")).to_have_count(2)
    expect(page.locator("#largest tbody tr").first).to_contain_text("team/app")

    page.get_by_label("Storage quota").fill("not much")
    page.get_by_role("button", name="Set quota").click()
    expect(page.get_by_role("alert")).to_contain_text("is not a size")

    page.get_by_label("Storage quota").fill("500KiB")
    page.get_by_role("button", name="Set quota").click()
    expect(page.get_by_text("Storage quota set.")).to_be_visible()
    expect(page.locator("#storage-quota")).to_contain_text("500.0 KiB")
    expect(page.locator("#quota-team meter")).to_be_visible()
    expect(page.locator("#quota-team")).to_contain_text("over quota")
    screenshot(page, "usage-namespace")

    refused = world.http.post("/v2/team/app/blobs/uploads/")
    assert refused.status_code == 403
    assert "namespace 'team' is over its storage quota" in refused.json()["errors"][0]["message"]

    page.get_by_role("button", name="Remove the quota").click()
    expect(page.get_by_text("Storage quota removed.")).to_be_visible()
    expect(page.locator("#storage-quota")).to_contain_text("none")
    assert world.http.post("/v2/team/app/blobs/uploads/").status_code == 202


def test_a_namespace_admin_reads_usage_but_sets_no_quota(browser_page: Page, world: World) -> None:
    page = browser_page
    sign_in(page, world.server.url, "nina", _PASSWORD)
    page.goto(f"{world.server.url}/admin/namespaces/team")
    expect(page.locator("#storage-used")).to_contain_text("KiB")
    expect(page.locator("#quota-form")).to_have_count(0)


def test_a_reader_sees_the_repository_usage_and_the_namespace_bar(
    browser_page: Page, world: World, screenshot: Screenshot
) -> None:
    with AdminApi(world.server.url, (world.server.username, world.server.password)) as api:
        r = api.http.put("/api/v1/namespaces/team/quota", json={"quota_bytes": 2 << 20})
        assert r.status_code == 200, r.text
    page = browser_page
    sign_in(page, world.server.url, "rita", _PASSWORD)
    page.goto(f"{world.server.url}/images/team/web")
    expect(page.locator("#repository-storage")).to_contain_text("293.0 KiB shared")
    expect(page.locator("#repository-storage")).to_contain_text("only here")
    expect(page.locator("#quota-team")).to_contain_text("of 2.0 MiB")
    expect(page.locator("#quota-team")).not_to_contain_text("over quota")
    screenshot(page, "usage-repository")
