"""`/api/v1/deletions` on a running server: preview, delete and undo for every kind, as the
console's automation would call them, with the API's error answers."""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from fixtures.admin import AdminApi
from fixtures.deletes import Pusher, blob_file
from fixtures.servers import DockyardServer
from fixtures.v2api import V2, sha256

PASSWORD = "deletes-password-1"  # noqa: S105 - test accounts


@dataclass
class World:
    server: DockyardServer
    api: AdminApi
    push: Pusher
    v2: V2

    def as_user(self, name: str) -> httpx.Client:
        return httpx.Client(base_url=self.server.url, auth=(name, PASSWORD), timeout=30)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    server = DockyardServer.create(tmp_path_factory.mktemp("deletes-api"))
    server.start()
    api = AdminApi(server.url, (server.username, server.password))
    http = httpx.Client(base_url=server.url, auth=(server.username, server.password), timeout=60)
    try:
        api.create_namespace("da")
        for name, role in (("alice", "admin"), ("rita", "read"), ("bob", "admin")):
            api.add_user(name, PASSWORD)
            api.grant(role, f"user:{name}", "da")
        api.add_user("nora", PASSWORD)
        v2 = V2(http)
        yield World(server, api, Pusher(v2), v2)
    finally:
        http.close()
        api.close()
        server.stop()


def _name() -> str:
    return f"da/api-{secrets.token_hex(3)}"


def _post(client: httpx.Client, path: str, body: dict[str, Any], expect: int = 200) -> Any:
    r = client.post(f"/api/v1{path}", json=body)
    assert r.status_code == expect, r.text
    return r.json()


def test_tag_preview_and_delete(world: World) -> None:
    name = _name()
    image = world.push.image(name, [os.urandom(100)], tags=("a", "b"))
    body = {"kind": "tag", "repository": name, "tags": ["a"]}
    with world.as_user("alice") as alice:
        plan = _post(alice, "/deletions/preview", body)
        assert plan["tags"] == [{"repository": name, "tag": "a", "digest": image.digest}]
        assert (plan["manifests"], plan["reclaimable_bytes"]) == ([], 0)
        done = _post(alice, "/deletions", body)
    assert done["deleted"]["tags"] == plan["tags"]
    assert done["undo"] is None
    assert world.v2.http.get(f"/v2/{name}/manifests/a").status_code == 404
    assert world.v2.http.get(f"/v2/{name}/manifests/b").status_code == 200
    [event] = world.api.audit(action="tag.delete", target=f"{name}:a")
    assert event["actor"] == "alice"
    assert event["address"]


def test_manifest_delete_undo_by_its_author_only(world: World) -> None:
    name = _name()
    layer = os.urandom(300)
    image = world.push.image(name, [layer], tags=("v1", "latest"))
    body = {"kind": "manifest", "repository": name, "digests": [image.digest], "undoable": True}
    with world.as_user("alice") as alice, world.as_user("bob") as bob:
        plan = _post(alice, "/deletions/preview", body)
        [manifest] = plan["manifests"]
        assert (manifest["tags"], manifest["role"]) == (["latest", "v1"], "image")
        assert plan["reclaimable_bytes"] == len(layer) + image.config_size
        done = _post(alice, "/deletions", body)
        assert done["undo"]
        assert done["undo_until"]
        assert world.v2.http.get(f"/v2/{name}/manifests/v1").status_code == 404
        refused = bob.post(f"/api/v1/deletions/{done['undo']}/undo")
        assert (refused.status_code, refused.json()["errors"][0]["code"]) == (403, "DENIED")
        undone = _post(alice, f"/deletions/{done['undo']}/undo", {})
    assert undone["manifests"] == [image.digest]
    assert {t["tag"] for t in undone["tags"]} == {"v1", "latest"}
    assert world.v2.http.get(f"/v2/{name}/manifests/v1").status_code == 200


def test_repository_and_layer(world: World) -> None:
    first, second = _name(), _name()
    secret = os.urandom(500)
    world.push.image(first, [secret], tags=("v1",))
    world.push.image(second, [secret, os.urandom(10)], tags=("v1",))
    digest = sha256(secret)
    with world.as_user("alice") as alice:
        plan = _post(alice, "/deletions/preview", {"kind": "layer", "digest": digest})
        assert {m["repository"] for m in plan["manifests"]} == {first, second}
        _post(alice, "/deletions", {"kind": "layer", "digest": digest})
        for name in (first, second):
            assert world.v2.http.get(f"/v2/{name}/blobs/{digest}").status_code == 404
        assert not blob_file(world.server.data_dir, digest).exists()
        gone = _post(alice, "/deletions", {"kind": "repository", "repository": first})
        assert gone["deleted"]["kind"] == "repository"
    assert first not in world.v2.catalog()


def test_errors(world: World) -> None:
    name = _name()
    child = world.push.image(name, [os.urandom(20)])
    index = world.push.index(name, [child], tags=("multi",))
    body = {"kind": "repository", "repository": name}
    with (
        world.as_user("rita") as rita,
        world.as_user("nora") as nora,
        world.as_user("alice") as alice,
    ):
        reader = rita.post("/api/v1/deletions", json=body)
        assert reader.status_code == 403
        assert "admin" in reader.json()["errors"][0]["message"]
        stranger = nora.post("/api/v1/deletions/preview", json=body)
        missing = nora.post("/api/v1/deletions/preview", json=body | {"repository": _name()})
        assert stranger.status_code == missing.status_code == 404
        incomplete = alice.post("/api/v1/deletions/preview", json={"kind": "tag"})
        assert incomplete.status_code == 400
        listed = alice.post(
            "/api/v1/deletions",
            json={"kind": "manifest", "repository": name, "digests": [child.digest]},
        )
        assert listed.status_code == 409
        assert index.digest in listed.json()["errors"][0]["message"]
        bad = alice.post(
            "/api/v1/deletions/preview", json={"kind": "layer", "digest": "sha256:nothex"}
        )
        assert bad.status_code == 400
