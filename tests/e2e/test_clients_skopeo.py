"""skopeo (containers/image) against the registry: login, push, pull, convert, copy, delete."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from pathlib import Path

import pytest

from fixtures.clients import ClientEnv
from fixtures.http import manifest_digest
from fixtures.images import SampleImages
from fixtures.servers import Registry

pytestmark = pytest.mark.clients

NO_TLS = "--tls-verify=false"
DOCKER_V2S2 = "application/vnd.docker.distribution.manifest.v2+json"


def login(env: ClientEnv) -> None:
    reg = env.registry
    proc = env.run(
        "skopeo", "login", NO_TLS, "-u", reg.username, "--password-stdin", reg.hostport,
        stdin=reg.password,
    )  # fmt: skip
    assert "Login Succeeded" in proc.stdout


def push(env: ClientEnv, source: str, dest: str, *extra: str) -> None:
    env.run("skopeo", "copy", "--dest-tls-verify=false", *extra, source, dest)


def sha256(data: str | bytes) -> str:
    raw = data.encode() if isinstance(data, str) else data
    return "sha256:" + hashlib.sha256(raw).hexdigest()


def layout_digest(layout_dir: Path, tag: str) -> str:
    """The digest a copied-back OCI layout names for `tag`."""
    index = json.loads((layout_dir / "index.json").read_text())
    (entry,) = [
        m
        for m in index["manifests"]
        if m.get("annotations", {}).get("org.opencontainers.image.ref.name") == tag
    ]
    digest: str = entry["digest"]
    return digest


def test_login_accepts_right_password_and_refuses_wrong_one(
    client_env: ClientEnv, dockyard_server: Registry
) -> None:
    reg = dockyard_server
    bad = client_env.run_fails(
        "skopeo", "login", NO_TLS, "-u", reg.username, "-p", reg.password + "-wrong", reg.hostport
    )
    assert "invalid username/password" in bad.stderr
    assert json.loads(client_env.auth_file.read_text())["auths"] == {}

    login(client_env)
    auths = json.loads(client_env.auth_file.read_text())["auths"]
    assert list(auths) == [reg.hostport]


def test_anonymous_pull_is_refused(
    client_env: ClientEnv, sample_images: SampleImages, repo: Callable[[str], str]
) -> None:
    hostport = client_env.registry.hostport
    ref = f"docker://{hostport}/{repo('hello')}:v1"
    proc = client_env.run_fails("skopeo", "inspect", NO_TLS, ref)
    assert "authentication required" in proc.stderr or "unauthorized" in proc.stderr.lower()
    proc = client_env.run_fails("skopeo", "copy", "--dest-tls-verify=false",
                                sample_images.layout.ref("v1"), ref)  # fmt: skip
    assert "unauthorized" in proc.stderr.lower() or "authentication required" in proc.stderr


def test_push_inspect_and_pull_back_single_image(
    client_env: ClientEnv,
    sample_images: SampleImages,
    repo: Callable[[str], str],
    tmp_path: Path,
) -> None:
    login(client_env)
    image = sample_images.hello
    name = repo("hello")
    ref = f"docker://{client_env.registry.hostport}/{name}:v1"
    push(client_env, sample_images.layout.ref("v1"), ref)

    raw = client_env.run("skopeo", "inspect", NO_TLS, "--raw", ref).stdout
    assert sha256(raw) == image.digest, "registry changed the manifest bytes"
    info = json.loads(client_env.run("skopeo", "inspect", NO_TLS, ref).stdout)
    assert info["Digest"] == image.digest
    assert info["Architecture"] == "amd64"
    assert info["Os"] == "linux"
    assert info["Layers"] == [layer.digest for layer in image.layers]
    config = client_env.run("skopeo", "inspect", NO_TLS, "--config", "--raw", ref).stdout
    assert sha256(config) == image.config.digest
    assert manifest_digest(client_env.registry, name, "v1") == image.digest

    tags = json.loads(client_env.run("skopeo", "list-tags", NO_TLS, ref.rsplit(":", 1)[0]).stdout)
    assert tags["Tags"] == ["v1"]

    out = tmp_path / "pulled"
    client_env.run("skopeo", "copy", "--src-tls-verify=false", ref, f"oci:{out}:v1")
    assert layout_digest(out, "v1") == image.digest
    for layer in image.layers:
        blob = out / "blobs" / "sha256" / layer.digest.removeprefix("sha256:")
        assert sha256(blob.read_bytes()) == layer.digest


def test_push_all_platforms_of_an_index(
    client_env: ClientEnv,
    sample_images: SampleImages,
    repo: Callable[[str], str],
    tmp_path: Path,
) -> None:
    login(client_env)
    index = sample_images.multi
    ref = f"docker://{client_env.registry.hostport}/{repo('multi')}:multi"
    push(client_env, sample_images.layout.ref("multi"), ref, "--all")

    raw = client_env.run("skopeo", "inspect", NO_TLS, "--raw", ref).stdout
    assert sha256(raw) == index.digest
    arm = index.for_platform("linux", "arm64")
    info = json.loads(
        client_env.run("skopeo", "--override-arch", "arm64", "inspect", NO_TLS, ref).stdout
    )
    # "Digest" names what the tag points to (the index); the rest describes the arm64 image
    assert info["Digest"] == index.digest
    assert info["Architecture"] == "arm64"
    assert info["Layers"] == [layer.digest for layer in arm.layers]
    for child in index.images:
        child_ref = f"{ref.rsplit(':', 1)[0]}@{child.digest}"
        child_raw = client_env.run("skopeo", "inspect", NO_TLS, "--raw", child_ref).stdout
        assert sha256(child_raw) == child.digest

    out = tmp_path / "pulled"
    client_env.run("skopeo", "copy", "--all", "--src-tls-verify=false", ref, f"oci:{out}:multi")
    assert layout_digest(out, "multi") == index.digest


def test_push_converted_to_docker_schema2(
    client_env: ClientEnv, sample_images: SampleImages, repo: Callable[[str], str]
) -> None:
    login(client_env)
    image = sample_images.hello
    ref = f"docker://{client_env.registry.hostport}/{repo('v2s2')}:v1"
    push(client_env, sample_images.layout.ref("v1"), ref, "--format", "v2s2")

    manifest = json.loads(client_env.run("skopeo", "inspect", NO_TLS, "--raw", ref).stdout)
    assert manifest["mediaType"] == DOCKER_V2S2
    # The conversion rewrites media types only: config and layer bytes are the same blobs.
    assert manifest["config"]["digest"] == image.config.digest
    assert [layer["digest"] for layer in manifest["layers"]] == [
        layer.digest for layer in image.layers
    ]
    info = json.loads(client_env.run("skopeo", "inspect", NO_TLS, ref).stdout)
    assert info["Layers"] == [layer.digest for layer in image.layers]


def test_copy_between_repositories(
    client_env: ClientEnv, sample_images: SampleImages, repo: Callable[[str], str]
) -> None:
    """A registry-to-registry copy: skopeo mounts the blobs (POST ?mount=&from=)."""
    login(client_env)
    hostport = client_env.registry.hostport
    src = f"docker://{hostport}/{repo('source')}:v1"
    dst = f"docker://{hostport}/{repo('copy')}:v1"
    push(client_env, sample_images.layout.ref("v1"), src)
    client_env.run("skopeo", "copy", NO_TLS, src, dst)

    info = json.loads(client_env.run("skopeo", "inspect", NO_TLS, dst).stdout)
    assert info["Digest"] == sample_images.hello.digest
    assert manifest_digest(client_env.registry, repo("copy"), "v1") == sample_images.hello.digest


def test_delete_then_inspect_reports_manifest_unknown(
    client_env: ClientEnv, sample_images: SampleImages, repo: Callable[[str], str]
) -> None:
    login(client_env)
    hostport = client_env.registry.hostport
    keep = f"docker://{hostport}/{repo('keep')}:v1"
    gone = f"docker://{hostport}/{repo('gone')}:v1"
    push(client_env, sample_images.layout.ref("v1"), keep)
    push(client_env, sample_images.layout.ref("v1"), gone)

    client_env.run("skopeo", "delete", NO_TLS, gone)
    proc = client_env.run_fails("skopeo", "inspect", NO_TLS, gone)
    assert "manifest unknown" in proc.stderr
    # the same manifest in another repository is untouched
    info = json.loads(client_env.run("skopeo", "inspect", NO_TLS, keep).stdout)
    assert info["Digest"] == sample_images.hello.digest
