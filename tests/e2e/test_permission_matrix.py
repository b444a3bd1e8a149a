"""Every /v2 route x every kind of caller x grants on a namespace and on a repository, each
with its exact status (issue 3: the permission matrix).

Callers sign in with Basic credentials, so a signed-in caller without the right gets 403
DENIED and an anonymous one 401 UNAUTHORIZED. Roles: read pulls, write also pushes, admin also
deletes; robots here hold write. A caller with no role cannot tell an existing repository
from a missing one (pitfalls §27).
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import httpx
import pytest

from fixtures.admin import AdminApi
from fixtures.servers import DockyardServer
from fixtures.v2api import V2, sha256

CALLERS = ["anonymous", "none", "read", "write", "admin", "registry-admin", "robot"]
SCOPES = ["namespace", "repository"]
_LEVEL = {"anonymous": 0, "none": 0, "read": 1, "write": 2, "robot": 2, "admin": 3,
          "registry-admin": 3}  # fmt: skip
_NEEDS = {"pull": 1, "push": 2, "delete": 3}
_PASSWORD = "matrix-password-1"  # noqa: S105 - test accounts
# Repositories the grants point at: the namespace grant covers ns-matrix/*, the repository
# grant covers rp-matrix/app only.
_TARGET = {"namespace": "ns-matrix/app", "repository": "rp-matrix/app"}
_MISSING = {"namespace": "ns-matrix/missing", "repository": "rp-matrix/missing"}


@dataclass
class World:
    server: DockyardServer
    admin: V2
    credentials: dict[tuple[str, str], tuple[str, str] | None]
    tag_digest: dict[str, str]
    layer: dict[str, str]


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    server = DockyardServer.create(tmp_path_factory.mktemp("matrix"))
    server.start()
    api = AdminApi(server.url, (server.username, server.password))
    admin_http = httpx.Client(base_url=server.url, auth=(server.username, server.password))
    try:
        admin = V2(admin_http)
        api.create_namespace("ns-matrix")
        api.create_repository("rp-matrix/app")
        credentials: dict[tuple[str, str], tuple[str, str] | None] = {}
        api.add_user("nobody", _PASSWORD)
        for scope in SCOPES:
            on = "ns-matrix" if scope == "namespace" else "rp-matrix/app"
            credentials[("anonymous", scope)] = None
            credentials[("none", scope)] = ("nobody", _PASSWORD)
            credentials[("registry-admin", scope)] = (server.username, server.password)
            for role in ("read", "write", "admin"):
                user = f"{scope[:2]}-{role}"
                api.add_user(user, _PASSWORD)
                api.grant(role, f"user:{user}", on)
                credentials[(role, scope)] = (user, _PASSWORD)
            credentials[("robot", scope)] = api.add_robot(f"{scope[:2]}-bot", [("write", on)])
        tag_digest, layer = {}, {}
        for scope, name in _TARGET.items():
            layer_bytes = secrets.token_bytes(64)
            layer[scope] = sha256(layer_bytes)
            manifest = admin.image_manifest(name, [layer_bytes])
            assert admin.put_manifest(name, "v1", manifest).status_code == 201
            tag_digest[scope] = sha256(manifest)
        yield World(server, admin, credentials, tag_digest, layer)
    finally:
        api.close()
        admin_http.close()
        server.stop()


# Each route: (what it needs, the status when allowed, the call). The call gets the caller's
# client, the world, the scope and the repository name; destructive calls first make what
# they delete, as the registry admin.
Call = Callable[[httpx.Client, World, str, str], httpx.Response]


def _fresh_manifest(world: World, name: str) -> tuple[bytes, str]:
    manifest = world.admin.image_manifest(name, [secrets.token_bytes(32)])
    tag = f"t{secrets.token_hex(4)}"
    assert world.admin.put_manifest(name, tag, manifest).status_code == 201
    return manifest, tag


def _upload_session(world: World, name: str) -> str:
    r = world.admin.http.post(f"/v2/{name}/blobs/uploads/")
    assert r.status_code == 202, r.text
    return str(r.headers["location"])


def _put_new_tag(c: httpx.Client, w: World, scope: str, name: str) -> httpx.Response:
    manifest = w.admin.image_manifest(name, [secrets.token_bytes(32)])
    headers = {"Content-Type": "application/vnd.oci.image.manifest.v1+json"}
    return c.put(f"/v2/{name}/manifests/n{secrets.token_hex(4)}", content=manifest, headers=headers)


def _delete_tag(c: httpx.Client, w: World, scope: str, name: str) -> httpx.Response:
    _, tag = _fresh_manifest(w, name)
    return c.delete(f"/v2/{name}/manifests/{tag}")


def _delete_manifest(c: httpx.Client, w: World, scope: str, name: str) -> httpx.Response:
    manifest, tag = _fresh_manifest(w, name)
    assert w.admin.http.delete(f"/v2/{name}/manifests/{tag}").status_code == 202
    return c.delete(f"/v2/{name}/manifests/{sha256(manifest)}")


def _delete_blob(c: httpx.Client, w: World, scope: str, name: str) -> httpx.Response:
    digest = w.admin.push_blob(name, secrets.token_bytes(48))
    return c.delete(f"/v2/{name}/blobs/{digest}")


def _monolithic_push(c: httpx.Client, w: World, scope: str, name: str) -> httpx.Response:
    data = secrets.token_bytes(40)
    return c.post(f"/v2/{name}/blobs/uploads/", params={"digest": sha256(data)}, content=data)


def _patch_session(c: httpx.Client, w: World, scope: str, name: str) -> httpx.Response:
    return c.patch(_upload_session(w, name), content=b"abc",
                   headers={"Content-Type": "application/octet-stream"})  # fmt: skip


def _close_session(c: httpx.Client, w: World, scope: str, name: str) -> httpx.Response:
    data = secrets.token_bytes(16)
    return c.put(_upload_session(w, name), params={"digest": sha256(data)}, content=data)


ROUTES: dict[str, tuple[str, int, Call]] = {
    "tags list": ("pull", 200, lambda c, w, s, n: c.get(f"/v2/{n}/tags/list")),
    "manifest HEAD by tag": ("pull", 200, lambda c, w, s, n: c.head(f"/v2/{n}/manifests/v1")),
    "manifest GET by tag": ("pull", 200, lambda c, w, s, n: c.get(f"/v2/{n}/manifests/v1")),
    "manifest GET by digest": (
        "pull",
        200,
        lambda c, w, s, n: c.get(f"/v2/{n}/manifests/{w.tag_digest[s]}"),
    ),
    "blob HEAD": ("pull", 200, lambda c, w, s, n: c.head(f"/v2/{n}/blobs/{w.layer[s]}")),
    "blob GET": ("pull", 200, lambda c, w, s, n: c.get(f"/v2/{n}/blobs/{w.layer[s]}")),
    "referrers": (
        "pull",
        200,
        lambda c, w, s, n: c.get(f"/v2/{n}/referrers/{w.tag_digest[s]}"),
    ),
    "upload POST": ("push", 202, lambda c, w, s, n: c.post(f"/v2/{n}/blobs/uploads/")),
    "monolithic blob POST": ("push", 201, _monolithic_push),
    "upload GET": ("push", 204, lambda c, w, s, n: c.get(_upload_session(w, n))),
    "upload PATCH": ("push", 202, _patch_session),
    "upload PUT": ("push", 201, _close_session),
    "upload DELETE": ("push", 204, lambda c, w, s, n: c.delete(_upload_session(w, n))),
    "manifest PUT": ("push", 201, _put_new_tag),
    "tag DELETE": ("delete", 202, _delete_tag),
    "manifest DELETE": ("delete", 202, _delete_manifest),
    "blob DELETE": ("delete", 202, _delete_blob),
}


def _client(world: World, caller: str, scope: str) -> httpx.Client:
    return httpx.Client(base_url=world.server.url, auth=world.credentials[(caller, scope)])


def _expected(caller: str, need: str, allowed: int) -> int:
    if _LEVEL[caller] >= _NEEDS[need]:
        return allowed
    return 401 if caller == "anonymous" else 403


@pytest.mark.parametrize("scope", SCOPES)
@pytest.mark.parametrize("caller", CALLERS)
@pytest.mark.parametrize("route", list(ROUTES))
def test_v2_route(world: World, route: str, caller: str, scope: str) -> None:
    need, allowed, call = ROUTES[route]
    with _client(world, caller, scope) as client:
        r = call(client, world, scope, _TARGET[scope])
    assert r.status_code == _expected(caller, need, allowed), r.text
    if r.status_code == 403 and r.request.method != "HEAD":
        assert json.loads(r.text)["errors"][0]["code"] == "DENIED"
        assert "requested access to the resource is denied" in r.text
    if r.status_code == 401:
        assert r.headers["www-authenticate"].startswith("Bearer realm=")


@pytest.mark.parametrize("scope", SCOPES)
@pytest.mark.parametrize("caller", CALLERS)
def test_missing_repository_is_no_oracle(world: World, caller: str, scope: str) -> None:
    """Where the caller may pull, a missing repository is 404; elsewhere it is refused
    exactly like an existing one."""
    with _client(world, caller, scope) as client:
        missing = client.get(f"/v2/{_MISSING[scope]}/tags/list")
        existing = client.get(f"/v2/{_TARGET[scope]}/tags/list")
    may_pull_namespace = _LEVEL[caller] >= 1 and (scope == "namespace" or caller ==
                                                  "registry-admin")  # fmt: skip
    if may_pull_namespace:
        assert missing.status_code == 404
        assert json.loads(missing.text)["errors"][0]["code"] == "NAME_UNKNOWN"
    else:
        expected = 401 if caller == "anonymous" else 403
        assert missing.status_code == expected
        if _LEVEL[caller] == 0:  # the same answer, but for the name it repeats
            same = existing.text.replace(_TARGET[scope], _MISSING[scope])
            assert (existing.status_code, same) == (missing.status_code, missing.text)


@pytest.mark.parametrize("scope", SCOPES)
@pytest.mark.parametrize("caller", CALLERS)
def test_ping_and_catalog(world: World, caller: str, scope: str) -> None:
    with _client(world, caller, scope) as client:
        ping = client.get("/v2/")
        catalog = client.get("/v2/_catalog")
    if caller == "anonymous":
        assert (ping.status_code, catalog.status_code) == (401, 401)
        return
    assert (ping.status_code, catalog.status_code) == (200, 200)
    listed = set(catalog.json()["repositories"])
    assert (_TARGET[scope] in listed) == (_LEVEL[caller] >= 1)
    if caller != "registry-admin":
        other = _TARGET["repository" if scope == "namespace" else "namespace"]
        assert other not in listed


@pytest.mark.parametrize("scope", SCOPES)
@pytest.mark.parametrize("caller", CALLERS)
def test_token_holds_exactly_the_role(world: World, caller: str, scope: str) -> None:
    name = _TARGET[scope]
    wanted = f"repository:{name}:pull,push,delete"
    r = httpx.get(f"{world.server.url}/auth/token", params={"service": "dockyard",
                  "scope": wanted}, auth=world.credentials[(caller, scope)])  # fmt: skip
    assert r.status_code == 200, r.text
    expected = {0: "", 1: "pull", 2: "pull,push", 3: "delete,pull,push"}[_LEVEL[caller]]
    assert r.json()["scope"] == (f"repository:{name}:{expected}" if expected else "")
