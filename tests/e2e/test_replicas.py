"""Several stateless replicas behind a load balancer (nginx, the README's recipe): nothing a
request needs lives in one replica. The replicas share the suite's metadata back end and one
data folder; each test either goes through nginx, as clients do, or speaks to one replica
directly to make a request land where it wants (A, then B)."""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from dockyard.metadata.db import Database
from fixtures.admin import AdminApi
from fixtures.clients import ClientEnv
from fixtures.conformance import run_suite_2026
from fixtures.images import Image, Layout, SampleImages
from fixtures.replicas import RECIPE, Replicas, nginx_config
from fixtures.seaweedfs import SeaweedFS
from fixtures.servers import DockyardServer, Registry, registry_from_env
from fixtures.sql import run_sql
from fixtures.v2api import OCI_MANIFEST, V2, sha256

pytestmark = pytest.mark.slow

CHUNK = 1 << 20
NO_TLS = "--tls-verify=false"
MANIFEST_ACCEPT = {"Accept": OCI_MANIFEST}


def _start(base: Path, store_env: dict[str, str]) -> Replicas:
    if registry_from_env() is not None:
        pytest.fail("these tests start their own replicas; unset DOCKYARD_TEST_REGISTRY")
    # A database never migrated (a new SQLite file, or a new PostgreSQL database): the
    # replicas race for the migrations and the first admin, as those of a new deployment do.
    return Replicas.start(base, migrated=False, store_env=store_env)


StoreFor = Callable[[], dict[str, str]]


@pytest.fixture(scope="module", params=["shared-folder", "s3"])
def store_for(request: pytest.FixtureRequest) -> StoreFor:
    """The blob store every replica of a set shares: one data folder all of them mount (a
    shared volume), or one S3 bucket (SeaweedFS), where a replica keeps nothing of its own
    on disk. Each call gives a new set its own prefix."""
    if request.param == "shared-folder":
        return dict
    store: SeaweedFS = request.getfixturevalue("seaweedfs")
    return lambda: store.server_env(f"replicas-{secrets.token_hex(4)}/")


@pytest.fixture(scope="module")
def replicas(store_for: StoreFor, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Replicas]:
    """Two replicas and nginx, shared by this module's tests (each uses its own names)."""
    started = _start(tmp_path_factory.mktemp("replicas"), store_for())
    try:
        yield started
    finally:
        started.stop()


def _client(target: Registry | DockyardServer, auth: tuple[str, str] | None) -> httpx.Client:
    return httpx.Client(base_url=target.url, auth=auth, timeout=120)


@pytest.fixture
def a_and_b(replicas: Replicas) -> Iterator[tuple[httpx.Client, httpx.Client]]:
    """Admin clients speaking to replica A and to replica B directly."""
    auth = (replicas.registry.username, replicas.password)
    a, b = (_client(server, auth) for server in replicas.servers)
    with a, b:
        yield a, b


# --- starting together ----------------------------------------------------------------------


def test_replicas_started_at_once_share_one_admin(replicas: Replicas) -> None:
    """Both ran migrations and the first-admin step at the same moment; one admin exists,
    with the one password, and each replica accepts it."""
    db = Database(replicas.database_url)
    try:
        with db.read() as conn:
            names = [row[0] for row in run_sql(conn, 'SELECT name FROM "user"')]
    finally:
        db.close()
    assert names == ["admin"]
    for server in replicas:
        with _client(server, (server.username, replicas.password)) as client:
            assert client.get("/v2/").status_code == 200


def test_no_replica_drains_because_another_one_started(replicas: Replicas) -> None:
    """A replica's reload generation is its own: the second replica starting must not make
    the first close every connection (`Connection: close` is for a worker being replaced)."""
    for server in replicas:
        with _client(server, None) as client:
            response = client.get("/healthz")
        assert response.status_code == 200
        assert response.headers.get("connection") != "close", server.hostport


