"""A Dockyard server storing its blobs in SeaweedFS: skopeo pushes and pulls an image with a
64 MiB layer (a multipart upload at the default 16 MiB part size), with blob GETs redirected to
presigned URLs and streamed through Dockyard; a failing store answers 503 UNAVAILABLE."""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from fixtures.clients import ClientEnv
from fixtures.images import Image, Layout
from fixtures.seaweedfs import SeaweedFS
from fixtures.servers import StartServer

pytestmark = [pytest.mark.clients, pytest.mark.slow]

NO_TLS = "--tls-verify=false"


def _sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


@pytest.mark.parametrize("redirect", [True, False], ids=["redirect", "stream"])
def test_push_and_pull_through_s3(
    redirect: bool,
    seaweedfs: SeaweedFS,
    dockyard_factory: StartServer,
    large_image: tuple[Layout, Image],
    repo: Callable[[str], str],
    tmp_path: Path,
) -> None:
    prefix = f"e2e-{secrets.token_hex(6)}"
    env = seaweedfs.server_env(prefix, DOCKYARD_S3_REDIRECT=str(redirect).lower())
    server = dockyard_factory(extra_env=env)
    layout, image = large_image
    name = repo("big")
    ref = f"docker://{server.hostport}/{name}:big"
    with ClientEnv(tmp_path / "client", server) as client:
        client.run(
            "skopeo", "login", NO_TLS, "-u", server.username, "--password-stdin",
            server.hostport, stdin=server.password,
        )  # fmt: skip
        client.run("skopeo", "copy", "--dest-tls-verify=false", layout.ref("big"), ref)
        out = tmp_path / "pulled"
        client.run("skopeo", "copy", "--src-tls-verify=false", ref, f"oci:{out}:big")
    for layer in image.layers:
        blob = out / "blobs" / "sha256" / layer.digest.removeprefix("sha256:")
        assert _sha256(blob.read_bytes()) == layer.digest
    keys = seaweedfs.keys(prefix)
    assert {k.split("/")[0] for k in keys} == {"blobs", "data"}, "uploads left behind"

    biggest = max(image.layers, key=lambda layer: layer.size)
    url = f"/v2/{name}/blobs/{biggest.digest}"
    auth = (server.username, server.password)
    with httpx.Client(base_url=server.url, auth=auth, timeout=60) as http:
        assert http.get("/readyz").json()["status"] == "ok"
        head = http.head(url)
        assert head.status_code == 200  # HEAD is always ours
        assert head.headers["content-length"] == str(biggest.size)
        got = http.get(url, headers={"Range": "bytes=100-1099"})
        if redirect:
            assert got.status_code == 307
            assert got.headers["cache-control"] == "no-store"  # the URL expires
            location = got.headers["location"]
            assert location.startswith(seaweedfs.endpoint_url)
            fetched = httpx.get(location, headers={"Range": "bytes=100-1099"})  # no credentials
            assert fetched.status_code == 206
            ranged = fetched.content
        else:
            assert got.status_code == 206
            assert got.headers["content-range"] == f"bytes 100-1099/{biggest.size}"
            ranged = got.content
            whole = http.get(url)
            assert whole.status_code == 200
            assert _sha256(whole.content) == biggest.digest
    layer_file = out / "blobs" / "sha256" / biggest.digest.removeprefix("sha256:")
    assert ranged == layer_file.read_bytes()[100:1100]


def test_a_failing_store_answers_503_unavailable(
    seaweedfs: SeaweedFS, dockyard_factory: StartServer, repo: Callable[[str], str]
) -> None:
    env = seaweedfs.server_env("e2e-refused", DOCKYARD_S3_SECRET_KEY=secrets.token_urlsafe(24))
    server = dockyard_factory(extra_env=env)
    auth = (server.username, server.password)
    with httpx.Client(base_url=server.url, auth=auth, timeout=60) as http:
        started = http.post(f"/v2/{repo('refused')}/blobs/uploads/")
        ready = http.get("/readyz")
    assert ready.status_code == 503
    assert "S3" in ready.json()["problems"]["storage"]
    assert started.status_code == 503
    assert started.json()["errors"][0]["code"] == "UNAVAILABLE"


def test_keys_from_the_aws_environment(
    seaweedfs: SeaweedFS, dockyard_factory: StartServer, repo: Callable[[str], str]
) -> None:
    """No DOCKYARD_S3_*_KEY: boto3's chain finds AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY."""
    env = seaweedfs.server_env(f"e2e-{secrets.token_hex(6)}")
    del env["DOCKYARD_S3_ACCESS_KEY"], env["DOCKYARD_S3_SECRET_KEY"]
    env["AWS_ACCESS_KEY_ID"] = seaweedfs.access_key
    env["AWS_SECRET_ACCESS_KEY"] = seaweedfs.secret_key
    server = dockyard_factory(extra_env=env)
    data = secrets.token_bytes(1000)
    name = repo("chain")
    auth = (server.username, server.password)
    with httpx.Client(base_url=server.url, auth=auth, timeout=60) as http:
        pushed = http.post(f"/v2/{name}/blobs/uploads/", params={"digest": _sha256(data)},
                           content=data)  # fmt: skip
        assert pushed.status_code == 201, pushed.text
        assert http.get(f"/v2/{name}/blobs/{_sha256(data)}").content == data
