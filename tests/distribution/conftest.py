"""An httpx client signed in to the session's Dockyard, plus helpers to push content."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from fixtures.servers import Registry

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


class V2:
    """Thin helpers over the /v2 API for tests that speak HTTP themselves."""

    def __init__(self, client: httpx.Client) -> None:
        self.http = client

    def push_blob(self, name: str, data: bytes) -> str:
        digest = sha256(data)
        r = self.http.post(f"/v2/{name}/blobs/uploads/", params={"digest": digest}, content=data)
        assert r.status_code == 201, r.text
        return digest

    def image_manifest(self, name: str, layers: list[bytes], **extra: Any) -> bytes:
        config = json.dumps({"architecture": "amd64", "os": "linux"}).encode()
        doc: dict[str, Any] = {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {
                "mediaType": "application/vnd.oci.image.config.v1+json",
                "digest": self.push_blob(name, config),
                "size": len(config),
            },
            "layers": [
                {
                    "mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                    "digest": self.push_blob(name, layer),
                    "size": len(layer),
                }
                for layer in layers
            ],
        }
        doc.update(extra)
        return json.dumps(doc).encode()

    def put_manifest(
        self, name: str, reference: str, payload: bytes, media_type: str = OCI_MANIFEST
    ) -> httpx.Response:
        return self.http.put(
            f"/v2/{name}/manifests/{reference}",
            content=payload,
            headers={"Content-Type": media_type},
        )

    def catalog(self) -> list[str]:
        r = self.http.get("/v2/_catalog")
        assert r.status_code == 200, r.text
        names: list[str] = r.json()["repositories"]
        return names


@pytest.fixture
def v2(dockyard_server: Registry) -> Iterator[V2]:
    auth = (dockyard_server.username, dockyard_server.password)
    with httpx.Client(base_url=dockyard_server.url, auth=auth, timeout=60) as client:
        yield V2(client)


def error_code(response: httpx.Response) -> str:
    code: str = response.json()["errors"][0]["code"]
    return code
