"""The pull-through cache's service against a real upstream (the session's Dockyard, with
token auth): served while cached, one upstream fetch for concurrent pulls, stored through
the push path once complete, served from the cache when the upstream is gone."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from dockyard.metadata.db import Database
from dockyard.registry.context import RegistryContext
from dockyard.registry.errors import ManifestUnknown, NameUnknown, UpstreamFailed
from dockyard.registry.services import RegistryServices
from dockyard.registry.upstream.client import Upstream
from dockyard.registry.upstream.pull_through import CacheRule, PullThrough
from dockyard.storage.filesystem import FilesystemBlobStore
from fixtures.servers import DockyardServer, Registry, free_port
from fixtures.v2api import V2, sha256

RULE = CacheRule("cache", ("origin",), tag_check_seconds=0)


def _cache(
    db: Database, tmp_path: Path, upstream: Upstream
) -> tuple[PullThrough, RegistryServices]:
    services = RegistryServices.build(
        RegistryContext(db, FilesystemBlobStore(tmp_path / "store", direct_io=False))
    )
    cache = PullThrough(
        [RULE], lambda _name: upstream, manifests=services.manifests, blobs=services.blobs,
        uploads=services.uploads, spool_dir=tmp_path / "spool", timeout_seconds=10,
    )  # fmt: skip
    return cache, services


async def _read_all(cache: PullThrough, name: str, digest: str) -> bytes:
    proxied = await cache.blob(RULE, name, digest, head=False)
    assert proxied.chunks is not None
    return b"".join([chunk async for chunk in proxied.chunks])


async def _stored(services: RegistryServices, name: str, reference: str) -> str:
    deadline = time.monotonic() + 30
    while True:
        try:
            return (await services.manifests.get(name, reference, None)).digest
        except (ManifestUnknown, NameUnknown):
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.1)


def _blob_gets(server: Registry, digest: str) -> int:
    assert isinstance(server, DockyardServer)
    assert server.log_path is not None
    log = server.log_path.read_text(errors="replace")
    return sum(1 for line in log.splitlines() if f"/blobs/{digest}" in line and '"GET"' in line)


def test_serves_caches_and_keeps_serving_without_the_upstream(
    dockyard_server: Registry, v2: V2, repo: Callable[[str], str], db: Database, tmp_path: Path
) -> None:
    if not isinstance(dockyard_server, DockyardServer):
        pytest.skip("counts the upstream's requests in its log")
    remote = repo("pt/app")
    layers = [b"first layer " * 50_000, b"second layer " * 40_000]
    payload = v2.image_manifest(remote, layers)
    assert v2.put_manifest(remote, "1.0", payload).status_code == 201
    digests = [layer["digest"] for layer in json.loads(payload)["layers"]]
    name = f"cache/{remote}"
    origin = Upstream("origin", dockyard_server.url, dockyard_server.username,
                      dockyard_server.password)  # fmt: skip

    async def first_pulls() -> None:
        cache, services = _cache(db, tmp_path, origin)
        try:
            served = await cache.manifest(RULE, name, "1.0", None)
            assert served.payload == payload
            assert served.digest == sha256(payload)
            # two clients at once for each layer: one upstream fetch each
            bodies = await asyncio.gather(*(_read_all(cache, name, d) for d in digests * 2))
            assert bodies == layers * 2
            assert await _stored(services, name, "1.0") == sha256(payload)
        finally:
            await cache.aclose()

    asyncio.run(first_pulls())
    time.sleep(0.5)  # the upstream's access log is written after the answer
    assert [_blob_gets(dockyard_server, d) for d in digests] == [1, 1]

    gone = Upstream("origin", f"http://127.0.0.1:{free_port()}")

    async def upstream_down() -> None:
        cache, services = _cache(db, tmp_path, gone)
        try:
            served = await cache.manifest(RULE, name, "1.0", None)
            assert served.payload == payload
            for digest, layer in zip(digests, layers, strict=True):
                blob = await services.blobs.stat(name, digest)
                assert blob.size == len(layer)
            with pytest.raises(UpstreamFailed, match="cannot connect"):
                await cache.manifest(RULE, name, "2.0", None)
        finally:
            await cache.aclose()

    asyncio.run(upstream_down())


def test_an_index_is_stored_with_every_platform(
    dockyard_server: Registry, v2: V2, repo: Callable[[str], str], db: Database, tmp_path: Path
) -> None:
    remote = repo("pt/multi")
    children = []
    for arch in ("amd64", "arm64"):
        child = v2.image_manifest(remote, [f"layer of {arch}".encode() * 1000])
        assert v2.put_manifest(remote, sha256(child), child).status_code == 201
        children.append(child)
    index = json.dumps({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [
            {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": sha256(c),
             "size": len(c), "platform": {"architecture": a, "os": "linux"}}
            for c, a in zip(children, ("amd64", "arm64"), strict=True)
        ],
    }).encode()  # fmt: skip
    media = "application/vnd.oci.image.index.v1+json"
    assert v2.put_manifest(remote, "multi", index, media).status_code == 201
    name = f"cache/{remote}"
    origin = Upstream("origin", dockyard_server.url, dockyard_server.username,
                      dockyard_server.password)  # fmt: skip

    async def pull() -> None:
        cache, services = _cache(db, tmp_path, origin)
        try:
            served = await cache.manifest(RULE, name, "multi", None)
            assert served.payload == index
            assert served.media_type == media
            assert await _stored(services, name, "multi") == sha256(index)
            for child in children:
                assert await _stored(services, name, sha256(child)) == sha256(child)
        finally:
            await cache.aclose()

    asyncio.run(pull())


def test_not_found_upstream_is_manifest_unknown(
    dockyard_server: Registry, db: Database, tmp_path: Path, repo: Callable[[str], str]
) -> None:
    origin = Upstream("origin", dockyard_server.url, dockyard_server.username,
                      dockyard_server.password)  # fmt: skip

    async def pull() -> None:
        cache, _ = _cache(db, tmp_path, origin)
        try:
            with pytest.raises(ManifestUnknown, match="not found"):
                await cache.manifest(RULE, f"cache/{repo('pt/none')}", "latest", None)
        finally:
            await cache.aclose()

    asyncio.run(pull())
