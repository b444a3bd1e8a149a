"""Eight clients pushing the same blob and the same tag at once all succeed and leave one
consistent state (pitfalls §17: races SQLite hides)."""

from __future__ import annotations

import hashlib
import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

from fixtures.servers import Registry

CLIENTS = 8


def _sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def _push(registry: Registry, name: str, layer: bytes, config: bytes, index: int) -> int:
    with httpx.Client(base_url=registry.url, auth=(registry.username, registry.password),
                      timeout=60) as client:  # fmt: skip
        for blob in (layer, config):
            location = client.post(f"/v2/{name}/blobs/uploads/").headers["location"]
            r = client.patch(location, content=blob)
            assert r.status_code == 202, r.text
            r = client.put(location, params={"digest": _sha256(blob)})
            assert r.status_code == 201, r.text
        manifest = json.dumps({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                       "digest": _sha256(config), "size": len(config)},
            "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                        "digest": _sha256(layer), "size": len(layer)}],
            "annotations": {"client": str(index)},
        }).encode()  # fmt: skip
        r = client.put(
            f"/v2/{name}/manifests/latest",
            content=manifest,
            headers={"Content-Type": "application/vnd.oci.image.manifest.v1+json"},
        )
        return r.status_code


def test_same_blob_and_tag_at_once(dockyard_server: Registry, tmp_path: Path) -> None:
    name = f"race/{tmp_path.name.lower().replace('_', '-')}"
    layer = b"shared layer " * 100_000
    config = b'{"architecture":"amd64","os":"linux"}'
    with ThreadPoolExecutor(CLIENTS) as pool:
        statuses = list(pool.map(lambda i: _push(dockyard_server, name, layer, config, i),
                                 range(CLIENTS)))  # fmt: skip
    assert statuses == [201] * CLIENTS
    with httpx.Client(
        base_url=dockyard_server.url, auth=(dockyard_server.username, dockyard_server.password)
    ) as client:
        assert client.get(f"/v2/{name}/tags/list").json()["tags"] == ["latest"]
        latest = client.get(
            f"/v2/{name}/manifests/latest",
            headers={"Accept": "application/vnd.oci.image.manifest.v1+json"},
        )
        assert latest.status_code == 200
        assert latest.headers["docker-content-digest"] == _sha256(latest.content)
        blob = client.get(f"/v2/{name}/blobs/{_sha256(layer)}")
        assert blob.content == layer
