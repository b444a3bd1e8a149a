"""The console's repository, tag, image, overview and status pages as JSON (automation sees
what people see), against a real server."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest

from fixtures.admin import AdminApi
from fixtures.servers import DockyardServer
from fixtures.v2api import V2, sha256

_PASSWORD = "images-api-password-1"  # noqa: S105 - a test account
_OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"


@dataclass(frozen=True)
class World:
    server: DockyardServer
    admin: httpx.Client
    reader: httpx.Client
    stranger: httpx.Client
    first: str
    second: str


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    server = DockyardServer.create(tmp_path_factory.mktemp("images-api"))
    server.start()
    clients: list[httpx.Client] = []

    def client(auth: tuple[str, str]) -> httpx.Client:
        clients.append(httpx.Client(base_url=server.url, auth=auth, timeout=60))
        return clients[-1]

    try:
        admin = client((server.username, server.password))
        v2 = V2(admin)
        config = json.dumps(
            {
                "os": "linux",
                "architecture": "arm64",
                "config": {"Labels": {"team": "api"}},
                "rootfs": {"type": "layers", "diff_ids": [sha256(b"diff")]},
                "history": [{"created_by": "COPY app /app"}],
            }
        ).encode()
        layer = b"api layer"
        doc = {
            "schemaVersion": 2,
            "mediaType": _OCI_MANIFEST,
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                       "digest": v2.push_blob("api/app", config), "size": len(config)},
            "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                        "digest": v2.push_blob("api/app", layer), "size": len(layer)}],
        }  # fmt: skip
        first = json.dumps(doc).encode()
        second = v2.image_manifest("api/app", [b"other layer"])
        for tag, payload in (("v1", first), ("stable", first), ("v1", second)):
            assert v2.put_manifest("api/app", tag, payload).status_code == 201
        with AdminApi(server.url, (server.username, server.password)) as api:
            for name in ("reader", "stranger"):
                api.add_user(name, _PASSWORD)
            api.grant("read", "user:reader", "api")
        yield World(
            server, admin, client(("reader", _PASSWORD)), client(("stranger", _PASSWORD)),
            sha256(first), sha256(second),
        )  # fmt: skip
    finally:
        for each in clients:
            each.close()
        server.stop()


def test_tags_with_details_and_nested_tags(world: World) -> None:
    page = world.reader.get("/api/v1/tags", params={"repository": "api/app"}).json()
    assert page["total"] == 2
    tags = {t["name"]: t for t in page["tags"]}
    assert tags["stable"]["digest"] == world.first
    assert tags["stable"]["platforms"] == []
    assert tags["v1"]["digest"] == world.second
    assert tags["stable"]["size"] > 0
    assert page["role"] == "read"
    by_size = world.reader.get(
        "/api/v1/tags", params={"repository": "api/app", "sort": "size"}
    ).json()
    assert [t["name"] for t in by_size["tags"]] == ["stable", "v1"]  # its config is larger


def test_tag_history(world: World) -> None:
    detail = world.reader.get(
        "/api/v1/tags/history", params={"repository": "api/app", "tag": "v1"}
    ).json()
    assert detail["digest"] == world.second
    assert [(e["digest"], e["action"]) for e in detail["history"]] == [
        (world.second, "push"),
        (world.first, "push"),
    ]


def test_image_detail(world: World) -> None:
    image = world.reader.get(
        "/api/v1/images", params={"repository": "api/app", "digest": world.first}
    ).json()
    assert image["kind"] == "image"
    assert image["config"]["labels"] == {"team": "api"}
    assert image["config"]["architecture"] == "arm64"
    assert image["layers"][0]["step"]["created_by"] == "COPY app /app"
    assert image["layers"][0]["diff_id"] == sha256(b"diff")
    assert [t["tag"] for t in image["tags"]] == ["stable"]


def test_unreadable_is_not_found(world: World) -> None:
    for path, params in (
        ("/api/v1/tags", {"repository": "api/app"}),
        ("/api/v1/tags/history", {"repository": "api/app", "tag": "v1"}),
        ("/api/v1/images", {"repository": "api/app", "digest": world.first}),
    ):
        assert world.stranger.get(path, params=params).status_code == 404
        missing = {**params, "repository": "api/nothing"}
        assert world.reader.get(path, params=missing).status_code == 404


def test_overview_and_status(world: World) -> None:
    mine = world.reader.get("/api/v1/overview").json()
    assert [n["name"] for n in mine["namespaces"]] == ["api"]
    assert mine["show_storage"] is False
    assert mine["recent"][0]["name"] == "api/app"
    assert world.stranger.get("/api/v1/overview").json()["namespaces"] == []
    status = world.admin.get("/api/v1/status")
    assert status.status_code == 200
    assert {c["name"] for c in status.json()["checks"]} == {"database", "storage"}
    assert world.reader.get("/api/v1/status").status_code == 403
