"""The repository, tag and image pages in real Chromium against a real server (issue 4,
screens 5 and 6): the IT lead's story (search a name, land on the repository, see tags and
digests), nested tags across repositories, a tag's history, an image's config, layers,
platforms and accessories, and hostile labels, history and annotations shown as text."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from playwright.sync_api import Dialog, Page, expect

from fixtures.admin import AdminApi
from fixtures.browser import Screenshot, sign_in
from fixtures.servers import DockyardServer
from fixtures.v2api import V2, sha256

_PASSWORD = "inspect-password-1"  # noqa: S105 - a test account
_READER = "viewer"
_APP = "team/app"
_MIRROR = "mirror/app"
_OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
_OCI_INDEX = "application/vnd.oci.image.index.v1+json"
_CONFIG_TYPE = "application/vnd.oci.image.config.v1+json"
_LAYER_TYPE = "application/vnd.oci.image.layer.v1.tar+gzip"
_HOSTILE = '<script>document.title="pwned"</script><img src=x onerror=alert(1)>'


@dataclass(frozen=True)
class World:
    server: DockyardServer
    v1: str  # team/app:v1 and :latest (and mirror/app:copy)
    v2: str  # team/app:v2, formerly v1's
    index: str  # team/app:multi
    amd64: str
    attestation: str
    signature: str  # cosign-tagged signature of v1
    referrer: str  # an SBOM whose subject is v1
    config_v1: str
    top_layer_v1: str


def _descriptor(media_type: str, data: bytes, digest: str) -> dict[str, Any]:
    return {"mediaType": media_type, "digest": digest, "size": len(data)}


def _push_image(
    v2: V2, name: str, tag: str | None, config: dict[str, Any], layers: list[bytes], **extra: Any
) -> tuple[str, str, list[str]]:
    config_bytes = json.dumps(config).encode()
    config_digest = v2.push_blob(name, config_bytes)
    layer_digests = [v2.push_blob(name, layer) for layer in layers]
    doc = {
        "schemaVersion": 2,
        "mediaType": _OCI_MANIFEST,
        "config": _descriptor(_CONFIG_TYPE, config_bytes, config_digest),
        "layers": [
            _descriptor(_LAYER_TYPE, layer, digest)
            for layer, digest in zip(layers, layer_digests, strict=True)
        ],
        **extra,
    }
    payload = json.dumps(doc).encode()
    digest = sha256(payload)
    response = v2.put_manifest(name, tag or digest, payload)
    assert response.status_code == 201, response.text
    return digest, config_digest, layer_digests


def _config(cmd: str, labels: dict[str, str], history: list[str]) -> dict[str, Any]:
    return {
        "architecture": "amd64",
        "os": "linux",
        "created": "2026-11-01T10:00:00Z",
        "author": "Team <team@example.com>",
        "config": {
            "Entrypoint": ["/bin/app"],
            "Cmd": [cmd],
            "User": "1000:1000",
            "WorkingDir": "/srv",
            "Env": ["PATH=/usr/bin", "MODE=production"],
            "ExposedPorts": {"8080/tcp": {}},
            "Volumes": {"/data": {}},
            "StopSignal": "SIGTERM",
            "Labels": labels,
        },
        "rootfs": {"type": "layers", "diff_ids": [sha256(b"diff-1"), sha256(b"diff-2")]},
        "history": [{"created_by": step} for step in history],
    }


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    server = DockyardServer.create(tmp_path_factory.mktemp("inspect"))
    server.start()
    auth = (server.username, server.password)
    try:
        with (
            httpx.Client(base_url=server.url, auth=auth, timeout=60) as http,
            AdminApi(server.url, auth) as api,
        ):
            v2 = V2(http)
            labels = {
                "org.opencontainers.image.source": "https://git.example.com/team/app",
                "org.opencontainers.image.url": "javascript:alert(3)",
                "evil": _HOSTILE,
            }
            history = ["ADD base.tar /", f"RUN echo {_HOSTILE}"]
            old, _, _ = _push_image(
                v2, _APP, "v1", _config("old", {}, history), [b"base layer", b"old app"]
            )
            v1, config_v1, layers_v1 = _push_image(
                v2,
                _APP,
                "v1",  # moves v1: its history now holds two digests
                _config("serve", labels, history),
                [b"base layer", b"new app"],
                annotations={"org.opencontainers.image.description": _HOSTILE},
            )
            payload = http.get(
                f"/v2/{_APP}/manifests/v1", headers={"Accept": _OCI_MANIFEST}
            ).content
            for name, tag in ((_APP, "latest"), (_MIRROR, "copy")):
                if name != _APP:  # the mirror needs the blobs too
                    _push_image(
                        v2, name, None, _config("serve", labels, history),
                        [b"base layer", b"new app"],
                        annotations={"org.opencontainers.image.description": _HOSTILE},
                    )  # fmt: skip
                assert v2.put_manifest(name, tag, payload).status_code == 201
            assert v2.put_manifest(_APP, "v2", http.get(
                f"/v2/{_APP}/manifests/{old}", headers={"Accept": _OCI_MANIFEST}
            ).content).status_code == 201  # fmt: skip
            amd64, _, _ = _push_image(v2, _APP, None, _config("amd", {}, history), [b"amd"])
            attestation, _, _ = _push_image(
                v2, _APP, None, {"architecture": "unknown", "os": "unknown"}, [b"provenance"]
            )
            index_doc = {
                "schemaVersion": 2,
                "mediaType": _OCI_INDEX,
                "manifests": [
                    {
                        "mediaType": _OCI_MANIFEST,
                        "digest": amd64,
                        "size": len(http.get(f"/v2/{_APP}/manifests/{amd64}").content),
                        "platform": {"os": "linux", "architecture": "amd64"},
                    },
                    {
                        "mediaType": _OCI_MANIFEST,
                        "digest": attestation,
                        "size": len(http.get(f"/v2/{_APP}/manifests/{attestation}").content),
                        "platform": {"os": "unknown", "architecture": "unknown"},
                        "annotations": {
                            "vnd.docker.reference.type": "attestation-manifest",
                            "vnd.docker.reference.digest": amd64,
                        },
                    },
                ],
            }
            index_payload = json.dumps(index_doc).encode()
            assert v2.put_manifest(_APP, "multi", index_payload, _OCI_INDEX).status_code == 201
            signature, _, _ = _push_image(
                v2, _APP, "sha256-" + v1.removeprefix("sha256:") + ".sig",
                {"architecture": "amd64", "os": "linux"}, [b"signature"],
            )  # fmt: skip
            referrer, _, _ = _push_image(
                v2, _APP, None, {}, [b"sbom"],
                artifactType="application/spdx+json",
                subject={"mediaType": _OCI_MANIFEST, "digest": v1, "size": len(payload)},
            )  # fmt: skip
            api.add_user(_READER, _PASSWORD)
            api.grant("read", f"user:{_READER}", "team")
        yield World(
            server, v1, old, sha256(index_payload), amd64, attestation, signature, referrer,
            config_v1, layers_v1[-1],
        )  # fmt: skip
    finally:
        server.stop()


def _watch(page: Page) -> list[str]:
    """Collects script errors, CSP violations and dialogs: none may happen."""
    problems: list[str] = []
    page.on("console", lambda msg: problems.append(msg.text) if msg.type == "error" else None)

    def on_dialog(dialog: Dialog) -> None:
        problems.append(f"dialog: {dialog.message}")
        dialog.dismiss()

    page.on("dialog", on_dialog)
    return problems


def test_it_lead_searches_a_name_and_lands_on_the_repository(
    browser_page: Page, world: World, screenshot: Screenshot
) -> None:
    page = browser_page
    problems = _watch(page)
    sign_in(page, world.server.url, world.server.username, world.server.password)
    page.goto(f"{world.server.url}/images")
    page.get_by_role("searchbox").fill(_APP)
    page.get_by_role("searchbox").press("Enter")
    expect(page).to_have_url(f"{world.server.url}/images/{_APP}")
    expect(page.get_by_role("heading", name=_APP)).to_be_visible()
    tags = page.locator("#tags tbody tr")
    # v1, latest, v2, multi; the cosign signature tag is an accessory, not a tag
    expect(tags).to_have_count(4)
    v1_row = page.locator('#tags tr[data-tag="v1"]')
    expect(v1_row).to_contain_text(world.v1.removeprefix("sha256:")[:12])
    expect(v1_row).to_contain_text("latest")  # the nested tags: same image, other tags
    expect(v1_row).to_contain_text(f"{_MIRROR}:copy")
    expect(v1_row).to_contain_text("2 accessories")  # the cosign signature and the SBOM
    expect(v1_row).to_contain_text(world.top_layer_v1.removeprefix("sha256:")[:12])
    expect(v1_row.get_by_role("button", name=f"Copy {world.v1}")).to_be_visible()
    expect(page.locator('#tags tr[data-tag="multi"]')).to_contain_text("linux/amd64")
    expect(page.locator('#tags tr[data-tag="multi"]')).not_to_contain_text("unknown")
    expect(page.locator("#pull-command")).to_contain_text(f"/{_APP}:")
    expect(page.locator("#push-command")).to_be_visible()  # the admin may push
    screenshot(page, "repository")
    page.get_by_role("link", name="last pushed").click()
    expect(page.locator("#tags tbody tr").first).to_have_attribute("data-tag", "multi")
    page.get_by_role("link", name="size").click()
    expect(page).to_have_url(f"{world.server.url}/images/{_APP}?sort=size")
    assert problems == []


def test_tag_history_lists_every_digest_it_pointed_to(
    browser_page: Page, world: World, screenshot: Screenshot
) -> None:
    page = browser_page
    sign_in(page, world.server.url, world.server.username, world.server.password)
    page.goto(f"{world.server.url}/images/{_APP}")
    page.locator('#tags tr[data-tag="v1"]').get_by_role("link", name="v1", exact=True).click()
    expect(page.get_by_role("heading", name=f"{_APP}:v1")).to_be_visible()
    history = page.locator("#history tbody tr")
    expect(history).to_have_count(2)
    expect(history.nth(0)).to_contain_text(world.v1.removeprefix("sha256:")[:12])
    expect(history.nth(1)).to_contain_text(world.v2.removeprefix("sha256:")[:12])
    expect(page.get_by_role("link", name="copy", exact=True)).to_be_visible()
    screenshot(page, "tag-history")


def test_image_page_shows_config_layers_and_accessories_as_text(
    browser_page: Page, world: World, screenshot: Screenshot
) -> None:
    page = browser_page
    problems = _watch(page)
    sign_in(page, world.server.url, world.server.username, world.server.password)
    page.goto(f"{world.server.url}/images/{_APP}/-/manifests/{world.v1}")
    expect(page.locator("#container")).to_contain_text('["/bin/app"]')
    expect(page.locator("#container")).to_contain_text("8080/tcp")
    expect(page.locator("#container")).to_contain_text("MODE=production")
    expect(page.locator("#labels")).to_contain_text(_HOSTILE)  # literally, as text
    expect(page.locator("#annotations")).to_contain_text(_HOSTILE)
    expect(page.locator("#layers tbody tr")).to_have_count(2)
    expect(page.locator("#layers")).to_contain_text(f"RUN echo {_HOSTILE}")
    expect(page.get_by_role("link", name="https://git.example.com/team/app")).to_be_visible()
    assert page.locator('a[href^="javascript:"]').count() == 0
    assert page.locator("img").count() == 0
    accessories = page.locator("#accessories")
    expect(accessories).to_contain_text("signature")
    expect(accessories).to_contain_text("SBOM")
    expect(page.get_by_text(world.config_v1)).to_be_visible()  # the image ID
    assert page.title() != "pwned"
    screenshot(page, "image")
    page.goto(f"{world.server.url}/images/{_APP}/-/manifests/{world.index}")
    expect(page.locator("#platforms tbody tr")).to_have_count(1)
    expect(page.locator("#platforms")).to_contain_text("linux/amd64")
    page.locator("#platforms").get_by_role("link").first.click()
    expect(page.locator("#accessories")).to_contain_text("attestation entry")
    screenshot(page, "image-platform")
    assert problems == []


def test_reader_sees_no_push_command_and_no_other_namespaces(
    browser_page: Page, world: World
) -> None:
    page = browser_page
    sign_in(page, world.server.url, _READER, _PASSWORD)
    page.goto(f"{world.server.url}/images/{_APP}")
    expect(page.locator("#pull-command")).to_be_visible()
    expect(page.locator("#push-command")).to_have_count(0)
    v1_row = page.locator('#tags tr[data-tag="v1"]')
    expect(v1_row).to_contain_text("latest")
    expect(v1_row).not_to_contain_text(_MIRROR)  # the reader cannot read mirror/
    # Unreadable and missing look the same: no existence oracle.
    response = page.goto(f"{world.server.url}/images/{_MIRROR}")
    assert response is not None
    assert response.status == 404
    expect(page.get_by_text(f"repository {_MIRROR} not found")).to_be_visible()
    missing = page.goto(f"{world.server.url}/images/mirror/nothing-here")
    assert missing is not None
    assert missing.status == 404
    expect(page.get_by_text("repository mirror/nothing-here not found")).to_be_visible()


def test_keyboard_alone_signs_in_and_reaches_an_image(browser_page: Page, world: World) -> None:
    """No mouse: type to sign in, skip the navigation, tab to a tag, open it, open its image."""
    page = browser_page
    page.goto(f"{world.server.url}/signin")
    # The user name field has the focus (once the page has loaded: a busy machine types first).
    expect(page.get_by_role("textbox", name="User name")).to_be_focused()
    page.keyboard.type(world.server.username)
    page.keyboard.press("Tab")
    page.keyboard.type(world.server.password)
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name="Overview")).to_be_visible()
    page.goto(f"{world.server.url}/images/{_APP}")
    page.keyboard.press("Tab")
    expect(page.get_by_role("link", name="Skip to content")).to_be_focused()
    page.keyboard.press("Enter")
    v1_link = page.locator('#tags tr[data-tag="v1"]').get_by_role("link", name="v1", exact=True)
    for _ in range(60):  # tab forward until the tag's link has the focus
        page.keyboard.press("Tab")
        if v1_link.evaluate("link => link === document.activeElement"):
            break
    expect(v1_link).to_be_focused()
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name=f"{_APP}:v1")).to_be_visible()
    digest_link = page.locator(".facts").get_by_role("link").first
    digest_link.focus()
    page.keyboard.press("Enter")
    expect(page.locator("#layers")).to_be_visible()
