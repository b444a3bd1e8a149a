"""regctl (regclient): login, image copy, tag ls, and chunked uploads of a large layer."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from pathlib import Path

import pytest

from fixtures.clients import ClientEnv
from fixtures.http import manifest_digest, request
from fixtures.images import Image, Layout, SampleImages

pytestmark = pytest.mark.clients

CHUNK = 1 << 20


def regctl_login(env: ClientEnv) -> None:
    reg = env.registry
    # plain HTTP for this host, stored in $HOME/.regctl/config.json; --skip-check because the
    # connectivity check fails (401) before login
    env.run("regctl", "registry", "set", "--skip-check", reg.hostport, "--tls", "disabled")
    env.run("regctl", "registry", "login", reg.hostport, "-u", reg.username, "--pass-stdin",
            stdin=reg.password)  # fmt: skip


def file_sha256(path: Path) -> str:
    sha = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(CHUNK):
            sha.update(chunk)
    return "sha256:" + sha.hexdigest()


def test_login_refuses_a_wrong_password(client_env: ClientEnv) -> None:
    reg = client_env.registry
    client_env.run("regctl", "registry", "set", "--skip-check", reg.hostport, "--tls", "disabled")
    client_env.run_fails(
        "regctl",
        "registry",
        "login",
        reg.hostport,
        "-u",
        reg.username,
        "-p",
        "wrong" + reg.password,
    )


def test_copy_index_between_repositories_and_list_tags(
    client_env: ClientEnv, sample_images: SampleImages, repo: Callable[[str], str]
) -> None:
    regctl_login(client_env)
    reg = client_env.registry
    index = sample_images.multi
    first = f"{reg.hostport}/{repo('multi')}:multi"
    second = f"{reg.hostport}/{repo('copy')}:multi"
    client_env.run("regctl", "image", "copy", f"ocidir://{sample_images.layout.path}:multi", first)
    client_env.run("regctl", "image", "copy", first, second)

    for ref in (first, second):
        assert client_env.run("regctl", "image", "digest", ref).stdout.strip() == index.digest
    for child in index.images:
        assert manifest_digest(reg, repo("copy"), child.digest) == child.digest
    tags = client_env.run("regctl", "tag", "ls", f"{reg.hostport}/{repo('copy')}")
    assert tags.stdout.split() == ["multi"]
    manifest = json.loads(
        client_env.run("regctl", "manifest", "get", "--format", "raw-body", second).stdout
    )
    assert [m["digest"] for m in manifest["manifests"]] == [i.digest for i in index.images]


@pytest.mark.slow
def test_chunked_upload_of_a_large_layer(
    client_env: ClientEnv,
    large_image: tuple[Layout, Image],
    repo: Callable[[str], str],
    tmp_path: Path,
) -> None:
    """Every blob goes up as 1 MiB PATCHes with Content-Range (--blob-max 1 forces chunking)."""
    regctl_login(client_env)
    reg = client_env.registry
    layout, image = large_image
    client_env.run("regctl", "registry", "set", reg.hostport,
                   "--blob-chunk", str(CHUNK), "--blob-max", "1")  # fmt: skip
    name = repo("big")
    ref = f"{reg.hostport}/{name}:v1"
    client_env.run("regctl", "image", "copy", f"ocidir://{layout.path}:big", ref)

    assert client_env.run("regctl", "image", "digest", ref).stdout.strip() == image.digest
    big = image.layers[-1]
    path = f"/v2/{name}/blobs/{big.digest}"
    head = request(reg, "HEAD", path)
    assert head.status == 200, head.describe("HEAD", path)
    assert int(head.headers["content-length"]) == big.size

    out = tmp_path / "pulled"
    client_env.run("regctl", "image", "copy", ref, f"ocidir://{out}:v1")
    for blob in (image.config, *image.layers):
        assert file_sha256(out / "blobs" / "sha256" / blob.digest.removeprefix("sha256:")) == (
            blob.digest
        )
