"""Import and sync from upstream registries, all real: CNCF distribution 2.8.2 (Debian's
docker-registry) with htpasswd credentials, over HTTP and over HTTPS with a self-signed
certificate, and a second Dockyard with token auth; the importing Dockyard is a server of
its own, driven through the admin API. Runs on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import ssl
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from fixtures.admin import AdminApi
from fixtures.distribution import distribution_registry
from fixtures.servers import DockyardServer, Registry, free_port
from fixtures.v2api import OCI_INDEX, V2, sha256

pytestmark = pytest.mark.slow


@dataclass
class World:
    server: DockyardServer
    api: AdminApi
    local: V2  # /v2 of the importing Dockyard
    upstream: Registry  # distribution, http, htpasswd
    seeded: dict[str, str]  # upstream tag of `app` -> digest

    def call(self, method: str, path: str, expect: int, **kwargs: Any) -> Any:
        return self.api._call(method, path, expect, **kwargs)

    def run(self, repository: str) -> dict[str, Any]:
        result: dict[str, Any] = self.call("POST", f"/syncs/{repository}/run", 200)
        return result

    def sync(self, repository: str) -> dict[str, Any]:
        found: dict[str, Any] = self.call("GET", f"/syncs/{repository}", 200)
        return found

    def local_digest(self, repository: str, reference: str) -> str | None:
        r = self.local.http.head(
            f"/v2/{repository}/manifests/{reference}",
            headers={"Accept": f"{OCI_INDEX}, application/vnd.oci.image.manifest.v1+json"},
        )
        return r.headers.get("Docker-Content-Digest") if r.status_code == 200 else None

    def pushes(self) -> int:
        events = self.call("GET", "/audit", 200, params={"action": "manifest.push", "limit": 500})
        return len(events["events"] if isinstance(events, dict) else events)


class _TwoStepV2(V2):
    """Distribution 2.8 answers a POST with `?digest=` with 202 (a session), not 201: push
    with POST then PUT, as the clients do."""

    def push_blob(self, name: str, data: bytes) -> str:
        digest = sha256(data)
        started = self.http.post(f"/v2/{name}/blobs/uploads/")
        assert started.status_code == 202, started.text
        location = started.headers["Location"]
        sep = "&" if "?" in location else "?"
        r = self.http.put(f"{location}{sep}digest={digest}", content=data)
        assert r.status_code == 201, r.text
        return digest


def _seed(v2: V2, name: str, tags: list[str]) -> dict[str, str]:
    digests = {}
    v2 = _TwoStepV2(v2.http)
    for tag in tags:
        payload = v2.image_manifest(name, [f"layer of {name}:{tag}".encode() * 50])
        r = v2.put_manifest(name, tag, payload)
        assert r.status_code == 201, r.text
        digests[tag] = sha256(payload)
    return digests


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    root = tmp_path_factory.mktemp("import")
    with distribution_registry(root / "distribution") as upstream:
        with httpx.Client(
            base_url=upstream.url, auth=(upstream.username, upstream.password), timeout=30
        ) as http:
            seeded = _seed(V2(http), "team/app", ["1.0", "1.1", "2.0"])
        server = DockyardServer.create(
            root / "dockyard",
            extra_env={"DOCKYARD_SYNC_POLL_SECONDS": "1", "DOCKYARD_GC_INTERVAL_MINUTES": "0",
                       "DOCKYARD_RETENTION_INTERVAL_MINUTES": "0"},
        )  # fmt: skip
        server.start()
        auth = (server.username, server.password)
        try:
            with (
                AdminApi(server.url, auth) as api,
                httpx.Client(base_url=server.url, auth=auth, timeout=30) as local,
            ):
                api._call("POST", "/upstreams", 201, json={
                    "name": "dist", "url": upstream.url, "username": upstream.username,
                    "password": upstream.password,
                })  # fmt: skip
                yield World(server, api, V2(local), upstream, seeded)
        finally:
            server.stop()
            server.drop_database()


def test_imports_all_tags_with_credentials_and_a_rerun_writes_nothing(world: World) -> None:
    world.call("POST", "/syncs", 201, json={"repository": "mirror/all", "source": "dist/team/app"})
    result = world.run("mirror/all")
    assert result == {"repository": "mirror/all", "status": "ok", "tags_total": 3,
                      "imported": 3, "unchanged": 0, "errors": []}  # fmt: skip
    for tag, digest in world.seeded.items():
        assert world.local_digest("mirror/all", tag) == digest
    layer = json.loads(world.local.http.get("/v2/mirror/all/manifests/1.0").content)["layers"][0]
    blob = world.local.http.get(f"/v2/mirror/all/blobs/{layer['digest']}")
    assert blob.status_code == 200
    assert sha256(blob.content) == layer["digest"]
    sync = world.sync("mirror/all")
    assert (sync["last_status"], sync["last_error"], sync["last_imported"]) == ("ok", None, 3)
    assert sync["last_run_at"] is not None

    pushes = world.pushes()
    again = world.run("mirror/all")
    assert (again["imported"], again["unchanged"], again["errors"]) == (0, 3, [])
    assert world.pushes() == pushes  # no manifest written, no tag moved
    assert world.sync("mirror/all")["last_imported"] == 0
    audit = world.call("GET", "/audit", 200, params={"action": "repository.sync"})
    events = audit["events"] if isinstance(audit, dict) else audit
    assert len([e for e in events if e["target"] == "repository:mirror/all"]) == 2


def test_imports_chosen_tags_only(world: World) -> None:
    world.call("POST", "/syncs", 201, json={
        "repository": "mirror/some", "source": "dist/team/app", "tags": ["1.*"],
    })  # fmt: skip
    result = world.run("mirror/some")
    assert (result["tags_total"], result["imported"], result["status"]) == (2, 2, "ok")
    assert world.local_digest("mirror/some", "1.1") == world.seeded["1.1"]
    assert world.local_digest("mirror/some", "2.0") is None


def test_credentials_are_not_stored_in_plaintext(world: World) -> None:
    engine = sa.create_engine(world.server.database_url)
    try:
        with engine.connect() as conn:
            row = conn.execute(
                sa.text(
                    "SELECT username, password_encrypted FROM upstream_registry WHERE name = 'dist'"
                )
            ).one()
    finally:
        engine.dispose()
    assert row[0] == world.upstream.username
    assert row[1]
    assert world.upstream.password not in row[1]
    assert row[1].startswith("gAAAA")  # a Fernet token
    listed = world.call("GET", "/upstreams", 200)
    assert world.upstream.password not in json.dumps(listed)
    assert [u["has_password"] for u in listed if u["name"] == "dist"] == [True]
    key = world.server.data_dir / "secrets.key"
    assert key.stat().st_mode & 0o777 == 0o600


def test_an_index_with_two_platforms_from_a_second_dockyard(
    world: World, dockyard_server: Registry, v2: V2, repo: Callable[[str], str]
) -> None:
    name = repo("origin/multi")
    children: list[dict[str, Any]] = []
    for arch in ("amd64", "arm64"):
        payload = v2.image_manifest(name, [f"{arch} layer".encode() * 100])
        assert v2.put_manifest(name, sha256(payload), payload).status_code == 201
        children.append({"mediaType": "application/vnd.oci.image.manifest.v1+json",
                         "digest": sha256(payload), "size": len(payload),
                         "platform": {"architecture": arch, "os": "linux"}})  # fmt: skip
    index = json.dumps({"schemaVersion": 2, "mediaType": OCI_INDEX,
                        "manifests": children}).encode()  # fmt: skip
    assert v2.put_manifest(name, "latest", index, OCI_INDEX).status_code == 201
    world.call("POST", "/upstreams", 201, json={
        "name": "other-dockyard", "url": dockyard_server.url,
        "username": dockyard_server.username, "password": dockyard_server.password,
    })  # fmt: skip
    world.call("POST", "/syncs", 201, json={
        "repository": "mirror/multi", "source": f"other-dockyard/{name}",
    })  # fmt: skip

    result = world.run("mirror/multi")
    assert (result["status"], result["imported"]) == ("ok", 1), result
    assert world.local_digest("mirror/multi", "latest") == sha256(index)
    for child in children:
        assert world.local_digest("mirror/multi", child["digest"]) == child["digest"]
    assert world.run("mirror/multi")["unchanged"] == 1


def test_a_wrong_password_and_an_unreachable_upstream_are_readable_errors(world: World) -> None:
    world.call("POST", "/upstreams", 201, json={
        "name": "dist-wrong", "url": world.upstream.url, "username": world.upstream.username,
        "password": "not-the-password",
    })  # fmt: skip
    world.call("POST", "/upstreams", 201, json={
        "name": "gone", "url": f"http://127.0.0.1:{free_port()}",
    })  # fmt: skip
    for repository, upstream in (("mirror/denied", "dist-wrong"), ("mirror/gone", "gone")):
        body = {"repository": repository, "source": f"{upstream}/team/app"}
        world.call("POST", "/syncs", 201, json=body)
        assert world.run(repository)["status"] == "failed"
    denied = world.sync("mirror/denied")
    assert denied["last_status"] == "failed"
    assert "upstream dist-wrong" in denied["last_error"]
    assert "access denied (HTTP 401)" in denied["last_error"]
    gone = world.sync("mirror/gone")
    assert "upstream gone" in gone["last_error"]
    assert "cannot connect" in gone["last_error"]


def test_the_repository_page_shows_the_sync_and_its_error(world: World, browser_page: Any) -> None:
    from playwright.sync_api import expect

    from fixtures.browser import sign_in

    world.call("POST", "/upstreams", 201, json={"name": "dist-bad", "url": world.upstream.url,
               "username": "nobody", "password": "wrong-password"})  # fmt: skip
    world.call("POST", "/syncs", 201, json={"repository": "mirror/shown",
               "source": "dist-bad/team/app"})  # fmt: skip
    world.run("mirror/shown")
    # the repository must exist for its page: one tag imported from the good upstream
    world.call("POST", "/syncs", 201, json={"repository": "mirror/ok", "source": "dist/team/app",
               "tags": ["2.0"]})  # fmt: skip
    world.run("mirror/ok")
    server = world.server
    sign_in(browser_page, server.url, server.username, server.password)
    browser_page.goto(f"{server.url}/images/mirror/ok")
    expect(browser_page.locator("#sync-status")).to_contain_text("Synced from dist/team/app")
    expect(browser_page.locator("#sync-status")).to_contain_text("status: ok")
    # a failed sync into a repository that has nothing yet: the page exists once a tag does
    world.local.put_manifest(
        "mirror/shown", "seed", world.local.image_manifest("mirror/shown", [b"seed"])
    )
    browser_page.goto(f"{server.url}/images/mirror/shown")
    expect(browser_page.locator("#sync-status")).to_contain_text("status: failed")
    expect(browser_page.get_by_role("alert")).to_contain_text("access denied (HTTP 401)")


def test_tls_is_verified_by_default(world: World, tmp_path: Path) -> None:
    with distribution_registry(tmp_path / "tls", tls=True) as secure:
        assert secure.ca_file is not None
        with httpx.Client(base_url=secure.url, auth=(secure.username, secure.password),
                          verify=ssl.create_default_context(cafile=str(secure.ca_file)),
                          timeout=30) as http:  # fmt: skip
            digests = _seed(V2(http), "team/tls", ["1.0"])
        credentials = {"url": secure.url, "username": secure.username,
                       "password": secure.password}  # fmt: skip
        world.call("POST", "/upstreams", 201, json={"name": "self-signed", **credentials})
        world.call("POST", "/upstreams", 201, json={
            "name": "self-signed-trusted", "ca_file": str(secure.ca_file), **credentials,
        })  # fmt: skip
        for repository, upstream in (("mirror/tls-refused", "self-signed"),
                                     ("mirror/tls-trusted", "self-signed-trusted")):  # fmt: skip
            body = {"repository": repository, "source": f"{upstream}/team/tls"}
            world.call("POST", "/syncs", 201, json=body)
        refused = world.run("mirror/tls-refused")
        assert refused["status"] == "failed"
        assert "certificate" in refused["errors"][0].lower()
        assert "certificate" in world.sync("mirror/tls-refused")["last_error"].lower()
        trusted = world.run("mirror/tls-trusted")
        assert (trusted["status"], trusted["imported"]) == ("ok", 1), trusted
        assert world.local_digest("mirror/tls-trusted", "1.0") == digests["1.0"]


def test_a_scheduled_sync_runs_by_itself(world: World) -> None:
    world.call("POST", "/syncs", 201, json={
        "repository": "mirror/scheduled", "source": "dist/team/app", "tags": ["2.0"],
        "every_minutes": 60,
    })  # fmt: skip
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        sync = world.sync("mirror/scheduled")
        if sync["last_status"] in ("ok", "failed"):
            break
        time.sleep(0.5)
    assert (sync["last_status"], sync["last_imported"]) == ("ok", 1), sync
    assert world.local_digest("mirror/scheduled", "2.0") == world.seeded["2.0"]
    assert sync["next_run_at"] >= sync["last_run_at"] + 3600 - 5  # the next one, an hour on
    audit = world.call("GET", "/audit", 200, params={"action": "repository.sync"})
    events = audit["events"] if isinstance(audit, dict) else audit
    mine = [e for e in events if e["target"] == "repository:mirror/scheduled"]
    assert [e["actor"] for e in mine] == ["sync"]


def test_an_upstream_in_use_cannot_be_removed_and_a_run_needs_write(world: World) -> None:
    body = {"repository": "mirror/guarded", "source": "dist/team/app", "tags": ["2.0"]}
    world.call("POST", "/syncs", 201, json=body)
    assert world.run("mirror/guarded")["status"] == "ok"  # the repository exists: a grant on it
    r = world.api.http.delete("/api/v1/upstreams/dist")
    assert r.status_code == 409
    assert "in use" in r.json()["errors"][0]["message"]
    world.call("POST", "/users", 201, json={"name": "reader", "password": "reader-password-1"})
    world.call(
        "POST",
        "/grants",
        201,
        json={"role": "read", "to": "user:reader", "on": "repository:mirror/guarded"},
    )
    with httpx.Client(base_url=world.server.url, auth=("reader", "reader-password-1")) as reader:
        assert reader.post("/api/v1/syncs/mirror/guarded/run").status_code == 403
        assert reader.get("/api/v1/syncs/mirror/guarded").status_code == 200
        assert reader.get("/api/v1/syncs/mirror/other").status_code == 404
        assert reader.delete("/api/v1/syncs/mirror/guarded").status_code == 403
        assert reader.get("/api/v1/upstreams").status_code == 403
