"""Tags that follow tags, and the tag's time machine, as skopeo sees them: a follower in
the same repository and one in another repository move with their source on a push, a
revert and a promotion; a loop is refused; an immutable follower stays and the skipped move
is audited."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from fixtures.clients import ClientEnv
from fixtures.deletes import Pusher
from fixtures.servers import DockyardServer, StartServer
from fixtures.v2api import V2

pytestmark = pytest.mark.clients

NO_TLS = "--tls-verify=false"


@pytest.fixture
def server(dockyard_factory: StartServer) -> DockyardServer:
    return dockyard_factory()


@pytest.fixture
def http(server: DockyardServer) -> Iterator[httpx.Client]:
    auth = (server.username, server.password)
    with httpx.Client(base_url=server.url, auth=auth, timeout=60) as client:
        yield client


def _digest(env: ClientEnv, ref: str) -> str:
    out = env.run("skopeo", "inspect", NO_TLS, "--format", "{{.Digest}}", f"docker://{ref}")
    return out.stdout.strip()


def _follow(http: httpx.Client, tag: str, follows: str, expect: int = 200) -> httpx.Response:
    r = http.put("/api/v1/tags/follow", json={"tag": tag, "follows": follows})
    assert r.status_code == expect, r.text
    return r


def test_followers_move_with_their_source(
    server: DockyardServer, http: httpx.Client, tmp_path: Path
) -> None:
    push = Pusher(V2(http))
    first = push.image("prod/shop/api", [os.urandom(256)], tags=("1.4",))
    _follow(http, "prod/shop/api:stable", "prod/shop/api:1.4")
    _follow(http, "mirror/shop/api:latest", "prod/shop/api:stable")  # a chain, elsewhere
    with ClientEnv(tmp_path / "client", server) as env:
        env.run("skopeo", "login", NO_TLS, "-u", server.username, "--password-stdin",
                server.hostport, stdin=server.password)  # fmt: skip
        host = server.hostport
        assert _digest(env, f"{host}/prod/shop/api:stable") == first.digest
        assert _digest(env, f"{host}/mirror/shop/api:latest") == first.digest
        # the mirror's blobs are linked: skopeo can copy the image out of it
        env.run("skopeo", "copy", "--src-tls-verify=false",
                f"docker://{host}/mirror/shop/api:latest", f"oci:{tmp_path / 'out'}:x")  # fmt: skip

        second = push.image("prod/shop/api", [os.urandom(256)], tags=("1.4",))
        assert _digest(env, f"{host}/prod/shop/api:stable") == second.digest
        assert _digest(env, f"{host}/mirror/shop/api:latest") == second.digest

        back = http.post("/api/v1/tags/revert", json={
            "repository": "prod/shop/api", "tag": "1.4", "digest": first.digest})  # fmt: skip
        assert back.status_code == 200, back.text
        assert _digest(env, f"{host}/mirror/shop/api:latest") == first.digest

    history = http.get(
        "/api/v1/tags/history", params={"repository": "prod/shop/api", "tag": "stable"}
    ).json()["history"]
    assert [e["action"] for e in history] == ["follow", "follow", "follow"]
    page = http.get("/api/v1/tags", params={"repository": "prod/shop/api"}).json()
    assert {t["name"]: t["follows"] for t in page["tags"]} == {
        "1.4": None, "stable": "prod/shop/api:1.4",
    }  # fmt: skip

    loop = _follow(http, "prod/shop/api:1.4", "mirror/shop/api:latest", expect=409)
    assert "follows prod/shop/api:1.4 already" in loop.json()["errors"][0]["message"]

    rule = {"scope": "namespace", "target": "mirror", "pattern": "*"}
    assert http.post("/api/v1/immutable-tag-rules", json=rule).status_code == 201
    push.image("prod/shop/api", [os.urandom(256)], tags=("1.4",))  # the push still lands
    assert (
        http.head("/v2/mirror/shop/api/manifests/latest").headers["Docker-Content-Digest"]
        == first.digest
    )
    [blocked] = http.get("/api/v1/audit", params={"action": "tag.follow.blocked"}).json()["events"]
    assert blocked["target"] == "mirror/shop/api:latest"

    assert (
        http.delete("/api/v1/tags/follow", params={"tag": "prod/shop/api:stable"}).status_code
        == 204
    )
