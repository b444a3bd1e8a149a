"""Retention in the console, in real Chromium against a real server: write a policy,
read its simulation as a table, enable it, run it (exactly what the table showed), then
restore a removed tag; someone who may only read is refused."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest
from playwright.sync_api import Page, expect

from fixtures.admin import AdminApi
from fixtures.browser import Screenshot, sign_in
from fixtures.servers import DockyardServer
from fixtures.v2api import V2

_PASSWORD = "retention-password-1"  # noqa: S105 - a test account
_READER = "viewer"
_REPO = "ci/builds"


@dataclass(frozen=True)
class World:
    server: DockyardServer
    http: httpx.Client

    def tags(self) -> set[str]:
        r = self.http.get(f"/v2/{_REPO}/tags/list")
        return set(r.json()["tags"] or [])


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    server = DockyardServer.create(
        tmp_path_factory.mktemp("retention"),
        extra_env={"DOCKYARD_RETENTION_INTERVAL_MINUTES": "0", "DOCKYARD_GC_INTERVAL_MINUTES": "0"},
    )
    server.start()
    auth = (server.username, server.password)
    try:
        with (
            httpx.Client(base_url=server.url, auth=auth, timeout=60) as http,
            AdminApi(server.url, auth) as api,
        ):
            v2 = V2(http)
            for i in range(6):
                payload = v2.image_manifest(_REPO, [f"build {i}".encode()])
                assert v2.put_manifest(_REPO, f"build-{i}", payload).status_code == 201
            api.add_user(_READER, _PASSWORD)
            api.grant("read", f"user:{_READER}", _REPO)
            yield World(server, http)
    finally:
        server.stop()


def _fill(page: Page, keep_last: str) -> None:
    page.get_by_label("Namespace or repository").fill(_REPO)
    page.get_by_label("Keep the N most recently pushed tags").fill(keep_last)


def test_simulate_enable_run_and_restore(
    browser_page: Page, world: World, screenshot: Screenshot
) -> None:
    page = browser_page
    sign_in(page, world.server.url, world.server.username, world.server.password)
    page.goto(f"{world.server.url}/admin")
    page.get_by_role("link", name="Retention").click()
    expect(page.get_by_role("heading", name="Retention", exact=True)).to_be_visible()
    _fill(page, "2")
    page.get_by_role("button", name="Simulate").click()
    rows = page.locator("#removals tbody tr")
    expect(rows).to_have_count(4)
    expect(page.locator("#removals")).to_contain_text("beyond the 2 most recently pushed")
    expect(page.locator("#sim-summary")).to_contain_text("4 of 6 tags")
    for kept in ("build-4", "build-5"):
        expect(page.locator("#removals")).not_to_contain_text(kept)
    screenshot(page, "retention-simulation")
    assert world.tags() == {f"build-{i}" for i in range(6)}  # a simulation changes nothing

    page.get_by_role("button", name="Save and enable").click()
    expect(page.get_by_role("status")).to_contain_text("saved and enabled")
    expect(page.locator('#policies tr[data-target="ci/builds"]')).to_contain_text("enabled")

    page.locator('#policies tr[data-target="ci/builds"]').get_by_role("link", name="Edit").click()
    expect(page.get_by_label("Keep the N most recently pushed tags")).to_have_value("2")
    page.get_by_role("button", name="Simulate").click()
    expect(rows).to_have_count(4)
    page.get_by_role("button", name="Run now").click()
    expect(page.get_by_role("status")).to_contain_text("Retention policy run")
    assert world.tags() == {"build-4", "build-5"}
    removed = page.locator("#removed tbody tr")
    expect(removed).to_have_count(4)
    expect(page.locator("#removed")).to_contain_text("repository:ci/builds")
    page.locator('#removed tr[data-tag="build-0"]').get_by_role("button", name="Restore").click()
    expect(page.get_by_role("status")).to_contain_text("Tag restored")
    assert world.tags() == {"build-0", "build-4", "build-5"}
    expect(removed).to_have_count(3)


def test_a_reader_cannot_simulate_nor_set_a_policy(browser_page: Page, world: World) -> None:
    page = browser_page
    sign_in(page, world.server.url, _READER, _PASSWORD)
    response = page.goto(f"{world.server.url}/admin/retention")
    assert response is not None
    _fill(page, "0")
    page.get_by_role("button", name="Save disabled").click()
    expect(page.get_by_role("alert")).to_contain_text("admin role")
    page.get_by_role("button", name="Simulate").click()
    expect(page.get_by_role("alert")).to_contain_text("admin role")
    assert world.tags() == {"build-0", "build-4", "build-5"}
