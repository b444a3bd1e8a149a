"""containerd's `ctr` against the registry, with containerd started by hand in a tmp dir.

containerd authenticates differently from the others: with --user it POSTs the OAuth2 password
grant to the token endpoint first and falls back to GET only on 400/401/404.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from fixtures.clients import ClientEnv
from fixtures.containerd import Containerd
from fixtures.http import manifest_digest
from fixtures.images import Layout, SampleImages

pytestmark = pytest.mark.clients


def user(env: ClientEnv, password: str | None = None) -> str:
    reg = env.registry
    return f"{reg.username}:{reg.password if password is None else password}"


def image_digest(daemon: Containerd, env: ClientEnv, ref: str) -> str:
    """The target digest containerd recorded for image `ref`."""
    rows = daemon.ctr(env, "images", "ls").stdout.splitlines()[1:]
    for row in rows:
        name, _media_type, digest, *_ = row.split()
        if name == ref:
            return digest
    raise AssertionError(f"{ref} not in `ctr images ls`: {rows}")


def test_pull_single_image_and_one_platform_of_an_index(
    client_env: ClientEnv,
    containerd: Containerd,
    sample_images: SampleImages,
    repo: Callable[[str], str],
) -> None:
    reg = client_env.registry
    single = f"{reg.hostport}/{repo('hello')}:v1"
    multi = f"{reg.hostport}/{repo('multi')}:multi"
    # seeded with skopeo, so containerd has none of this content before its pull
    creds = f"--dest-creds={user(client_env)}"
    for tag, ref in (("v1", single), ("multi", multi)):
        client_env.run("skopeo", "copy", "--all", "--dest-tls-verify=false", creds,
                       sample_images.layout.ref(tag), f"docker://{ref}")  # fmt: skip

    containerd.ctr(client_env, "images", "pull", "--plain-http", "--user", user(client_env), single)
    assert image_digest(containerd, client_env, single) == sample_images.hello.digest

    containerd.ctr(client_env, "images", "pull", "--plain-http", "--user", user(client_env),
                   "--platform", "linux/arm64", multi)  # fmt: skip
    assert image_digest(containerd, client_env, multi) == sample_images.multi.digest
    content = containerd.ctr(client_env, "content", "ls", "--quiet").stdout.split()
    arm = sample_images.multi.for_platform("linux", "arm64")
    assert {arm.digest, arm.config.digest, *(layer.digest for layer in arm.layers)} <= set(content)


def test_wrong_password_is_refused(
    client_env: ClientEnv,
    containerd: Containerd,
    sample_images: SampleImages,
    repo: Callable[[str], str],
) -> None:
    reg = client_env.registry
    ref = f"{reg.hostport}/{repo('hello')}:v1"
    client_env.run("skopeo", "copy", "--dest-tls-verify=false", f"--dest-creds={user(client_env)}",
                   sample_images.layout.ref("v1"), f"docker://{ref}")  # fmt: skip
    wrong = user(client_env, "wrong-password")
    proc = containerd.ctr(
        client_env, "images", "pull", "--plain-http", "--user", wrong, ref, check=False
    )
    assert proc.returncode != 0
    assert "401" in proc.stderr or "unauthorized" in proc.stderr.lower(), proc.stderr


def test_import_then_push(
    client_env: ClientEnv, containerd: Containerd, repo: Callable[[str], str], tmp_path: Path
) -> None:
    reg = client_env.registry
    layout = Layout(tmp_path / "layout")
    image = layout.hello_image("v1", text="pushed by ctr")
    index = layout.multi_platform("multi", text="pushed by ctr")
    name = repo("pushed")
    archive = layout.write_tar(tmp_path / "layout.tar")
    containerd.ctr(client_env, "images", "import", "--all-platforms",
                   "--base-name", f"{reg.hostport}/{name}", archive)  # fmt: skip

    for tag in ("v1", "multi"):
        containerd.ctr(client_env, "images", "push", "--plain-http", "--user", user(client_env),
                       f"{reg.hostport}/{name}:{tag}")  # fmt: skip
    assert manifest_digest(reg, name, "v1") == image.digest
    assert manifest_digest(reg, name, "multi") == index.digest
    for child in index.images:
        assert manifest_digest(reg, name, child.digest) == child.digest


def _manifest_requests(log: Path, repository: str) -> list[tuple[str, str]]:
    """(method, reference) of every manifest request the server logged for `repository`."""
    prefix = f"/v2/{repository}/manifests/"
    found = []
    for line in log.read_text().splitlines():
        if not line.startswith("{"):
            continue
        entry = json.loads(line)
        path = entry.get("path", "")
        if entry.get("msg") == "request" and path.startswith(prefix):
            found.append((entry["method"], path.removeprefix(prefix)))
    return found


def test_pull_resolves_the_tag_with_head_only(
    client_env: ClientEnv,
    containerd: Containerd,
    sample_images: SampleImages,
    repo: Callable[[str], str],
) -> None:
    """containerd falls back from HEAD to GET on the tag when HEAD lacks Content-Length or
    Docker-Content-Digest (pitfalls §3): the log must show HEAD on the tag, never GET."""
    reg = client_env.registry
    if reg.log_path is None:
        pytest.fail("this test reads the server's request log", pytrace=False)
    name = repo("headonly")
    ref = f"{reg.hostport}/{name}:v1"
    client_env.run("skopeo", "copy", "--dest-tls-verify=false", f"--dest-creds={user(client_env)}",
                   sample_images.layout.ref("v1"), f"docker://{ref}")  # fmt: skip
    containerd.ctr(client_env, "images", "pull", "--plain-http", "--user", user(client_env), ref)
    requests = _manifest_requests(reg.log_path, name)
    assert ("HEAD", "v1") in requests, requests
    assert ("GET", "v1") not in requests, requests
