"""Pushed content survives a clean restart and a kill -9 of the server (same data dir)."""

from __future__ import annotations

import json
from pathlib import Path

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
