"""Tag rules and the tag's time machine on a running server: immutable tags (pushes and
/v2 deletes refused with DENIED and the rule's message, admin deletes refused unless a
registry admin overrides (audited), retention keeping protected tags, who may add or lift a
rule) and reverting a tag to a digest of its history."""

from __future__ import annotations

import os
import secrets
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from fixtures.admin import AdminApi
from fixtures.deletes import Pusher
from fixtures.servers import DockyardServer
from fixtures.v2api import V2, error_code, sha256

PASSWORD = "immutable-password-1"  # noqa: S105 - test accounts


@dataclass
class World:
    server: DockyardServer
    api: AdminApi
    admin: httpx.Client  # the registry admin
    push: Pusher  # as the registry admin

    def as_user(self, name: str) -> httpx.Client:
        return httpx.Client(base_url=self.server.url, auth=(name, PASSWORD), timeout=30)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    server = DockyardServer.create(tmp_path_factory.mktemp("immutable"))
    server.start()
    api = AdminApi(server.url, (server.username, server.password))
    http = httpx.Client(base_url=server.url, auth=(server.username, server.password), timeout=60)
    try:
        api.create_namespace("im")
        for name, role in (("lena", "admin"), ("rita", "read")):
            api.add_user(name, PASSWORD)
            api.grant(role, f"user:{name}", "im")
        yield World(server, api, http, Pusher(V2(http)))
    finally:
        http.close()
        api.close()
        server.stop()


def _repository() -> str:
    return f"im/app-{secrets.token_hex(3)}"


def _add_rule(client: httpx.Client, target: str, pattern: str = "*") -> dict[str, Any]:
    scope = "repository" if "/" in target else "namespace"
    r = client.post(
        "/api/v1/immutable-tag-rules", json={"scope": scope, "target": target, "pattern": pattern}
    )
    assert r.status_code == 201, r.text
    rule: dict[str, Any] = r.json()
    return rule


def _digest_of(world: World, name: str, tag: str) -> str:
    r = world.admin.head(f"/v2/{name}/manifests/{tag}")
    assert r.status_code == 200, r.text
    return r.headers["Docker-Content-Digest"]


def test_a_push_creates_an_immutable_tag_but_never_moves_it(world: World) -> None:
    name = _repository()
    with world.as_user("lena") as lena:
        rule = _add_rule(lena, name, "v*")
    first = world.push.image(name, [os.urandom(64)], tags=("v1", "latest"))
    world.push.image(name, [os.urandom(64)], tags=("latest",))  # not matched: moves
    again = world.push.v2.put_manifest(name, "v1", _payload(world, name, "v1"))
    assert again.status_code == 201, again.text  # the same digest: nothing moves

    other = world.push.v2.image_manifest(name, [os.urandom(64)])
    refused = world.push.v2.put_manifest(name, "v1", other)
    assert refused.status_code == 403, refused.text
    assert error_code(refused) == "DENIED"
    message = refused.json()["errors"][0]["message"]
    assert f"tag {name}:v1 is immutable" in message
    assert f"immutable tag rule #{rule['id']} (repository {name}, tags v*)" in message
    assert _digest_of(world, name, "v1") == first.digest
    # By digest the manifest may still be pushed: only the tag is protected.
    assert world.push.v2.put_manifest(name, sha256(other), other).status_code == 201


def _payload(world: World, name: str, tag: str) -> bytes:
    r = world.admin.get(
        f"/v2/{name}/manifests/{tag}",
        headers={"Accept": "application/vnd.oci.image.manifest.v1+json"},
    )
    assert r.status_code == 200, r.text
    return r.content


def test_v2_deletes_of_an_immutable_tag_are_denied(world: World) -> None:
    name = _repository()
    image = world.push.image(name, [os.urandom(64)], tags=("1.0",))
    _add_rule(world.admin, name)
    by_tag = world.admin.delete(f"/v2/{name}/manifests/1.0")
    assert by_tag.status_code == 403, by_tag.text
    assert error_code(by_tag) == "DENIED"
    assert "is immutable" in by_tag.json()["errors"][0]["message"]
    by_digest = world.admin.delete(f"/v2/{name}/manifests/{image.digest}")
    assert by_digest.status_code == 403, by_digest.text
    assert _digest_of(world, name, "1.0") == image.digest
    # A signature of the image is not protected by the image's tag.
    signature = world.push.image(name, [b"sig"], subject=image, artifact_type="application/x-sig")
    gone = world.admin.delete(f"/v2/{name}/manifests/{signature.digest}")
    assert gone.status_code == 202, gone.text


def test_admin_deletes_need_a_registry_admins_override(world: World) -> None:
    name = _repository()
    image = world.push.image(name, [os.urandom(64)], tags=("stable", "scratch"))
    rule = _add_rule(world.admin, "im", "stable")
    body: dict[str, Any] = {"kind": "manifest", "repository": name, "digests": [image.digest]}
    with world.as_user("lena") as lena:
        plan = lena.post("/api/v1/deletions/preview", json=body).json()
        assert [(h["tag"], h["rule"]) for h in plan["immutable"]] == [("stable", rule["id"])]
        for override in (False, True):  # a namespace admin cannot override
            r = lena.post("/api/v1/deletions", json=body | {"override_immutable": override})
            assert r.status_code == 403, r.text
            assert f"tag {name}:stable is immutable" in r.json()["errors"][0]["message"]
        tag_only = {"kind": "tag", "repository": name, "tags": ["scratch"]}
        assert lena.post("/api/v1/deletions", json=tag_only).status_code == 200
        whole = lena.post("/api/v1/deletions", json={"kind": "repository", "repository": name})
        assert whole.status_code == 403, whole.text
    assert _digest_of(world, name, "stable") == image.digest

    r = world.admin.post("/api/v1/deletions", json=body | {"override_immutable": True})
    assert r.status_code == 200, r.text
    [event] = world.api.audit(action="manifest.delete", target=f"{name}@{image.digest}")
    assert event["detail"]["immutable_override"] == [f"{name}:stable"]
    assert world.admin.head(f"/v2/{name}/manifests/stable").status_code == 404


