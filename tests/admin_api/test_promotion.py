"""Promotion on a running server: an image with an index, a signature referrer and a
cosign-tagged signature moves dev → test → prod by digest, its blobs linked (stored once,
on disk), behind the gates of each environment (a signature, an approval), with the
permission rules, the record and the audit log."""

from __future__ import annotations

import json
import os
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from fixtures.admin import AdminApi
from fixtures.deletes import Pushed, Pusher
from fixtures.servers import DockyardServer
from fixtures.v2api import OCI_INDEX, V2

PASSWORD = "promotion-password-1"  # noqa: S105 - test accounts
SIGNATURE = "application/vnd.example.signature.v1"
ENVIRONMENTS = [
    {"name": "pdev"},
    {"name": "ptest", "gates": {"referrer_types": [SIGNATURE]}},
    {"name": "pprod", "gates": {"approval_group": "qa-leads", "labels": ["team=shop"]}},
]


@dataclass
class World:
    server: DockyardServer
    api: AdminApi
    admin: httpx.Client
    push: Pusher  # as the registry admin

    def as_user(self, name: str) -> httpx.Client:
        return httpx.Client(base_url=self.server.url, auth=(name, PASSWORD), timeout=30)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    server = DockyardServer.create(
        tmp_path_factory.mktemp("promotion"),
        extra_env={"DOCKYARD_ENVIRONMENTS": json.dumps(ENVIRONMENTS)},
    )
    server.start()
    api = AdminApi(server.url, (server.username, server.password))
    http = httpx.Client(base_url=server.url, auth=(server.username, server.password), timeout=60)
    try:
        for namespace in ("pdev", "ptest", "pprod"):
            api.create_namespace(namespace)
        for name in ("jane", "quinn", "lee", "olga"):
            api.add_user(name, PASSWORD)
        api.grant("write", "user:jane", "pdev")
        api.grant("write", "user:jane", "ptest")
        api.grant("write", "user:jane", "pprod")
        api.grant("read", "user:quinn", "ptest")
        api.grant("read", "user:lee", "ptest")
        api.add_group("qa-leads")
        api.add_member("qa-leads", "lee")
        yield World(server, api, http, Pusher(V2(http)))
    finally:
        http.close()
        api.close()
        server.stop()


def _app() -> str:
    return f"shop/api-{secrets.token_hex(3)}"


def _image(world: World, name: str, *, tags: tuple[str, ...] = ()) -> Pushed:
    config = json.dumps(
        {"os": "linux", "architecture": "amd64", "config": {"Labels": {"team": "shop"}},
         "seed": os.urandom(4).hex()}
    ).encode()  # fmt: skip
    return world.push.image(name, [os.urandom(2048), os.urandom(1024)], tags=tags, config=config)


def _sign(world: World, name: str, subject: Pushed) -> Pushed:
    return world.push.image(name, [os.urandom(64)], subject=subject, artifact_type=SIGNATURE)


def _promote(client: httpx.Client, source: str, to: str, expect: int = 201, **extra: Any) -> Any:
    r = client.post("/api/v1/promotions", json={"source": source, "to": to, **extra})
    assert r.status_code == expect, r.text
    return r.json()


def _blob_files(data_dir: Path) -> int:
    return sum(1 for path in (data_dir / "blobs").rglob("*") if path.is_file())


def test_an_index_with_its_signatures_moves_by_digest_and_its_blobs_stay_once(
    world: World,
) -> None:
    app = _app()
    source = f"pdev/{app}"
    amd64, arm64 = _image(world, source), _image(world, source)
    index = world.push.index(source, [amd64, arm64], tags=("1.4",))
    signature = _sign(world, source, index)
    cosign = world.push.cosign_signature(source, index)
    files = _blob_files(world.server.data_dir)

    with world.as_user("jane") as jane:
        done = _promote(jane, f"{source}:1.4", "ptest")
    target = f"ptest/{app}"
    assert (done["digest"], done["target_repository"], done["target_tag"]) == (
        index.digest, target, "1.4",
    )  # fmt: skip
    assert done["manifests"] == 5  # the index, two images, two signatures
    assert done["gates"] == [
        {"gate": "referrer", "passed": True, "detail": f"a referrer of type {SIGNATURE}"}
    ]
    assert _blob_files(world.server.data_dir) == files  # linked, not copied

    v2 = world.admin
    r = v2.get(f"/v2/{target}/manifests/1.4", headers={"Accept": OCI_INDEX})
    assert r.status_code == 200, r.text
    assert r.headers["Docker-Content-Digest"] == index.digest
    for child in (amd64, arm64):
        got = v2.get(f"/v2/{target}/manifests/{child.digest}")
        assert got.status_code == 200, got.text
        assert v2.get(f"/v2/{target}/blobs/{child.config}").status_code == 200
    referrers = v2.get(f"/v2/{target}/referrers/{index.digest}").json()["manifests"]
    assert [m["digest"] for m in referrers] == [signature.digest]
    algorithm, hexpart = index.digest.split(":")
    sig_tag = v2.head(f"/v2/{target}/manifests/{algorithm}-{hexpart}.sig")
    assert sig_tag.headers["Docker-Content-Digest"] == cosign.digest

    [event] = world.api.audit(action="image.promote", target=f"{target}:1.4")
    assert event["actor"] == "jane"
    assert event["detail"]["digest"] == index.digest
    assert event["detail"]["source"] == source
    history = v2.get("/api/v1/promotions", params={"repository": source}).json()
    assert [(p["source_repository"], p["target_repository"]) for p in history] == [(source, target)]