def test_the_proxy_settings_are_the_recipe_s() -> None:
    """The nginx the tests run is the README's recipe with only listen, TLS and upstream
    lines changed: every proxy setting of the recipe is in it, unchanged."""
    recipe = RECIPE.read_text()
    made = nginx_config(recipe, "127.0.0.1:1", ["127.0.0.1:2", "127.0.0.1:3"])
    kept = [
        line.strip()
        for line in recipe.splitlines()
        if line.strip().startswith(("proxy_", "client_", "chunked_", "send_", "keepalive"))
    ]
    assert len(kept) >= 15
    made_lines = {line.strip() for line in made.splitlines()}
    assert set(kept) <= made_lines
    assert "listen 127.0.0.1:1;" in made_lines
    assert {"server 127.0.0.1:2;", "server 127.0.0.1:3;"} <= made_lines
    assert not any(line.startswith(("ssl_", "http2")) for line in made_lines)


# --- the conformance suite through nginx ----------------------------------------------------


@pytest.mark.conformance
def test_conformance_2026_through_the_load_balancer(
    replicas: Replicas, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    registry = replicas.registry
    run_suite_2026(registry, registry.username, registry.password, tmp_path, capsys,
                   "conformance (2026-08-31, two replicas behind nginx)")  # fmt: skip


# --- uploads ----------------------------------------------------------------------------


def test_chunked_upload_alternating_between_replicas(
    replicas: Replicas, a_and_b: tuple[httpx.Client, httpx.Client], repo: Callable[[str], str]
) -> None:
    """POST on A, PATCH on B, PATCH on A, PUT on B: each answer names the offset so far."""
    a, b = a_and_b
    name = repo("upload")
    chunks = [os.urandom(CHUNK + 17), os.urandom(3 * CHUNK)]
    data = b"".join(chunks)
    digest = sha256(data)

    r = a.post(f"/v2/{name}/blobs/uploads/")
    assert r.status_code == 202, r.text
    location = r.headers["location"]
    assert location.startswith(f"/v2/{name}/blobs/uploads/")  # relative: any replica takes it
    offset = 0
    for client, chunk in zip((b, a), chunks, strict=True):
        content_range = f"{offset}-{offset + len(chunk) - 1}"
        r = client.patch(location, content=chunk, headers={"Content-Range": content_range})
        assert r.status_code == 202, r.text
        offset += len(chunk)
        assert r.headers["range"] == f"0-{offset - 1}"
        location = r.headers["location"]
        status = (a if client is b else b).get(location)  # the other one knows it too
        assert status.status_code == 204, status.text
        assert status.headers["range"] == f"0-{offset - 1}"
    r = b.put(location, params={"digest": digest})
    assert r.status_code == 201, r.text
    assert r.headers["docker-content-digest"] == digest
    for client in (a, b):
        got = client.get(f"/v2/{name}/blobs/{digest}")
        assert got.status_code == 200
        assert sha256(got.content) == digest


def test_sigkill_one_replica_mid_upload_the_other_finishes_it(
    tmp_path_factory: pytest.TempPathFactory, repo: Callable[[str], str], store_for: StoreFor
) -> None:
    """A replica killed while a PATCH streams into it: the client asks where the upload
    stands through nginx (the other replica answers), sends the rest and commits."""
    own = _start(tmp_path_factory.mktemp("killed"), store_for())
    try:
        a = own.servers[0]
        auth = (own.registry.username, own.password)
        name = repo("killed")
        chunks = [os.urandom(CHUNK) for _ in range(8)]
        data = b"".join(chunks)
        with _client(a, auth) as to_a:
            location = to_a.post(f"/v2/{name}/blobs/uploads/").headers["location"]
            for i in range(2):
                span = f"{i * CHUNK}-{(i + 1) * CHUNK - 1}"
                r = to_a.patch(location, content=chunks[i], headers={"Content-Range": span})
                assert r.status_code == 202, r.text

            def body() -> Iterator[bytes]:
                yield chunks[2][: CHUNK // 2]
                a.kill()  # mid-body: half a chunk written, never recorded
                yield chunks[2][CHUNK // 2 :]

            with pytest.raises(httpx.TransportError):
                to_a.patch(location, content=body(),
                           headers={"Content-Range": f"{2 * CHUNK}-{3 * CHUNK - 1}"})  # fmt: skip
        with _client(own.registry, auth) as lb:
            status = lb.get(location)
            assert status.status_code == 204, status.text
            offset = int(status.headers["range"].split("-")[1]) + 1
            assert offset == 2 * CHUNK  # what the killed replica recorded, nothing more
            rest = data[offset:]
            r = lb.patch(location, content=rest,
                         headers={"Content-Range": f"{offset}-{len(data) - 1}"})  # fmt: skip
            assert r.status_code == 202, r.text
            r = lb.put(r.headers["location"], params={"digest": sha256(data)})
            assert r.status_code == 201, r.text
            got = lb.get(f"/v2/{name}/blobs/{sha256(data)}")
            assert got.status_code == 200
            assert sha256(got.content) == sha256(data)
    finally:
        own.stop()


# --- what one replica writes, the other serves at once --------------------------------------


def test_tag_moved_and_deleted_on_a_is_seen_on_b_at_once(
    a_and_b: tuple[httpx.Client, httpx.Client], repo: Callable[[str], str]
) -> None:
    a, b = (V2(client) for client in a_and_b)
    name = repo("tags")
    first = a.image_manifest(name, [b"first layer"])
    assert a.put_manifest(name, "latest", first).status_code == 201
    for _ in range(3):  # B's caches now hold latest -> first
        got = b.http.get(f"/v2/{name}/manifests/latest", headers=MANIFEST_ACCEPT)
        assert got.headers["docker-content-digest"] == sha256(first)

    second = a.image_manifest(name, [b"second layer"])
    assert a.put_manifest(name, "latest", second).status_code == 201
    got = b.http.get(f"/v2/{name}/manifests/latest", headers=MANIFEST_ACCEPT)
    assert got.status_code == 200
    assert got.headers["docker-content-digest"] == sha256(second)
    assert got.content == second
    head = b.http.head(f"/v2/{name}/manifests/latest", headers=MANIFEST_ACCEPT)
    assert head.headers["docker-content-digest"] == sha256(second)
    assert b.http.get(f"/v2/{name}/tags/list").json()["tags"] == ["latest"]

    deleted = a.http.delete(f"/v2/{name}/manifests/{sha256(second)}")
    assert deleted.status_code == 202, deleted.text
    for reference in ("latest", sha256(second)):
        gone = b.http.get(f"/v2/{name}/manifests/{reference}", headers=MANIFEST_ACCEPT)
        assert gone.status_code == 404, reference
    # the first image is still there by digest, on both
    for client in (a, b):
        kept = client.http.get(f"/v2/{name}/manifests/{sha256(first)}", headers=MANIFEST_ACCEPT)
        assert kept.status_code == 200


def test_user_disabled_on_a_is_refused_on_b_at_once(
    replicas: Replicas, a_and_b: tuple[httpx.Client, httpx.Client]
) -> None:
    a, b = replicas.servers
    user, password = "replica-dev", "a password for the replica test"
    with AdminApi(a.url, (a.username, replicas.password)) as admin:
        admin.add_user(user, password)
    with _client(b, (user, password)) as as_user:
        for _ in range(3):  # B's credential cache now holds the sign-in
            assert as_user.get("/v2/").status_code == 200
        token = as_user.get("/auth/token", params={"service": "dockyard"})
        assert token.status_code == 200, token.text
        bearer = {"Authorization": f"Bearer {token.json()['token']}"}
        assert httpx.get(f"{b.url}/v2/", headers=bearer).status_code == 200

        patched = a_and_b[0].patch(f"/api/v1/users/{user}", json={"disabled": True})
        assert patched.status_code == 200, patched.text

        assert as_user.get("/v2/").status_code == 401
        assert as_user.get("/auth/token", params={"service": "dockyard"}).status_code == 401
        assert httpx.get(f"{b.url}/v2/", headers=bearer).status_code == 401


# --- background jobs --------------------------------------------------------------------


def test_one_garbage_collection_at_a_time_across_replicas(
    replicas: Replicas, a_and_b: tuple[httpx.Client, httpx.Client]
) -> None:
    """The `gc` lease is the database's: while some other replica holds it, neither replica
    starts a collection; once it is free, either does."""
    db = Database(replicas.database_url)
    try:
        with db.write() as conn:
            run_sql(conn, "INSERT INTO job_lease (name, holder, expires_at) "
                          "VALUES ('gc', 'elsewhere/1/test', 4102444800)")  # fmt: skip
        for client in a_and_b:
            refused = client.post("/api/v1/gc/runs", json={"mode": "collect"})
            assert refused.status_code == 409, refused.text
            assert "running already" in refused.text
        with db.write() as conn:
            run_sql(conn, "DELETE FROM job_lease WHERE name = 'gc'")
    finally:
        db.close()
    for client in a_and_b:
        started = client.post("/api/v1/gc/runs", json={"mode": "collect"})
        assert started.status_code == 202, started.text
        run = _finished(client, started.json()["id"])
        assert run["status"] == "done", run


def _finished(client: httpx.Client, run_id: int) -> dict[str, object]:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        run: dict[str, object] = client.get(f"/api/v1/gc/runs/{run_id}").json()
        if run["status"] != "running":
            return run
        time.sleep(0.1)
    raise AssertionError(f"garbage collection run {run_id} still running after 60 s")


# --- real clients through nginx ----------------------------------------------------------


@pytest.fixture
def lb_client(tmp_path: Path, replicas: Replicas) -> Iterator[ClientEnv]:
    with ClientEnv(tmp_path / "client", replicas.registry) as env:
        yield env


@pytest.mark.clients
def test_regctl_pushes_a_chunked_layer_through_nginx(
    lb_client: ClientEnv,
    large_image: tuple[Layout, Image],
    repo: Callable[[str], str],
    tmp_path: Path,
) -> None:
    """1 MiB PATCHes, which nginx hands to the replicas in turn."""
    env, reg = lb_client, lb_client.registry
    env.run("regctl", "registry", "set", "--skip-check", reg.hostport, "--tls", "disabled")
    env.run("regctl", "registry", "login", reg.hostport, "-u", reg.username, "--pass-stdin",
            stdin=reg.password)  # fmt: skip
    env.run("regctl", "registry", "set", reg.hostport,
            "--blob-chunk", str(CHUNK), "--blob-max", "1")  # fmt: skip
    layout, image = large_image
    ref = f"{reg.hostport}/{repo('big')}:v1"
    env.run("regctl", "image", "copy", f"ocidir://{layout.path}:big", ref)
    assert env.run("regctl", "image", "digest", ref).stdout.strip() == image.digest
    out = tmp_path / "pulled"
    env.run("regctl", "image", "copy", ref, f"ocidir://{out}:v1")
    for blob in (image.config, *image.layers):
        path = out / "blobs" / "sha256" / blob.digest.removeprefix("sha256:")
        assert _file_sha256(path) == blob.digest


def _file_sha256(path: Path) -> str:
    hasher = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(CHUNK):
            hasher.update(chunk)
    return "sha256:" + hasher.hexdigest()


@pytest.mark.clients
def test_skopeo_podman_and_crane_round_trip_through_nginx(
    lb_client: ClientEnv, sample_images: SampleImages, repo: Callable[[str], str], tmp_path: Path
) -> None:
    env, reg = lb_client, lb_client.registry
    image = sample_images.hello
    env.run("skopeo", "login", NO_TLS, "-u", reg.username, "--password-stdin", reg.hostport,
            stdin=reg.password)  # fmt: skip
    pushed = f"{reg.hostport}/{repo('skopeo')}:v1"
    env.run("skopeo", "copy", "--dest-tls-verify=false", sample_images.layout.ref("v1"),
            f"docker://{pushed}")  # fmt: skip
    back = tmp_path / "back"
    env.run("skopeo", "copy", "--src-tls-verify=false", f"docker://{pushed}", f"oci:{back}:v1")
    index = json.loads((back / "index.json").read_text())
    assert [m["digest"] for m in index["manifests"]] == [image.digest]

    env.podman("pull", NO_TLS, pushed)
    via_podman = f"{reg.hostport}/{repo('podman')}:v1"
    env.podman("tag", pushed, via_podman)
    env.podman("push", NO_TLS, via_podman)
    env.podman("rmi", via_podman, pushed)
    env.podman("pull", NO_TLS, via_podman)
    config = env.podman("image", "inspect", "--format", "{{.Id}}", via_podman).stdout.strip()
    assert "sha256:" + config == image.config.digest

    env.run("crane", "auth", "login", reg.hostport, "-u", reg.username, "--password-stdin",
            stdin=reg.password)  # fmt: skip
    via_crane = f"{reg.hostport}/{repo('crane')}:v1"
    env.run("crane", "copy", pushed, via_crane)
    assert env.run("crane", "digest", via_crane).stdout.strip() == image.digest
    assert sha256(env.run("crane", "manifest", via_crane).stdout.encode()) == image.digest
