"""A namespace quota as skopeo (containers/image) meets it: the copy fails with `denied` and
the quota message, whether the namespace is full when the upload starts or the blob would
take it over at commit; nothing of the refused push stays; after the quota is raised the
same copy works."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from fixtures.clients import ClientEnv
from fixtures.images import SampleImages
from fixtures.servers import DockyardServer, StartServer

pytestmark = pytest.mark.clients

NO_TLS = "--tls-verify=false"


@pytest.fixture
def server(dockyard_factory: StartServer) -> DockyardServer:
    return dockyard_factory()


@pytest.fixture
def env(tmp_path: Path, server: DockyardServer) -> Iterator[ClientEnv]:
    with ClientEnv(tmp_path / "client", server) as client:
        client.run(
            "skopeo", "login", NO_TLS, "-u", server.username, "--password-stdin",
            server.hostport, stdin=server.password,
        )  # fmt: skip
        yield client


@pytest.fixture
def api(server: DockyardServer) -> Iterator[httpx.Client]:
    auth = (server.username, server.password)
    with httpx.Client(base_url=f"{server.url}/api/v1", auth=auth, timeout=30) as client:
        yield client


def _quota(api: httpx.Client, namespace: str, quota: int) -> None:
    if api.get(f"/namespaces/{namespace}").status_code == 404:
        assert api.post("/namespaces", json={"name": namespace}).status_code == 201
    r = api.put(f"/namespaces/{namespace}/quota", json={"quota_bytes": quota})
    assert r.status_code == 200, r.text


def _copy(env: ClientEnv, images: SampleImages, dest: str) -> list[str]:
    return ["skopeo", "copy", "--dest-tls-verify=false", images.layout.ref("v1"),
            f"docker://{env.registry.hostport}/{dest}"]  # fmt: skip


def _nothing_stored(server: DockyardServer, api: httpx.Client, namespace: str) -> None:
    found = api.get(f"/usage/namespaces/{namespace}").json()
    assert found["used_bytes"] == 0
    assert not any((server.data_dir / "uploads").iterdir())


def test_a_full_namespace_refuses_the_push_at_upload_start(
    env: ClientEnv, server: DockyardServer, api: httpx.Client, sample_images: SampleImages
) -> None:
    _quota(api, "full", 0)
    proc = env.run_fails(*_copy(env, sample_images, "full/hello:v1"))
    output = proc.stdout + proc.stderr
    assert "denied" in output
    assert "namespace 'full' is at its storage quota: 0 B used of 0 B" in output
    assert "quota set by" in output
    _nothing_stored(server, api, "full")


def test_a_blob_over_the_quota_is_refused_at_commit_then_the_raised_quota_takes_it(
    env: ClientEnv, server: DockyardServer, api: httpx.Client, sample_images: SampleImages
) -> None:
    image = sample_images.hello
    smallest = min([image.config.size, *(layer.size for layer in image.layers)])
    _quota(api, "tight", smallest - 1)  # room at the start, none for any blob
    proc = env.run_fails(*_copy(env, sample_images, "tight/hello:v1"))
    output = proc.stdout + proc.stderr
    assert "denied" in output
    assert "namespace 'tight' would go over its storage quota" in output
    _nothing_stored(server, api, "tight")

    total = image.config.size + sum(layer.size for layer in image.layers)
    _quota(api, "tight", total)
    env.run(*_copy(env, sample_images, "tight/hello:v1"))
    assert api.get("/usage/namespaces/tight").json()["used_bytes"] == total