def test_a_gate_refuses_until_the_image_is_signed(world: World) -> None:
    source = f"pdev/{_app()}"
    image = _image(world, source, tags=("2.0",))
    with world.as_user("jane") as jane:
        refused = _promote(jane, f"{source}:2.0", "ptest", expect=403)
        message = refused["errors"][0]["message"]
        assert f"promotion of {source}@{image.digest} to ptest refused" in message
        assert f"a referrer of type {SIGNATURE} is missing" in message
        [event] = world.api.audit(action="image.promote.refused")
        assert event["detail"]["digest"] == image.digest
        _sign(world, source, image)
        assert _promote(jane, f"{source}:2.0", "ptest")["digest"] == image.digest


def test_production_needs_an_approval_by_the_group(world: World) -> None:
    app = _app()
    source = f"pdev/{app}"
    image = _image(world, source, tags=("3.1",))
    _sign(world, source, image)
    with world.as_user("jane") as jane:
        _promote(jane, f"{source}:3.1", "ptest")
        refused = _promote(jane, f"ptest/{app}:3.1", "pprod", expect=403)
        assert "not yet approved by a member of qa-leads" in refused["errors"][0]["message"]
        approve = {"source": f"ptest/{app}:3.1", "environment": "pprod"}
        assert jane.post("/api/v1/approvals", json=approve).status_code == 403
    with world.as_user("lee") as lee:
        r = lee.post("/api/v1/approvals", json=approve | {"note": "QA passed"})
        assert r.status_code == 201, r.text
        assert r.json()["digest"] == image.digest
    with world.as_user("jane") as jane:
        done = _promote(jane, f"ptest/{app}:3.1", "pprod")
    assert {g["gate"]: g["passed"] for g in done["gates"]} == {"label": True, "approval": True}
    assert "approved by lee" in done["gates"][1]["detail"]
    got = world.admin.head(f"/v2/pprod/{app}/manifests/3.1")
    assert got.headers["Docker-Content-Digest"] == image.digest


def test_who_may_promote_where(world: World) -> None:
    app = _app()
    source = f"pdev/{app}"
    image = _image(world, source, tags=("1",))
    _sign(world, source, image)
    with world.as_user("olga") as olga:  # cannot read the source: it does not exist
        assert _promote(olga, f"{source}:1", "ptest", expect=404)
    with world.as_user("quinn") as quinn:  # reads test, cannot write it
        _promote(world.admin, f"{source}:1", "ptest")
        refused = _promote(quinn, f"ptest/{app}:1", "pprod", expect=403)
        assert "needs the write role on it" in refused["errors"][0]["message"]
    with world.as_user("jane") as jane:
        skip = _promote(jane, f"{source}:1", "pprod", expect=403)
        assert "only an admin of pprod/" in skip["errors"][0]["message"]
        by_digest = _promote(jane, f"{source}@{image.digest}", "ptest", expect=400)
        assert "needs the tag" in by_digest["errors"][0]["message"]
        _promote(jane, f"{source}@{image.digest}", "ptest", tag="1-again")
        unknown = _promote(jane, f"{source}:1", "staging", expect=400)
        assert (
            "'staging' is not an environment (pdev, ptest, pprod)"
            in unknown["errors"][0]["message"]
        )


def test_an_immutable_target_tag_is_not_moved_by_a_promotion(world: World) -> None:
    app = _app()
    source = f"pdev/{app}"
    first = _image(world, source, tags=("7",))
    _sign(world, source, first)
    _promote(world.admin, f"{source}:7", "ptest")
    r = world.admin.post(
        "/api/v1/immutable-tag-rules",
        json={"scope": "repository", "target": f"ptest/{app}", "pattern": "*"},
    )
    assert r.status_code == 201, r.text
    _promote(world.admin, f"{source}:7", "ptest")  # the same digest again: fine
    second = _image(world, source, tags=("7",))
    _sign(world, source, second)
    refused = _promote(world.admin, f"{source}:7", "ptest", expect=403)
    assert f"tag ptest/{app}:7 is immutable" in refused["errors"][0]["message"]
    got = world.admin.head(f"/v2/ptest/{app}/manifests/7")
    assert got.headers["Docker-Content-Digest"] == first.digest
