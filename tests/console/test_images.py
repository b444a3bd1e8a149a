"""The Images and Search screens in real Chromium against a real server (issue 4, screens
3 and 4): only readable repositories appear, keyset pages of 100, search by name and by
digest prefix, and untrusted text shows literally without running."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from urllib.parse import quote

import httpx
import pytest
from playwright.sync_api import Dialog, Page, expect

from fixtures.admin import AdminApi
from fixtures.browser import Screenshot, sign_in
from fixtures.servers import DockyardServer
from fixtures.v2api import V2, sha256

_PASSWORD = "images-password-1"  # noqa: S105 - a test account
_READER = "reader"
_OPS = "ops/webapp"  # readable by the reader (read on namespace ops)
_LAB = "lab/notebook"  # not readable by the reader
_BULK = "pile"  # sorts after lab and ops, so their rows lead page 1
_BULK_COUNT = 105


@dataclass(frozen=True)
class World:
    server: DockyardServer
    lab_manifest: str


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    server = DockyardServer.create(tmp_path_factory.mktemp("images"))
    server.start()
    auth = (server.username, server.password)
    try:
        with (
            httpx.Client(base_url=server.url, auth=auth, timeout=60) as http,
            AdminApi(server.url, auth) as api,
        ):
            v2 = V2(http)
            for name, layer in ((_OPS, b"ops layer"), (_LAB, b"lab layer")):
                payload = v2.image_manifest(name, [layer])
                response = v2.put_manifest(name, "latest", payload)
                assert response.status_code == 201, response.text
            lab_manifest = sha256(v2.image_manifest(_LAB, [b"lab layer"]))
            api.add_user(_READER, _PASSWORD)
            api.grant("read", f"user:{_READER}", "ops")
            for i in range(_BULK_COUNT):
                api.create_repository(f"{_BULK}/repo-{i:03d}")
        yield World(server, lab_manifest)
    finally:
        server.stop()


def test_signed_out_visitors_are_sent_to_sign_in(world: World) -> None:
    for path in ("/images?namespace=ops", "/search?q=webapp"):
        response = httpx.get(f"{world.server.url}{path}")
        assert response.status_code == 303
        assert response.headers["location"] == f"/signin?next={quote(path, safe='/')}"


def test_admin_finds_a_repository_by_name(
    browser_page: Page, world: World, screenshot: Screenshot
) -> None:
    page = browser_page
    problems: list[str] = []  # CSP violations and script errors show up as console errors
    page.on("console", lambda msg: problems.append(msg.text) if msg.type == "error" else None)
    page.on("pageerror", lambda exc: problems.append(str(exc)))
    sign_in(page, world.server.url, world.server.username, world.server.password)

    nav = page.get_by_role("navigation", name="Main")
    nav.get_by_role("link", name="Images").click()
    expect(page.get_by_role("heading", name="Images")).to_be_visible()
    expect(nav.get_by_role("link", name="Images")).to_have_attribute("aria-current", "page")
    table = page.locator("table#repositories")
    expect(table.get_by_role("cell", name=_OPS, exact=True)).to_be_visible()
    expect(table.get_by_role("cell", name=_LAB, exact=True)).to_be_visible()
    pushed = table.get_by_role("row").filter(has_text=_OPS).locator("time")
    expect(pushed).to_have_text("just now")
    expect(pushed).to_have_attribute("title", re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC$"))
    screenshot(page, "images")

    page.get_by_role("searchbox").fill("webapp")
    page.get_by_role("searchbox").press("Enter")
    expect(page).to_have_url(f"{world.server.url}/search?q=webapp")
    found = page.get_by_role("table", name="Repositories")
    expect(found.get_by_role("cell", name=_OPS, exact=True)).to_be_visible()
    expect(found.get_by_role("row")).to_have_count(2)  # header + the one match
    screenshot(page, "search")
    assert problems == []


def test_search_by_digest_says_which_kind_of_match(
    browser_page: Page, world: World, screenshot: Screenshot
) -> None:
    page = browser_page
    sign_in(page, world.server.url, world.server.username, world.server.password)
    prefix = world.lab_manifest.removeprefix("sha256:")[:12]
    page.goto(f"{world.server.url}/search?q={prefix}")
    matches = page.get_by_role("table", name="Digest matches")
    row = matches.get_by_role("row").filter(has_text=_LAB)
    expect(row).to_have_count(1)
    expect(row.get_by_role("cell").first).to_have_text("manifest")
    expect(row.locator("[title]").first).to_have_attribute("title", world.lab_manifest)
    expect(row.locator("code").first).to_have_text(world.lab_manifest)
    expect(row).to_contain_text("latest")
    screenshot(page, "search-digest")


def test_a_reader_sees_only_what_they_may_read(browser_page: Page, world: World) -> None:
    page = browser_page
    sign_in(page, world.server.url, _READER, _PASSWORD)

    page.goto(f"{world.server.url}/images")
    rows = page.locator("table#repositories tbody tr")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text(_OPS)
    options = page.locator("select#namespace option").all_inner_texts()
    assert options == ["All namespaces", "ops"]

    page.goto(f"{world.server.url}/search?q=notebook")
    expect(page.get_by_text("Nothing you can read matches.")).to_be_visible()
    page.goto(f"{world.server.url}/search?q=webapp")
    expect(page.get_by_role("table", name="Repositories")).to_contain_text(_OPS)

    prefix = world.lab_manifest.removeprefix("sha256:")[:12]
    page.goto(f"{world.server.url}/search?q=sha256:{prefix}")
    expect(page.get_by_text("Nothing you can read matches.")).to_be_visible()
    assert _LAB not in page.content()


def test_untrusted_text_shows_literally_and_never_runs(browser_page: Page, world: World) -> None:
    page = browser_page
    dialogs: list[str] = []

    def record(dialog: Dialog) -> None:
        dialogs.append(dialog.message)
        dialog.dismiss()

    page.on("dialog", record)
    sign_in(page, world.server.url, world.server.username, world.server.password)
    text = "<script>alert(1)</script>"
    page.goto(f"{world.server.url}/search?q={quote(text)}")
    expect(page.locator("q.query")).to_have_text(text)
    expect(page.get_by_role("searchbox")).to_have_value(text)
    page.get_by_role("searchbox").fill('"><img src=x onerror=alert(2)>')
    page.get_by_role("searchbox").press("Enter")
    expect(page.locator("q.query")).to_have_text('"><img src=x onerror=alert(2)>')
    assert page.locator("img").count() == 0
    assert "<script>alert" not in page.content()
    assert dialogs == []


def test_an_invalid_search_explains_itself(browser_page: Page, world: World) -> None:
    page = browser_page
    sign_in(page, world.server.url, world.server.username, world.server.password)
    response = page.goto(f"{world.server.url}/search?q={'a' * 300}")
    assert response is not None
    assert response.status == 400
    expect(page.get_by_role("alert")).to_have_text("Search text is longer than 256 characters.")
    response = page.goto(f"{world.server.url}/search?q=%20")
    assert response is not None
    assert response.status == 400
    expect(page.get_by_role("alert")).to_have_text("Give something to search for.")


def test_images_come_in_keyset_pages_of_100(browser_page: Page, world: World) -> None:
    page = browser_page
    sign_in(page, world.server.url, world.server.username, world.server.password)
    page.goto(f"{world.server.url}/images")
    page.get_by_label("Namespace").select_option(_BULK)
    page.get_by_role("button", name="Show").click()
    expect(page).to_have_url(f"{world.server.url}/images?namespace={_BULK}&sort=name")
    rows = page.locator("table#repositories tbody tr")
    expect(rows).to_have_count(100)
    expect(rows.first).to_contain_text(f"{_BULK}/repo-000")
    expect(rows.last).to_contain_text(f"{_BULK}/repo-099")

    page.get_by_role("link", name="Next page").click()
    expect(page).to_have_url(
        f"{world.server.url}/images?namespace={_BULK}&last={quote(f'{_BULK}/repo-099', safe='')}"
    )
    expect(rows).to_have_count(_BULK_COUNT - 100)
    expect(rows.first).to_contain_text(f"{_BULK}/repo-100")
    expect(page.get_by_role("link", name="Next page")).to_have_count(0)
    expect(page.get_by_role("link", name="First page")).to_be_visible()


def test_images_sort_by_size_and_last_push_in_keyset_pages(
    browser_page: Page, world: World
) -> None:
    page = browser_page
    sign_in(page, world.server.url, world.server.username, world.server.password)
    page.goto(f"{world.server.url}/images")
    page.get_by_label("Sort by").select_option("size")
    page.get_by_role("button", name="Show").click()
    rows = page.locator("table#repositories tbody tr")
    expect(rows).to_have_count(100)
    # the two pushed repositories hold blobs; the 105 created ahead of a push hold none
    expect(rows.nth(0)).to_contain_text(_LAB)
    expect(rows.nth(1)).to_contain_text(_OPS)
    expect(rows.nth(2)).to_contain_text("0 B")
    first = set(rows.locator("td:first-child").all_inner_texts())
    page.get_by_role("link", name="Next page").click()
    expect(rows).to_have_count(_BULK_COUNT + 2 - 100)  # the cursor survives equal sizes
    second = set(rows.locator("td:first-child").all_inner_texts())
    assert not first & second
    assert len(first | second) == _BULK_COUNT + 2
    page.goto(f"{world.server.url}/images?sort=pushed")
    first_two = {rows.nth(0).inner_text().split()[0], rows.nth(1).inner_text().split()[0]}
    assert first_two == {_LAB, _OPS}  # pushed; the others never were
    expect(rows.nth(2)).to_contain_text("never")
