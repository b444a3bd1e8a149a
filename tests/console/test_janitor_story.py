"""The janitor's story, end to end in real Chromium against a real server: on a registry
whose images share a base layer, delete a repository, delete a tag and purge a layer from
the console, run garbage collection from its page (the server's grace is 0), and see the
space come back in the overview's storage figure, by exactly the bytes that nothing else
used."""

from __future__ import annotations

import os
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest
from playwright.sync_api import Page, expect

from dockyard.console.rendering import filesize, short_digest
from fixtures.browser import Screenshot, sign_in
from fixtures.deletes import Pushed, Pusher, blob_file
from fixtures.servers import DockyardServer
from fixtures.v2api import V2, sha256

_KIB = 1024
# the overview measures storage at most once a minute (registry.overview.StorageCache)
_STORAGE_REFRESH_WAIT = 120.0


@dataclass(frozen=True)
class World:
    server: DockyardServer
    http: httpx.Client
    layers: dict[str, bytes]
    images: dict[str, Pushed]

    def url(self, path: str) -> str:
        return f"{self.server.url}{path}"

    def size(self, *names: str) -> int:
        return sum(len(self.layers[name]) for name in names)

    def configs(self, *images: str) -> int:
        return sum(self.images[name].config_size for name in images)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    # Grace 0 in the settings (the form comes prefilled with it); no in-flight window (the
    # pushes are seconds old); no scheduled runs (the janitor starts them).
    server = DockyardServer.create(
        tmp_path_factory.mktemp("janitor"),
        extra_env={
            "DOCKYARD_GC_GRACE_SECONDS": "0",
            "DOCKYARD_GC_IN_FLIGHT_SECONDS": "0",
            "DOCKYARD_GC_INTERVAL_MINUTES": "0",
        },
    )
    server.start()
    auth = (server.username, server.password)
    # sizes far apart, so each change shows in the overview's one-decimal figure
    layers = {
        "base": os.urandom(2048 * _KIB),  # in every image
        "web-1": os.urandom(1024 * _KIB),
        "web-2": os.urandom(512 * _KIB),
        "api": os.urandom(256 * _KIB),  # in both api images
        "debug": os.urandom(1536 * _KIB),  # the layer the janitor purges
        "legacy": os.urandom(768 * _KIB),
    }
    try:
        with httpx.Client(base_url=server.url, auth=auth, timeout=60) as http:
            push = Pusher(V2(http))
            images = {
                "web:v1": push.image("team/web", [layers["base"], layers["web-1"]], tags=("v1",)),
                "web:v2": push.image("team/web", [layers["base"], layers["web-2"]], tags=("v2",)),
                "api:latest": push.image(
                    "team/api", [layers["base"], layers["api"]], tags=("latest",)
                ),
                "api:debug": push.image(
                    "team/api", [layers["base"], layers["api"], layers["debug"]], tags=("debug",)
                ),
                "legacy:v0": push.image(
                    "legacy/app", [layers["base"], layers["legacy"]], tags=("v0",)
                ),
            }
        with httpx.Client(base_url=server.url, auth=auth, timeout=60) as client:
            yield World(server, client, layers, images)
    finally:
        server.stop()


def _figure(page: Page, label: str) -> str:
    """A figure of the overview's storage card ("Used by blobs", "Reclaimable")."""
    figures = page.locator("#storage dl.figures div").filter(has_text=label)
    return figures.locator("dd").inner_text()


def _overview_shows(page: Page, world: World, used: str) -> None:
    """Reload the overview until its storage figure says `used` (it is re-measured in the
    background at most once a minute)."""
    deadline = time.monotonic() + _STORAGE_REFRESH_WAIT
    seen = ""
    while time.monotonic() < deadline:
        page.goto(world.url("/"))
        if page.locator("#storage-pending").count() == 0:
            seen = _figure(page, "Used by blobs")
            if seen.startswith(used + " "):
                return
        page.wait_for_timeout(2000)
    pytest.fail(f"the overview still says {seen!r}, not {used}")


