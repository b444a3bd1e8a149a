"""podman on vfs storage (no container runtime): login, pull, tag, push, platform pull, search.

Images are put in the registry with skopeo first (podman cannot push an OCI layout), then
podman pulls them into its own throwaway storage.
"""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest

from fixtures.clients import ClientEnv
from fixtures.http import manifest_digest
from fixtures.images import SampleImages

pytestmark = pytest.mark.clients

NO_TLS = "--tls-verify=false"


def podman_login(env: ClientEnv) -> None:
    reg = env.registry
    proc = env.podman("login", NO_TLS, "-u", reg.username, "-p", reg.password, reg.hostport)
    assert "Login Succeeded" in proc.stdout


def seed(env: ClientEnv, images: SampleImages, tag: str, dest: str) -> None:
    """Put `tag` of the sample layout (all platforms) at `dest` with skopeo."""
    env.run("skopeo", "copy", "--all", "--dest-tls-verify=false", images.layout.ref(tag), dest)


def image_id(env: ClientEnv, ref: str) -> str:
    """podman's image ID is the config digest (hex)."""
    return env.podman("image", "inspect", "--format", "{{.Id}}", ref).stdout.strip()


def test_login_pull_tag_push(
    client_env: ClientEnv, sample_images: SampleImages, repo: Callable[[str], str]
) -> None:
    reg = client_env.registry
    podman_login(client_env)
    source = f"{reg.hostport}/{repo('hello')}:v1"
    seed(client_env, sample_images, "v1", f"docker://{source}")

    client_env.podman("pull", NO_TLS, source)
    image = sample_images.hello
    assert "sha256:" + image_id(client_env, source) == image.config.digest

    target = f"{reg.hostport}/{repo('pushed')}:v1"
    client_env.podman("tag", source, target)
    client_env.podman("push", NO_TLS, target)
    # podman may recompress layers, so the manifest digest can differ; the config cannot.
    pushed = json.loads(
        client_env.run(
            "skopeo", "inspect", NO_TLS, "--config", "--raw", f"docker://{target}"
        ).stdout
    )
    assert pushed["rootfs"]["diff_ids"] == list(image.diff_ids)
    assert manifest_digest(reg, repo("pushed"), "v1") is not None

    # a second pull after removing the local copy comes from the pushed repository
    client_env.podman("rmi", target, source)
    client_env.podman("pull", NO_TLS, target)
    assert "sha256:" + image_id(client_env, target) == image.config.digest


def test_push_as_docker_schema2(
    client_env: ClientEnv, sample_images: SampleImages, repo: Callable[[str], str]
) -> None:
    reg = client_env.registry
    podman_login(client_env)
    source = f"{reg.hostport}/{repo('hello')}:v1"
    seed(client_env, sample_images, "v1", f"docker://{source}")
    client_env.podman("pull", NO_TLS, source)

    target = f"{reg.hostport}/{repo('docker')}:v1"
    client_env.podman("push", NO_TLS, "--format", "v2s2", source, target)
    raw = client_env.run("skopeo", "inspect", NO_TLS, "--raw", f"docker://{target}").stdout
    assert json.loads(raw)["mediaType"] == "application/vnd.docker.distribution.manifest.v2+json"


def test_pull_one_platform_of_an_index(
    client_env: ClientEnv, sample_images: SampleImages, repo: Callable[[str], str]
) -> None:
    reg = client_env.registry
    podman_login(client_env)
    ref = f"{reg.hostport}/{repo('multi')}:multi"
    seed(client_env, sample_images, "multi", f"docker://{ref}")

    client_env.podman("pull", NO_TLS, "--platform", "linux/arm64", ref)
    arm = sample_images.multi.for_platform("linux", "arm64")
    assert "sha256:" + image_id(client_env, ref) == arm.config.digest
    arch = client_env.podman("image", "inspect", "--format", "{{.Architecture}}", ref)
    assert arch.stdout.strip() == "arm64"


def test_search_lists_repositories_from_the_catalog(
    client_env: ClientEnv, sample_images: SampleImages, repo: Callable[[str], str]
) -> None:
    reg = client_env.registry
    podman_login(client_env)
    name = repo("searchable")
    seed(client_env, sample_images, "v1", f"docker://{reg.hostport}/{name}:v1")

    # podman search on a v2 registry filters GET /v2/_catalog by the term
    term = name.rsplit("/", 1)[0]
    proc = client_env.podman(
        "search", NO_TLS, "--limit", "1000", "--format", "{{.Name}}", f"{reg.hostport}/{term}"
    )
    assert f"{reg.hostport}/{name}" in proc.stdout.split()
