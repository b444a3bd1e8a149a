"""Pushed content survives a clean restart and a kill -9 of the server (same data dir)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import httpx
import pytest

from fixtures.clients import ClientEnv
from fixtures.http import manifest_digest
from fixtures.images import SampleImages
from fixtures.servers import DockyardServer, StartServer

pytestmark = pytest.mark.clients


def push_samples(env: ClientEnv, images: SampleImages, server: DockyardServer) -> None:
    creds = f"--dest-creds={server.username}:{server.password}"
    for tag in ("v1", "multi"):
        dest = f"docker://{server.hostport}/restart/hello:{tag}"
        env.run("skopeo", "copy", "--all", "--dest-tls-verify=false", creds,
                images.layout.ref(tag), dest)  # fmt: skip


def assert_samples_intact(env: ClientEnv, images: SampleImages, out: Path) -> None:
    reg = env.registry
    assert manifest_digest(reg, "restart/hello", "v1") == images.hello.digest
    assert manifest_digest(reg, "restart/hello", "multi") == images.multi.digest
    creds = f"--src-creds={reg.username}:{reg.password}"
    # a full pull reads every blob back
    env.run("skopeo", "copy", "--all", "--src-tls-verify=false", creds,
            f"docker://{reg.hostport}/restart/hello:multi", f"oci:{out}:multi")  # fmt: skip
    index = json.loads((out / "index.json").read_text())
    assert [m["digest"] for m in index["manifests"]] == [images.multi.digest]


def test_content_survives_sigterm_and_sigkill(
    dockyard_factory: StartServer, sample_images: SampleImages, tmp_path: Path
) -> None:
    server = dockyard_factory()
    with ClientEnv(tmp_path / "client", server) as env:
        push_samples(env, sample_images, server)

        assert server.stop() == 0, f"unclean exit on SIGTERM; log:\n{server.log_tail()}"
        server.start()  # same data dir, port and DOCKYARD_ADMIN_PASSWORD
        assert_samples_intact(env, sample_images, tmp_path / "after-sigterm")

        server.kill()
        server.start()
        assert_samples_intact(env, sample_images, tmp_path / "after-sigkill")


def test_blob_missing_from_disk_is_unknown_and_repaired_by_a_push(
    dockyard_factory: StartServer,
) -> None:
    """The database says the bytes exist but the file is gone (a disk restored from an old
    backup): clients see BLOB_UNKNOWN, not a crash, and pushing the blob again repairs it."""
    server = dockyard_factory()
    data = b"bytes that will vanish"
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    with httpx.Client(base_url=server.url, auth=(server.username, server.password)) as client:
        r = client.post("/v2/lost/blob/blobs/uploads/", params={"digest": digest}, content=data)
        assert r.status_code == 201
        blob_file = server.data_dir / "blobs" / "sha256" / digest[7:9] / digest[7:]
        blob_file.unlink()
        missing = client.get(f"/v2/lost/blob/blobs/{digest}")
        assert (missing.status_code, missing.json()["errors"][0]["code"]) == (404, "BLOB_UNKNOWN")
        r = client.post("/v2/lost/blob/blobs/uploads/", params={"digest": digest}, content=data)
        assert r.status_code == 201
        assert client.get(f"/v2/lost/blob/blobs/{digest}").content == data
    assert "blob content missing" in server.log_tail(200)
