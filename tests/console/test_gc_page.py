"""Administration → Garbage collection in real Chromium against a real server: a registry
admin deletes a tag, reads a dry run at grace 0 item by item with the bytes it would free,
collects it, sees the same figures and both runs in the history; a running run's page
follows its progress and stops asking once it has ended; a non-admin sees no tab and is
refused the pages and the forms."""

from __future__ import annotations

import os
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from playwright.sync_api import Page, Request, expect

from dockyard.console.rendering import filesize, short_digest
from dockyard.metadata.db import Database
from dockyard.metadata.queries import gc_runs
from fixtures.admin import AdminApi
from fixtures.browser import Screenshot, sign_in
from fixtures.deletes import Pushed, Pusher, blob_file
from fixtures.servers import DockyardServer
from fixtures.v2api import V2, sha256

_PASSWORD = "gc-page-password-1"  # noqa: S105 - a test account
_NAMESPACE_ADMIN = "nadia"
_REPO = "gc/app"
_RUN_URL = re.compile(r"/admin/gc/runs/(\d+)$")


@dataclass(frozen=True)
class World:
    server: DockyardServer
    http: httpx.Client
    old_layer: bytes  # only in the image whose tag the admin deletes
    shared_layer: bytes  # in that image and in the one that stays
    old: Pushed

    def url(self, path: str) -> str:
        return f"{self.server.url}{path}"

    @property
    def reclaimable(self) -> int:
        """What deleting tag v1 leaves for GC: its own layer and its config."""
        return len(self.old_layer) + self.old.config_size


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    # No scheduled runs (the test starts its own), no in-flight window (the test's pushes
    # are seconds old); the grace stays the default, overridden in the form.
    server = DockyardServer.create(
        tmp_path_factory.mktemp("gc-page"),
        extra_env={"DOCKYARD_GC_INTERVAL_MINUTES": "0", "DOCKYARD_GC_IN_FLIGHT_SECONDS": "0"},
    )
    server.start()
    auth = (server.username, server.password)
    try:
        with (
            httpx.Client(base_url=server.url, auth=auth, timeout=60) as http,
            AdminApi(server.url, auth) as api,
        ):
            push = Pusher(V2(http))
            old_layer, shared_layer = os.urandom(48 * 1024), os.urandom(20 * 1024)
            old = push.image(_REPO, [shared_layer, old_layer], tags=("v1",))
            push.image(_REPO, [shared_layer, os.urandom(10 * 1024)], tags=("v2",))
            api.add_user(_NAMESPACE_ADMIN, _PASSWORD)
            api.grant("admin", f"user:{_NAMESPACE_ADMIN}", "gc")
        with httpx.Client(base_url=server.url, auth=auth, timeout=60) as client:
            yield World(server, client, old_layer, shared_layer, old)
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


def _open_gc_tab(page: Page) -> None:
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Administration").click()
    tabs = page.get_by_role("navigation", name="Administration")
    tabs.get_by_role("link", name="Garbage collection").click()
    expect(page.get_by_role("heading", name="Garbage collection", exact=True)).to_be_visible()


def _finished_run(page: Page) -> int:
    """On a run's page: wait for it to end (done), return its id."""
    expect(page).to_have_url(_RUN_URL)
    match = _RUN_URL.search(page.url)
    assert match is not None
    expect(page.locator("#gc-run-status")).to_contain_text("done", timeout=30_000)
    return int(match.group(1))


def _figures(page: Page) -> dict[str, str]:
    return {
        key: page.locator(f"#gc-{key}").inner_text()
        for key in ("manifests", "links", "blobs", "uploads", "freed")
    }


def _runs(http: httpx.Client) -> list[dict[str, Any]]:
    runs: list[dict[str, Any]] = http.get("/api/v1/gc").json()["runs"]
    return runs


