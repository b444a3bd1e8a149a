"""The upstream client against a real registry: a Dockyard server (Docker token auth)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import TypeVar

import pytest

from dockyard.registry.upstream.client import (
    Upstream,
    UpstreamClient,
    UpstreamError,
    UpstreamNotFound,
    UpstreamUnavailable,
)
from fixtures.servers import Registry, free_port
from fixtures.v2api import V2, sha256

T = TypeVar("T")


def _with_client(upstream: Upstream, call: Callable[[UpstreamClient], Awaitable[T]]) -> T:
    async def scenario() -> T:
        client = UpstreamClient(upstream, timeout_seconds=10)
        try:
            return await call(client)
        finally:
            await client.aclose()

    return asyncio.run(scenario())


def _upstream(server: Registry, password: str | None = None) -> Upstream:
    return Upstream("origin", server.url, server.username, password or server.password)


async def _read(client: UpstreamClient, name: str, digest: str) -> bytes:
    return b"".join([chunk async for chunk in client.blob(name, digest)])


def test_reads_tags_manifests_and_blobs_through_token_auth(
    dockyard_server: Registry, v2: V2, repo: Callable[[str], str]
) -> None:
    name = repo("upstream/app")
    layer = b"layer bytes " * 1000
    payload = v2.image_manifest(name, [layer])
    for tag in ("1.0", "1.1"):
        assert v2.put_manifest(name, tag, payload).status_code == 201
    upstream = _upstream(dockyard_server)

    assert sorted(_with_client(upstream, lambda c: c.tags(name))) == ["1.0", "1.1"]
    manifest = _with_client(upstream, lambda c: c.manifest(name, "1.0"))
    assert manifest.payload == payload
    assert manifest.digest == sha256(payload)
    assert manifest.media_type == "application/vnd.oci.image.manifest.v1+json"
    assert _with_client(upstream, lambda c: c.manifest_digest(name, "1.1")) == sha256(payload)
    by_digest = _with_client(upstream, lambda c: c.manifest(name, sha256(payload)))
    assert by_digest.payload == payload
    layer_digest = json.loads(payload)["layers"][0]["digest"]
    assert _with_client(upstream, lambda c: _read(c, name, layer_digest)) == layer


def test_says_what_went_wrong(dockyard_server: Registry, repo: Callable[[str], str]) -> None:
    name = repo("upstream/none")
    with pytest.raises(UpstreamNotFound, match="not found"):
        _with_client(_upstream(dockyard_server), lambda c: c.manifest(name, "latest"))
    wrong = _upstream(dockyard_server, password="not-the-password")  # noqa: S106 (a wrong one)
    with pytest.raises(UpstreamError, match="refused the saved credentials"):
        _with_client(wrong, lambda c: c.tags(name))
    gone = Upstream("gone", f"http://127.0.0.1:{free_port()}")
    with pytest.raises(UpstreamUnavailable, match="cannot connect"):
        _with_client(gone, lambda c: c.tags(name))