def test_retention_keeps_tags_a_rule_protects(world: World) -> None:
    name = _repository()
    for tag in ("v1", "v2", "dev-1", "dev-2"):
        world.push.image(name, [os.urandom(32)], tags=(tag,))
    _add_rule(world.admin, name, "v*")
    r = world.admin.post(f"/api/v1/retention/simulate/repository/{name}", json={"keep_last": 0})
    assert r.status_code == 200, r.text
    going = sorted(removal["tag"] for removal in r.json()["removals"])
    assert going == ["dev-1", "dev-2"]
    assert r.json()["kept_reasons"] == {"immutable tag": 2}


def test_who_may_add_and_lift_rules(world: World) -> None:
    with world.as_user("rita") as rita:
        r = rita.post(
            "/api/v1/immutable-tag-rules",
            json={"scope": "namespace", "target": "im", "pattern": "*"},
        )
        assert r.status_code == 403, r.text
        hidden = rita.post(
            "/api/v1/immutable-tag-rules",
            json={"scope": "namespace", "target": "elsewhere", "pattern": "*"},
        )
        assert hidden.status_code == 404, hidden.text
    with world.as_user("lena") as lena:
        rule = _add_rule(lena, "im", "release-*")
        assert _add_rule(lena, "im", "release-*")["id"] == rule["id"]  # the same rule
        bad = lena.post(
            "/api/v1/immutable-tag-rules",
            json={"scope": "namespace", "target": "im", "pattern": "has space"},
        )
        assert bad.status_code == 400, bad.text
        listed = lena.get("/api/v1/immutable-tag-rules").json()
        assert rule["id"] in [r["id"] for r in listed]
        assert lena.delete(f"/api/v1/immutable-tag-rules/{rule['id']}").status_code == 403
    r = world.admin.delete(f"/api/v1/immutable-tag-rules/{rule['id']}")
    assert r.status_code == 200, r.text
    [event] = world.api.audit(action="immutable.rule.remove")
    assert event["detail"] == {"rule": rule["id"], "pattern": "release-*"}


def _put_at_once(world: World, name: str, tag: str, payloads: list[bytes]) -> list[int]:
    barrier = threading.Barrier(len(payloads))

    def put(payload: bytes) -> int:
        auth = (world.server.username, world.server.password)
        with httpx.Client(base_url=world.server.url, auth=auth, timeout=30) as http:
            barrier.wait()
            return V2(http).put_manifest(name, tag, payload).status_code

    with ThreadPoolExecutor(len(payloads)) as pool:
        return list(pool.map(put, payloads))


def test_two_first_pushes_of_a_protected_tag_at_once_leave_one_digest(world: World) -> None:
    _add_rule(world.admin, "im", "race-*")
    for attempt in range(5):
        name, tag = _repository(), f"race-{attempt}"
        payloads = [world.push.v2.image_manifest(name, [os.urandom(32)]) for _ in range(2)]
        statuses = _put_at_once(world, name, tag, payloads)
        assert sorted(statuses) == [201, 403], statuses
        winner = payloads[statuses.index(201)]
        assert _digest_of(world, name, tag) == sha256(winner)


def _revert(client: httpx.Client, name: str, tag: str, digest: str, **extra: Any) -> httpx.Response:
    body = {"repository": name, "tag": tag, "digest": digest, **extra}
    return client.post("/api/v1/tags/revert", json=body)


def test_a_tag_reverts_to_a_digest_of_its_history(world: World) -> None:
    name = _repository()
    old = world.push.image(name, [os.urandom(64)], tags=("app",))
    new = world.push.image(name, [os.urandom(64)], tags=("app",))
    other = world.push.image(name, [os.urandom(64)], tags=("other",))
    with world.as_user("rita") as rita:  # read only
        assert _revert(rita, name, "app", old.digest).status_code == 403
    with world.as_user("lena") as lena:
        never = _revert(lena, name, "app", other.digest)
        assert never.status_code == 404, never.text
        assert "never pointed to" in never.json()["errors"][0]["message"]
        r = _revert(lena, name, "app", old.digest)
        assert r.status_code == 200, r.text
        assert (r.json()["digest"], r.json()["previous"]) == (old.digest, new.digest)
    assert _digest_of(world, name, "app") == old.digest
    history = world.admin.get(
        "/api/v1/tags/history", params={"repository": name, "tag": "app"}
    ).json()["history"]
    assert [(e["action"], e["digest"]) for e in history] == [
        ("revert", old.digest), ("push", new.digest), ("push", old.digest),
    ]  # fmt: skip
    [event] = world.api.audit(action="tag.revert", target=f"{name}:app")
    assert event["actor"] == "lena"

    # An immutable tag moves back only by a registry admin's override.
    _add_rule(world.admin, name, "app")
    with world.as_user("lena") as lena:
        refused = _revert(lena, name, "app", new.digest, override_immutable=True)
        assert refused.status_code == 403, refused.text
    done = _revert(world.admin, name, "app", new.digest, override_immutable=True)
    assert done.status_code == 200, done.text
    assert _digest_of(world, name, "app") == new.digest

    # A digest that is gone since cannot come back.
    assert world.admin.delete(f"/v2/{name}/manifests/{old.digest}").status_code == 202
    gone = _revert(world.admin, name, "app", old.digest, override_immutable=True)
    assert gone.status_code == 409, gone.text