def test_an_admin_reads_a_dry_run_then_collects_it(
    page: Page, world: World, screenshot: Screenshot
) -> None:
    sign_in(page, world.server.url, world.server.username, world.server.password)
    page.goto(world.url(f"/images/{_REPO}/-/tags/v1"))
    page.get_by_role("link", name="Delete this tag…").click()
    page.get_by_role("button", name="Delete").click()
    expect(page.get_by_role("status")).to_contain_text(f"Deleted tag {_REPO}:v1.")

    _open_gc_tab(page)
    settings = page.locator("#gc-settings")
    expect(settings.get_by_role("row", name="Schedule")).to_contain_text("only on demand")
    expect(settings.get_by_role("row", name="Grace period")).to_contain_text("1 day (86400 s)")
    expect(settings.get_by_role("row", name="Untagged images")).to_contain_text("collected")
    expect(settings.get_by_role("row", name="In-flight window")).to_contain_text("0 s")
    expect(settings.get_by_role("row", name="Upload expiry")).to_contain_text("3 days")
    expect(page.locator("#gc-queues dd").first).not_to_have_text("0")  # the untagged image
    grace = page.get_by_label("Grace period (seconds)")
    expect(grace).to_have_value("86400")  # the setting, prefilled

    # a dry run at grace 0: what would go, item by item, and nothing goes
    grace.fill("0")
    page.get_by_role("button", name="Dry run").click()
    dry_id = _finished_run(page)
    expect(page.get_by_role("heading", name="Dry run #")).to_be_visible()
    expect(page.get_by_role("heading", name="Would remove", exact=True)).to_be_visible()
    dry = _figures(page)
    # the image, its config and layer, and their links in gc/app; the shared layer stays
    assert dry == {
        "manifests": "1", "links": "2", "blobs": "2", "uploads": "0",
        "freed": filesize(world.reclaimable),
    }  # fmt: skip
    expect(page.locator("#gc-freed")).to_have_attribute("title", f"{world.reclaimable} bytes")
    items = page.locator("#gc-items")
    expect(items.locator("thead")).to_contain_text("Would remove")
    expect(items.locator("tbody tr")).to_have_count(5)
    expect(items.locator('tr[data-kind="manifest"]')).to_contain_text(_REPO)
    expect(items.locator('tr[data-kind="manifest"]')).to_contain_text(
        short_digest(world.old.digest)
    )
    old_blob = items.locator('tr[data-kind="blob"]').filter(
        has_text=short_digest(sha256(world.old_layer))
    )
    expect(old_blob).to_contain_text(filesize(len(world.old_layer)))
    expect(items).not_to_contain_text(short_digest(sha256(world.shared_layer)))
    assert blob_file(world.server.data_dir, sha256(world.old_layer)).exists()
    screenshot(page, "gc-dry-run")

    # collect it: the same grace, the same figures, and the bytes are gone
    page.get_by_role("button", name="Collect this now").click()
    collect_id = _finished_run(page)
    assert collect_id > dry_id
    expect(page.get_by_role("heading", name="Collection #")).to_be_visible()
    expect(page.get_by_role("heading", name="Removed", exact=True)).to_be_visible()
    assert _figures(page) == dry
    expect(page.locator("#gc-items thead")).to_contain_text("Removed")
    expect(page.locator("#gc-items tbody tr")).to_have_count(5)
    expect(page.get_by_role("button", name="Collect this now")).to_have_count(0)
    assert not blob_file(world.server.data_dir, sha256(world.old_layer)).exists()
    assert blob_file(world.server.data_dir, sha256(world.shared_layer)).exists()
    assert world.http.head(f"/v2/{_REPO}/blobs/{sha256(world.old_layer)}").status_code == 404
    assert world.http.head(f"/v2/{_REPO}/manifests/v2").status_code == 200

    # both in the history, newest first, with who ran them
    page.get_by_role("link", name="Garbage collection").first.click()
    rows = page.locator("#gc-runs tbody tr")
    collect_row, dry_row = rows.nth(0), rows.nth(1)
    expect(collect_row).to_have_attribute("data-run", str(collect_id))
    expect(dry_row).to_have_attribute("data-run", str(dry_id))
    for row, mode in ((collect_row, "Collection"), (dry_row, "Dry run")):
        expect(row).to_contain_text(mode)
        expect(row).to_contain_text(world.server.username)
        expect(row).to_contain_text("done")
        expect(row).to_contain_text(filesize(world.reclaimable))
    expect(dry_row).to_contain_text("would remove")
    expect(collect_row).not_to_contain_text("would remove")
    expect(page.get_by_label("Grace period (seconds)")).to_have_value("86400")
    screenshot(page, "gc-history")
    audit = world.http.get("/api/v1/audit", params={"action": "gc"}).json()["events"]
    assert {"gc.collect", "gc.dry-run"} <= {event["action"] for event in audit}


def test_verify_store_from_the_page(page: Page, world: World) -> None:
    sign_in(page, world.server.url, world.server.username, world.server.password)
    page.goto(world.url("/admin/gc"))
    page.get_by_role("button", name="Verify store").click()
    _finished_run(page)
    expect(page.get_by_role("heading", name="Verification #")).to_be_visible()
    expect(page.get_by_text("The store and the database agree.")).to_be_visible()
    expect(page.locator("#gc-figures")).to_contain_text("Corrupt files")


