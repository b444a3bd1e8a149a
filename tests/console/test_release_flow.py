"""The release flow in the console, in real Chromium against a real server: revert a tag
to an earlier digest from its history, promote an image from its page into the next
environment, and see an immutable tag marked and its delete refused with the rule."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest
from playwright.sync_api import Page, expect

from fixtures.browser import Screenshot, sign_in
from fixtures.servers import DockyardServer
from fixtures.v2api import V2, sha256


@dataclass(frozen=True)
class World:
    server: DockyardServer
    http: httpx.Client
    first: str  # the digest dev/shop/api:1.0 pointed to first
    second: str  # where it points now


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    server = DockyardServer.create(tmp_path_factory.mktemp("release-console"))
    server.start()
    auth = (server.username, server.password)
    try:
        with httpx.Client(base_url=server.url, auth=auth, timeout=60) as http:
            v2 = V2(http)
            digests = []
            for layer in (b"build one", b"build two"):
                payload = v2.image_manifest("dev/shop/api", [layer])
                assert v2.put_manifest("dev/shop/api", "1.0", payload).status_code == 201
                digests.append(sha256(payload))
            yield World(server, http, digests[0], digests[1])
    finally:
        server.stop()


def _digest(world: World, name: str, tag: str) -> str:
    r = world.http.head(f"/v2/{name}/manifests/{tag}")
    assert r.status_code == 200, r.text
    return r.headers["Docker-Content-Digest"]


def test_revert_a_tag_then_promote_it(
    browser_page: Page, world: World, screenshot: Screenshot
) -> None:
    page = browser_page
    url = world.server.url
    sign_in(page, url, world.server.username, world.server.password)
    page.goto(f"{url}/images/dev/shop/api/-/tags/1.0")
    history = page.locator("#history tbody tr")
    expect(history).to_have_count(2)
    revert = page.get_by_role("button", name=f"Revert 1.0 to {world.first}")
    expect(revert).to_have_count(1)  # not offered for the digest it points to now
    revert.click()
    expect(page.get_by_role("status")).to_contain_text(f"now points to {world.first}")
    expect(history).to_have_count(3)
    expect(history.first).to_contain_text("reverted")
    screenshot(page, "tag-revert")
    assert _digest(world, "dev/shop/api", "1.0") == world.first

    page.goto(f"{url}/images/dev/shop/api/-/manifests/{world.first}")
    form = page.get_by_role("form", name="Promote this image")
    expect(form.get_by_label("Promote to")).to_have_value("test")
    expect(form.get_by_label("as tag")).to_have_value("1.0")
    screenshot(page, "image-promote")
    form.get_by_role("button", name="Promote").click()
    expect(page.get_by_role("status")).to_contain_text("Promoted to test/shop/api:1.0")
    expect(page.get_by_role("heading", level=1)).to_contain_text("test/shop/api@")
    assert _digest(world, "test/shop/api", "1.0") == world.first


def test_an_immutable_tag_is_marked_and_its_delete_names_the_rule(
    browser_page: Page, world: World
) -> None:
    rule = {"scope": "namespace", "target": "dev", "pattern": "1.*"}
    made = world.http.post("/api/v1/immutable-tag-rules", json=rule)
    assert made.status_code == 201, made.text
    page = browser_page
    url = world.server.url
    sign_in(page, url, world.server.username, world.server.password)
    page.goto(f"{url}/images/dev/shop/api")
    expect(page.locator('tr[data-tag="1.0"]')).to_contain_text("immutable")
    page.goto(f"{url}/images/dev/shop/api/-/delete?kind=tag&tag=1.0")
    expect(page.get_by_role("alert")).to_contain_text(
        f"immutable tag rule #{made.json()['id']} (namespace dev, tags 1.*)"
    )
    page.get_by_label("Override the immutable tag rules").check()
    page.get_by_role("button", name="Delete").click()
    assert world.http.head("/v2/dev/shop/api/manifests/1.0").status_code == 404
    [event] = world.http.get("/api/v1/audit", params={"action": "tag.delete"}).json()["events"]
    assert event["detail"]["immutable_override"] == ["dev/shop/api:1.0"]


def test_the_environments_board_shows_what_waits_for_promotion(
    browser_page: Page, world: World, screenshot: Screenshot
) -> None:
    v2 = V2(world.http)
    payload = v2.image_manifest("dev/shop/web", [b"web one"])
    assert v2.put_manifest("dev/shop/web", "2.0", payload).status_code == 201
    promoted = world.http.post(
        "/api/v1/promotions", json={"source": "dev/shop/web:2.0", "to": "test"}
    )
    assert promoted.status_code == 201, promoted.text
    page = browser_page
    url = world.server.url
    sign_in(page, url, world.server.username, world.server.password)
    page.get_by_role("link", name="Environments").click()
    board = page.get_by_role("table", name="Environments board")
    web = board.locator("tbody tr").filter(has_text="shop/web")
    cells = web.locator("td")
    expect(cells.nth(1)).to_contain_text("2.0")  # dev
    expect(cells.nth(2)).to_contain_text("2.0")  # test
    expect(cells.nth(2)).to_contain_text("waiting")  # not in prod yet
    expect(cells.nth(1)).not_to_contain_text("waiting")  # test has it
    expect(cells.nth(3)).to_contain_text("—")  # prod
    expect(page.locator("#promotions")).to_contain_text("test/shop/web:2.0")
    page.goto(f"{url}/images/dev/shop/web")  # shown on both repositories
    expect(page.locator("#repo-promotions")).to_contain_text("test/shop/web:2.0")
    page.goto(f"{url}/images/test/shop/web")
    expect(page.locator("#repo-promotions")).to_contain_text("dev/shop/web:2.0")
    page.goto(f"{url}/environments")
    screenshot(page, "environments-board")
    page.get_by_role("searchbox").fill("web")
    page.get_by_role("button", name="Filter").click()
    expect(board.locator("tbody tr")).to_have_count(1)
