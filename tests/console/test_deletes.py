"""Deleting in the console, in real Chromium against a real server (issue 4, screen 7):

- the security admin's story: paste a leaked layer's digest, open the image, review its
  metadata, quick-delete every image using it, purge the layer, and no repository can serve
  it any more;
- the janitor's deletes of a tag (its sibling tag on the same image stays), of the images of
  ticked tags (multi-select), and of a whole repository, each after a confirmation that says
  what goes and how many bytes become reclaimable;
- quick delete with undo on the tag list;
- a read-only user sees no delete control, and a forged delete is refused.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest
from playwright.sync_api import Page, expect

from fixtures.admin import AdminApi
from fixtures.browser import Screenshot, sign_in
from fixtures.servers import DockyardServer
from fixtures.v2api import V2, sha256

_PASSWORD = "deletes-password-1"  # noqa: S105 - a test account
_READER = "auditor"
_LEAK = b"AWS_SECRET_ACCESS_KEY=leaked-by-accident"
_STALE = b"a stale cache layer"


@dataclass(frozen=True)
class World:
    server: DockyardServer
    http: httpx.Client


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    server = DockyardServer.create(tmp_path_factory.mktemp("deletes"))
    server.start()
    auth = (server.username, server.password)
    try:
        with (
            httpx.Client(base_url=server.url, auth=auth, timeout=60) as http,
            AdminApi(server.url, auth) as api,
        ):
            v2 = V2(http)
            # the leaked layer sits in two repositories, under three tags
            for name, tags, own in (
                ("shop/web", ("v1", "stable"), b"web app"),
                ("shop/worker", ("latest",), b"worker app"),
            ):
                payload = v2.image_manifest(name, [b"base", _LEAK, own])
                for tag in tags:
                    assert v2.put_manifest(name, tag, payload).status_code == 201
            # the janitor's repository: two tags on one image, a second image, a third
            shared = v2.image_manifest("old/builds", [b"build one"])
            for tag in ("b1", "b1-alias"):
                assert v2.put_manifest("old/builds", tag, shared).status_code == 201
            for tag, layer in (("b2", b"build two"), ("b3", b"build three")):
                payload = v2.image_manifest("old/builds", [layer])
                assert v2.put_manifest("old/builds", tag, payload).status_code == 201
            payload = v2.image_manifest("old/scratch", [b"scratch"])
            assert v2.put_manifest("old/scratch", "tmp", payload).status_code == 201
            # a layer the janitor purges while an image still uses it
            for name in ("old/cache", "old/cache-mirror"):
                payload = v2.image_manifest(name, [_STALE, name.encode()])
                assert v2.put_manifest(name, "latest", payload).status_code == 201
            api.add_user(_READER, _PASSWORD)
            api.grant("read", f"user:{_READER}", "old")
        with httpx.Client(base_url=server.url, auth=auth, timeout=60) as client:
            yield World(server, client)
    finally:
        server.stop()


def _tags(http: httpx.Client, name: str) -> list[str]:
    response = http.get(f"/v2/{name}/tags/list")
    if response.status_code == 404:
        return []
    return sorted(response.json().get("tags") or [])


def test_security_admin_purges_a_leaked_layer(
    browser_page: Page, world: World, screenshot: Screenshot
) -> None:
    page = browser_page
    leak = sha256(_LEAK)
    sign_in(page, world.server.url, world.server.username, world.server.password)
    page.goto(f"{world.server.url}/search")
    page.get_by_role("searchbox").fill(leak)
    page.get_by_role("searchbox").press("Enter")
    matches = page.get_by_role("table", name="Digest matches")
    expect(matches.locator("tbody tr")).to_have_count(2)
    # open one image and review its metadata
    matches.locator("tbody tr").filter(has_text="shop/web").get_by_role("link").nth(1).click()
    expect(page.locator("#layers tbody tr")).to_have_count(3)
    expect(page.locator("#layers")).to_contain_text(leak.removeprefix("sha256:")[:12])
    page.go_back()
    page.get_by_role("link", name="Quick delete").click()
    screenshot(page, "search-quick-delete")
    for _ in range(2):  # one trash button per image, no dialog
        page.locator("button.trash").first.click()
        expect(page.locator("tr.deleted-row").first).to_contain_text("Deleted")
    expect(page.locator("tr.deleted-row")).to_have_count(2)
    expect(page.locator("button.trash")).to_have_count(0)
    assert _tags(world.http, "shop/web") == []
    assert _tags(world.http, "shop/worker") == []
    # the images are gone, the layer is still linked: purge it from every repository
    page.goto(f"{world.server.url}/layers/{leak}")
    expect(page.locator("#still-linked")).to_contain_text("shop/web, shop/worker")
    screenshot(page, "layer-purge")
    page.get_by_role("button", name="Purge this layer").click()
    expect(page.get_by_role("heading", name="Layer purged")).to_be_visible()
    for name in ("shop/web", "shop/worker"):
        assert world.http.head(f"/v2/{name}/blobs/{leak}").status_code == 404
        assert world.http.get(f"/v2/{name}/blobs/{leak}").status_code == 404
    page.goto(f"{world.server.url}/search?q={leak}")
    expect(page.get_by_text("Nothing you can read matches.")).to_be_visible()
    audit = world.http.get("/api/v1/audit", params={"action": "layer.purge"}).json()
    assert any(leak in (event.get("target") or "") for event in audit["events"])


def test_janitor_deletes_a_tag_and_keeps_its_sibling(
    browser_page: Page, world: World, screenshot: Screenshot
) -> None:
    page = browser_page
    sign_in(page, world.server.url, world.server.username, world.server.password)
    page.goto(f"{world.server.url}/images/old/builds/-/tags/b1")
    page.get_by_role("link", name="Delete this tag…").click()
    expect(page.locator("h1")).to_contain_text("Delete 1 tag from old/builds?")
    expect(page.locator("#plan-tags-table")).to_contain_text("old/builds:b1")
    expect(page.get_by_text("0 B")).to_be_visible()  # the image stays: nothing to reclaim
    screenshot(page, "delete-confirm-tag")
    page.get_by_role("button", name="Delete").click()
    expect(page.get_by_role("status")).to_contain_text("Deleted tag old/builds:b1.")
    assert _tags(world.http, "old/builds") == ["b1-alias", "b2", "b3"]


def test_janitor_deletes_the_images_of_ticked_tags(
    browser_page: Page, world: World, screenshot: Screenshot
) -> None:
    page = browser_page
    sign_in(page, world.server.url, world.server.username, world.server.password)
    page.goto(f"{world.server.url}/images/old/builds")
    page.get_by_label("Select b2").check()
    page.get_by_label("Select b3").check()
    page.get_by_role("button", name="Delete their images…").click()
    expect(page.locator("h1")).to_contain_text("Delete 2 images from old/builds?")
    manifests = page.locator("#plan-manifests-table tbody tr")
    expect(manifests).to_have_count(2)
    expect(page.locator(".reclaim strong")).not_to_have_text("0 B")  # their layers, configs
    screenshot(page, "delete-confirm-images")
    page.get_by_role("button", name="Delete").click()
    expect(page.get_by_role("status")).to_contain_text("Deleted 2 manifests and 2 tags")
    assert _tags(world.http, "old/builds") == ["b1-alias"]


def test_quick_delete_of_a_tag_can_be_undone(browser_page: Page, world: World) -> None:
    page = browser_page
    sign_in(page, world.server.url, world.server.username, world.server.password)
    page.goto(f"{world.server.url}/images/old/builds?quick=1")
    row = page.locator('#tags tr[data-tag="b1-alias"]')
    row.get_by_role("button", name="Delete tag b1-alias").click()
    undo_row = page.locator("tr.deleted-row")
    expect(undo_row).to_contain_text("Deleted tag old/builds:b1-alias.")
    assert _tags(world.http, "old/builds") == []
    undo_row.get_by_role("button", name="Undo").click()
    expect(page.get_by_role("status")).to_contain_text("Put back: b1-alias.")
    assert _tags(world.http, "old/builds") == ["b1-alias"]


def test_janitor_deletes_a_whole_repository(
    browser_page: Page, world: World, screenshot: Screenshot
) -> None:
    page = browser_page
    sign_in(page, world.server.url, world.server.username, world.server.password)
    page.goto(f"{world.server.url}/images/old/scratch")
    page.get_by_role("link", name="Delete this repository…").click()
    expect(page.locator("h1")).to_contain_text("Delete the repository old/scratch?")
    expect(page.locator("#plan-tags-table")).to_contain_text("old/scratch:tmp")
    screenshot(page, "delete-confirm-repository")
    page.get_by_role("button", name="Delete").click()
    expect(page.get_by_role("status")).to_have_text("Deleted the repository old/scratch.")
    assert "old/scratch" not in world.http.get("/v2/_catalog").json()["repositories"]
    # a message is shown only when Dockyard signed it for this session: no spoofed text
    page.goto(f"{page.url.split('?')[0]}?deleted=Your+account+is+locked.+Call+555-0100")
    expect(page.get_by_text("Your account is locked")).to_have_count(0)
    page.goto(f"{world.server.url}/images/old/builds?deleted=Pay+now&undo=x&sig=00")
    expect(page.get_by_text("Pay now")).to_have_count(0)


def test_janitor_purges_a_layer_with_the_images_using_it(
    browser_page: Page, world: World, screenshot: Screenshot
) -> None:
    page = browser_page
    stale = sha256(_STALE)
    sign_in(page, world.server.url, world.server.username, world.server.password)
    page.goto(f"{world.server.url}/layers/{stale}")
    images = page.locator("#plan-manifests-table tbody tr")
    expect(images).to_have_count(2)  # each repository's image stops resolving without it
    expect(page.locator("#plan-tags-table")).to_contain_text("old/cache:latest")
    expect(page.locator("#plan-tags-table")).to_contain_text("old/cache-mirror:latest")
    page.get_by_role("button", name="Purge this layer").click()  # the box is not ticked
    expect(page.get_by_role("heading", name="Layer purged")).to_have_count(0)
    assert _tags(world.http, "old/cache") == ["latest"]  # the browser refused to submit
    page.get_by_label("Also delete the 2 manifests listed above", exact=False).check()
    screenshot(page, "layer-purge-with-images")
    page.get_by_role("button", name="Purge this layer").click()
    expect(page.get_by_role("heading", name="Layer purged")).to_be_visible()
    expect(page.get_by_role("status")).to_contain_text("2 manifests and 2 tags")
    for name in ("old/cache", "old/cache-mirror"):
        assert _tags(world.http, name) == []
        assert world.http.get(f"/v2/{name}/blobs/{stale}").status_code == 404


def test_a_reader_sees_no_delete_controls_and_cannot_forge_one(
    browser_page: Page, world: World
) -> None:
    page = browser_page
    sign_in(page, world.server.url, _READER, _PASSWORD)
    page.goto(f"{world.server.url}/images/old/builds?quick=1")
    expect(page.locator("#tags")).to_be_visible()
    for control in ("Quick delete", "Delete this repository…"):
        expect(page.get_by_role("link", name=control)).to_have_count(0)
    expect(page.locator("button.trash")).to_have_count(0)
    expect(page.locator('input[type="checkbox"]')).to_have_count(0)
    expect(page.locator("#push-command")).to_have_count(0)
    page.goto(f"{world.server.url}/images/old/builds/-/tags/b1-alias")
    expect(page.get_by_role("link", name="Delete this tag…")).to_have_count(0)
    # a hand-made POST with the reader's own session and CSRF token is refused by the service
    token = page.locator("input[name=csrf_token]").first.get_attribute("value")
    response = page.request.post(
        f"{world.server.url}/images/old/builds/-/delete",
        form={"csrf_token": token or "", "kind": "tag", "tag": "b1-alias"},
    )
    assert response.status == 403
    assert _tags(world.http, "old/builds") == ["b1-alias"]
    # and without the CSRF token, nothing is even tried
    response = page.request.post(
        f"{world.server.url}/images/old/builds/-/quick-delete", form={"tag": "b1-alias"}
    )
    assert response.status == 403