def test_a_running_run_is_followed_until_it_ends(page: Page, world: World) -> None:
    """A run as long runs look while they work, written as a worker writes its progress:
    the page shows each beat without a reload, then the end, then stops asking."""
    db = Database(world.server.database_url)
    try:
        now = int(time.time())
        with db.write() as conn:
            run_id = gc_runs.add_run(conn, "verify", "api", "admin", 0, now)
            gc_runs.update_run(conn, run_id, "verifying", {"blobs_checked": 3}, now)
        sign_in(page, world.server.url, world.server.username, world.server.password)
        page.goto(world.url(f"/admin/gc/runs/{run_id}"))
        status = page.locator("#gc-run-status")
        expect(status).to_contain_text("running")
        expect(status).to_contain_text("Comparing the store with the database")
        expect(page.get_by_role("progressbar")).to_be_visible()
        expect(page.get_by_role("heading", name="Found so far")).to_be_visible()
        checked = page.locator("#gc-figures dd").first
        expect(checked).to_have_text("3")

        with db.write() as conn:
            gc_runs.update_run(conn, run_id, "verifying", {"blobs_checked": 7}, int(time.time()))
        expect(checked).to_have_text("7", timeout=5000)  # no reload: htmx asked again

        with db.write() as conn:
            gc_runs.finish_run(conn, run_id, "done", {"blobs_checked": 9}, int(time.time()))
        expect(status).to_contain_text("done", timeout=5000)
        expect(checked).to_have_text("9")
        expect(page.get_by_role("progressbar")).to_have_count(0)
        expect(page.get_by_text("The store and the database agree.")).to_be_visible()
        polls: list[Request] = []
        page.on(
            "request", lambda request: polls.append(request) if "progress" in request.url else None
        )
        page.wait_for_timeout(2500)
        assert polls == []  # the ended run's fragment asks no more
    finally:
        db.close()


def test_a_failed_run_shows_its_error(page: Page, world: World) -> None:
    db = Database(world.server.database_url)
    try:
        now = int(time.time())
        with db.write() as conn:
            run_id = gc_runs.add_run(conn, "collect", "schedule", None, 86_400, now)
            gc_runs.finish_run(
                conn, run_id, "failed", {"manifests_removed": 2}, now + 3,
                "OSError: <b>disk</b> unplugged",
            )  # fmt: skip
    finally:
        db.close()
    sign_in(page, world.server.url, world.server.username, world.server.password)
    page.goto(world.url(f"/admin/gc/runs/{run_id}"))
    expect(page.locator("#gc-run-status")).to_contain_text("failed")
    expect(page.get_by_role("alert")).to_have_text(
        "The run failed: OSError: <b>disk</b> unplugged"  # escaped, shown as written
    )
    expect(page.locator("#gc-manifests")).to_have_text("2")
    expect(page.get_by_role("row", name="By")).to_contain_text("the schedule")


def test_a_bad_grace_is_refused_on_the_page(page: Page, world: World) -> None:
    sign_in(page, world.server.url, world.server.username, world.server.password)
    page.goto(world.url("/admin/gc"))
    token = page.locator("input[name=csrf_token]").first.get_attribute("value") or ""
    before = len(_runs(world.http))
    for grace, message in (
        ("-1", "The grace period cannot be negative."),
        ("soon", "The grace period is a whole number of seconds."),
    ):
        response = page.request.post(
            world.url("/admin/gc"),
            form={"csrf_token": token, "mode": "collect", "grace_seconds": grace},
        )
        assert response.status == 400
        assert message in response.text()
        assert f'value="{grace}"' in response.text()  # the field keeps what was typed
    response = page.request.post(world.url("/admin/gc"), form={"mode": "collect"})
    assert response.status == 403  # no CSRF token: nothing is even tried
    assert len(_runs(world.http)) == before


def test_a_namespace_admin_sees_no_tab_and_is_refused(page: Page, world: World) -> None:
    sign_in(page, world.server.url, _NAMESPACE_ADMIN, _PASSWORD)
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Administration").click()
    tabs = page.get_by_role("navigation", name="Administration")
    expect(tabs.get_by_role("link", name="Namespaces")).to_be_visible()
    expect(tabs.get_by_role("link", name="Garbage collection")).to_have_count(0)
    expect(page.get_by_role("link", name="Garbage collection")).to_have_count(0)

    run_id = 1  # any: the role is checked before the run is looked up
    for path in ("/admin/gc", f"/admin/gc/runs/{run_id}", f"/admin/gc/runs/{run_id}/progress"):
        response = page.goto(world.url(path))
        assert response is not None
        assert response.status == 403, path
        expect(page.get_by_role("alert")).to_contain_text("registry admins")
        expect(page.locator("#gc-runs, #gc-figures, #gc-settings")).to_have_count(0)

    # her own session and CSRF token, a hand-made form: the service refuses it
    token = page.locator("input[name=csrf_token]").first.get_attribute("value") or ""
    before = len(_runs(world.http))
    forged = page.request.post(
        world.url("/admin/gc"), form={"csrf_token": token, "mode": "collect", "grace_seconds": "0"}
    )
    assert forged.status == 403
    assert len(_runs(world.http)) == before


def test_signed_out_the_pages_ask_to_sign_in(world: World) -> None:
    with httpx.Client(base_url=world.server.url) as anonymous:
        page = anonymous.get("/admin/gc")
        assert page.status_code == 303
        assert page.headers["location"] == "/signin?next=/admin/gc"
        # htmx polling a run whose session ended: the whole tab goes to the sign-in page
        fragment = anonymous.get("/admin/gc/runs/1/progress", headers={"HX-Request": "true"})
        assert fragment.status_code == 204
        assert fragment.headers["hx-redirect"] == "/signin?next=/admin/gc/runs/1"
        assert anonymous.post("/admin/gc", data={"mode": "collect"}).status_code == 303