@pytest.mark.slow
def test_the_janitor_gets_the_space_back(
    browser_page: Page, world: World, screenshot: Screenshot
) -> None:
    page = browser_page
    every_blob = world.size(*world.layers) + world.configs(*world.images)
    sign_in(page, world.server.url, world.server.username, world.server.password)
    _overview_shows(page, world, filesize(every_blob))
    assert _figure(page, "Reclaimable").startswith("0 B ")

    # 1. a whole repository: its own layer and config go; the shared base stays
    page.goto(world.url("/images/legacy/app"))
    page.get_by_role("link", name="Delete this repository…").click()
    page.get_by_role("button", name="Delete").click()
    expect(page.get_by_role("status")).to_have_text("Deleted the repository legacy/app.")

    # 2. a tag: the image it named is untagged, its own layer goes with it
    page.goto(world.url("/images/team/web/-/tags/v1"))
    page.get_by_role("link", name="Delete this tag…").click()
    page.get_by_role("button", name="Delete").click()
    expect(page.get_by_role("status")).to_contain_text("Deleted tag team/web:v1.")

    # 3. a layer, with the image using it: the layer's bytes go now, its config with GC
    debug = sha256(world.layers["debug"])
    page.goto(world.url(f"/layers/{debug}"))
    expect(page.locator("#plan-tags-table")).to_contain_text("team/api:debug")
    page.get_by_label("Also delete the 1 manifest listed above", exact=False).check()
    page.get_by_role("button", name="Purge this layer").click()
    expect(page.get_by_role("heading", name="Layer purged")).to_be_visible()
    assert not blob_file(world.server.data_dir, debug).exists()

    # 4. garbage collection from its page: a dry run, then the collection it describes
    freed = world.size("legacy", "web-1") + world.configs("legacy:v0", "web:v1", "api:debug")
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Administration").click()
    tabs = page.get_by_role("navigation", name="Administration")
    tabs.get_by_role("link", name="Garbage collection").click()
    expect(page.get_by_label("Grace period (seconds)")).to_have_value("0")  # the setting
    page.get_by_role("button", name="Dry run").click()
    expect(page.locator("#gc-run-status")).to_contain_text("done", timeout=30_000)
    expect(page.locator("#gc-freed")).to_have_attribute("title", f"{freed} bytes")
    expect(page.locator("#gc-blobs")).to_have_text("5")  # two layers, three configs
    dry_items = sorted(page.locator("#gc-items tbody tr").all_inner_texts())
    # the repository's and the purged image's manifests went with their deletes; the
    # untagged one is GC's to remove
    manifests = page.locator('#gc-items tr[data-kind="manifest"]')
    expect(manifests).to_have_count(1)
    expect(manifests).to_contain_text("team/web")
    expect(manifests).to_contain_text(short_digest(world.images["web:v1"].digest))
    blobs = page.locator('#gc-items tr[data-kind="blob"]')
    for name in ("legacy", "web-1"):
        expect(blobs.filter(has_text=short_digest(sha256(world.layers[name])))).to_have_count(1)
    expect(blobs.filter(has_text=short_digest(sha256(world.layers["base"])))).to_have_count(0)

    page.get_by_role("button", name="Collect this now").click()
    expect(page).to_have_url(re.compile(r"/admin/gc/runs/\d+$"))
    expect(page.locator("#gc-run-status")).to_contain_text("done", timeout=30_000)
    expect(page.get_by_role("heading", name="Removed", exact=True)).to_be_visible()
    expect(page.locator("#gc-freed")).to_have_attribute("title", f"{freed} bytes")
    expect(page.locator("#gc-freed")).to_have_text(filesize(freed))
    assert sorted(page.locator("#gc-items tbody tr").all_inner_texts()) == dry_items
    screenshot(page, "gc-run")

    # on disk: what nothing uses is gone, what is shared or still tagged stays
    for name in ("legacy", "web-1", "debug"):
        assert not blob_file(world.server.data_dir, sha256(world.layers[name])).exists(), name
    for name in ("base", "web-2", "api"):
        assert blob_file(world.server.data_dir, sha256(world.layers[name])).exists(), name
    for repository, tag in (("team/web", "v2"), ("team/api", "latest")):
        assert world.http.get(f"/v2/{repository}/manifests/{tag}").status_code == 200

    # 5. the overview: less by the purged layer and by what GC freed, nothing reclaimable
    back = every_blob - len(world.layers["debug"]) - freed
    assert filesize(back) != filesize(every_blob)
    _overview_shows(page, world, filesize(back))
    assert _figure(page, "Reclaimable").startswith("0 B ")
