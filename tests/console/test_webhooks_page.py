"""Webhooks in the console, in real Chromium against a real server: add one (its secret
shown once), see a push delivered to a real receiver in the delivery log, send it again,
disable the webhook; someone who is not a registry admin is refused."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest
from playwright.sync_api import Page, expect

from dockyard.registry.webhooks.signing import verify
from fixtures.admin import AdminApi
from fixtures.browser import Screenshot, sign_in
from fixtures.deletes import Pusher
from fixtures.servers import DockyardServer
from fixtures.v2api import V2
from fixtures.webhook_receiver import Receiver

_PASSWORD = "webhook-password-1"  # noqa: S105 - a test account
_USER = "developer"


@dataclass(frozen=True)
class World:
    server: DockyardServer
    push: Pusher
    receiver: Receiver


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    receiver = Receiver()
    receiver.start()
    server = DockyardServer.create(
        tmp_path_factory.mktemp("webhooks-page"),
        extra_env={"DOCKYARD_RETENTION_INTERVAL_MINUTES": "0", "DOCKYARD_GC_INTERVAL_MINUTES": "0",
                   "DOCKYARD_WEBHOOK_ALLOWED_NETWORKS": '["127.0.0.1/32"]',
                   "DOCKYARD_WEBHOOK_POLL_SECONDS": "0.2"},
    )  # fmt: skip
    server.start()
    auth = (server.username, server.password)
    try:
        with (
            httpx.Client(base_url=server.url, auth=auth, timeout=60) as http,
            AdminApi(server.url, auth) as api,
        ):
            api.add_user(_USER, _PASSWORD)
            yield World(server, Pusher(V2(http)), receiver)
    finally:
        server.stop()
        receiver.stop()


def test_add_a_webhook_and_follow_its_deliveries(
    browser_page: Page, world: World, screenshot: Screenshot
) -> None:
    page = browser_page
    sign_in(page, world.server.url, world.server.username, world.server.password)
    page.goto(f"{world.server.url}/admin")
    page.get_by_role("link", name="Webhooks").click()
    expect(page.get_by_role("heading", name="Webhooks", exact=True)).to_be_visible()
    page.get_by_label("Name").fill("ci")
    page.get_by_label("URL").fill(world.receiver.url)
    page.get_by_label("Only repositories matching").fill("apps/*")
    page.get_by_label("delete").uncheck()
    page.get_by_role("button", name="Add webhook").click()
    expect(page.get_by_role("heading", name="Webhook ci added")).to_be_visible()
    secret = page.locator("#webhook-secret").inner_text()
    assert len(secret) >= 32
    page.get_by_role("link", name="Done: back to the webhooks").click()
    row = page.locator("#webhook-ci")
    expect(row).to_contain_text("push, promote, tag-move")
    expect(row).to_contain_text("apps/*")
    assert secret not in page.content()  # never shown again

    world.push.image("apps/api", [b"api"], tags=("1.0",))
    (got,) = world.receiver.wait_for(lambda seen: len(seen) >= 1)
    assert verify(secret, got.headers["dockyard-signature"], got.body, int(time.time()))
    log = page.locator("#delivery-log tbody tr")
    deadline = time.monotonic() + 10
    page.reload()
    while "delivered" not in (page.locator("#deliveries").text_content() or ""):
        assert time.monotonic() < deadline
        page.reload()
    expect(log).to_have_count(1)
    expect(log.first).to_contain_text("apps/api:1.0")
    expect(log.first).to_contain_text("HTTP 200")
    screenshot(page, "webhooks")

    log.first.get_by_role("button", name="Redeliver").click()
    expect(page.get_by_role("status")).to_contain_text("sent again")
    world.receiver.wait_for(lambda seen: len(seen) >= 2)
    assert world.receiver.received[1].body == got.body

    row.get_by_role("button", name="Disable ci").click()
    expect(page.get_by_role("status")).to_contain_text("Webhook disabled")
    expect(page.locator("#webhook-ci")).to_contain_text("disabled")


def test_someone_not_a_registry_admin_is_refused(browser_page: Page, world: World) -> None:
    page = browser_page
    sign_in(page, world.server.url, _USER, _PASSWORD)
    response = page.goto(f"{world.server.url}/admin/webhooks")
    assert response is not None
    assert response.status == 403
    expect(page.get_by_role("alert")).to_contain_text("registry admins")
