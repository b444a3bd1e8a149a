"""crane (go-containerregistry): push, ls, catalog, digest, manifest, copy (mount), tag, delete."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path

import pytest

from fixtures.clients import ClientEnv
from fixtures.http import manifest_digest, request
from fixtures.images import Image, Layout

pytestmark = pytest.mark.clients


def crane_login(env: ClientEnv) -> None:
    reg = env.registry
    # writes $DOCKER_CONFIG/config.json only; crane checks nothing here
    env.run("crane", "auth", "login", reg.hostport, "-u", reg.username, "--password-stdin",
            stdin=reg.password)  # fmt: skip


def single_image_layout(tmp_path: Path, text: str) -> tuple[Layout, Image]:
    """crane pushes a layout directory holding exactly one image."""
    layout = Layout(tmp_path / "layout")
    return layout, layout.hello_image("v1", text=text)


def sha256(text: str) -> str:
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()


def test_push_then_read_back(
    client_env: ClientEnv, repo: Callable[[str], str], tmp_path: Path
) -> None:
    crane_login(client_env)
    hostport = client_env.registry.hostport
    layout, image = single_image_layout(tmp_path, "crane push")
    name = repo("hello")
    ref = f"{hostport}/{name}:v1"
    client_env.run("crane", "push", layout.path, ref)

    assert client_env.run("crane", "digest", ref).stdout.strip() == image.digest
    assert sha256(client_env.run("crane", "manifest", ref).stdout) == image.digest
    assert sha256(client_env.run("crane", "config", ref).stdout) == image.config.digest
    assert client_env.run("crane", "ls", f"{hostport}/{name}").stdout.split() == ["v1"]
    # the catalog is paginated on a busy registry; crane follows the Link headers
    assert name in client_env.run("crane", "catalog", hostport).stdout.split()
    client_env.run("crane", "validate", "--remote", ref)


def test_copy_between_repositories(
    client_env: ClientEnv, repo: Callable[[str], str], tmp_path: Path
) -> None:
    """Same registry: crane mounts each blob from the source (POST ?mount=&from=)."""
    crane_login(client_env)
    reg = client_env.registry
    layout, image = single_image_layout(tmp_path, "crane copy")
    client_env.run("crane", "push", layout.path, f"{reg.hostport}/{repo('source')}:v1")
    client_env.run(
        "crane", "copy", f"{reg.hostport}/{repo('source')}:v1", f"{reg.hostport}/{repo('copy')}:v1"
    )

    assert manifest_digest(reg, repo("copy"), "v1") == image.digest
    for blob in (image.config, *image.layers):
        path = f"/v2/{repo('copy')}/blobs/{blob.digest}"
        resp = request(reg, "HEAD", path)
        assert resp.status == 200, resp.describe("HEAD", path)
        assert int(resp.headers["content-length"]) == blob.size


def test_tag_and_delete(client_env: ClientEnv, repo: Callable[[str], str], tmp_path: Path) -> None:
    crane_login(client_env)
    hostport = client_env.registry.hostport
    layout, image = single_image_layout(tmp_path, "crane delete")
    name = repo("hello")
    client_env.run("crane", "push", layout.path, f"{hostport}/{name}:v1")

    client_env.run("crane", "tag", f"{hostport}/{name}:v1", "v2")
    assert client_env.run("crane", "ls", f"{hostport}/{name}").stdout.split() == ["v1", "v2"]
    assert client_env.run("crane", "digest", f"{hostport}/{name}:v2").stdout.strip() == image.digest

    client_env.run("crane", "delete", f"{hostport}/{name}@{image.digest}")
    proc = client_env.run_fails("crane", "manifest", f"{hostport}/{name}:v1")
    assert "MANIFEST_UNKNOWN" in proc.stderr
    client_env.run_fails("crane", "manifest", f"{hostport}/{name}@{image.digest}")
