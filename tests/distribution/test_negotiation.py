"""Content negotiation: several Accept lines (skopeo) or one comma-joined line (containerd)."""

from __future__ import annotations

import json
from collections.abc import Callable

import httpx

from fixtures.v2api import OCI_INDEX, OCI_MANIFEST, V2, sha256

DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_V2 = "application/vnd.docker.distribution.manifest.v2+json"


def _index(v2: V2, name: str) -> bytes:
    child = v2.image_manifest(name, [b"amd64 layer"])
    assert v2.put_manifest(name, sha256(child), child).status_code == 201
    index = {
        "schemaVersion": 2,
        "mediaType": OCI_INDEX,
        "manifests": [{"mediaType": OCI_MANIFEST, "digest": sha256(child), "size": len(child),
                       "platform": {"os": "linux", "architecture": "amd64"}}],
    }  # fmt: skip
    payload = json.dumps(index).encode()
    assert v2.put_manifest(name, "multi", payload, OCI_INDEX).status_code == 201
    return payload


def _get(v2: V2, path: str, accept_lines: list[str]) -> httpx.Response:
    headers = httpx.Headers([("Accept", line) for line in accept_lines])
    return v2.http.get(path, headers=headers)


def test_repeated_accept_lines(v2: V2, repo: Callable[[str], str]) -> None:
    name = repo("accept")
    payload = _index(v2, name)
    # skopeo: one line per type, the OCI index among the later ones
    r = _get(v2, f"/v2/{name}/manifests/multi", [DOCKER_V2, DOCKER_LIST, OCI_MANIFEST, OCI_INDEX])
    assert (r.status_code, r.content) == (200, payload)
    assert r.headers["content-type"] == OCI_INDEX
    # containerd: one comma-joined line ending in */*
    r = _get(v2, f"/v2/{name}/manifests/multi", [f"{DOCKER_V2}, {OCI_MANIFEST}, */*"])
    assert r.status_code == 200


def test_tag_of_a_type_the_client_refuses_is_unknown(v2: V2, repo: Callable[[str], str]) -> None:
    name = repo("refuse")
    payload = _index(v2, name)
    r = _get(v2, f"/v2/{name}/manifests/multi", [DOCKER_V2, DOCKER_LIST])
    assert r.status_code == 404  # never converted or re-serialised
    by_digest = _get(v2, f"/v2/{name}/manifests/{sha256(payload)}", [DOCKER_V2])
    assert (by_digest.status_code, by_digest.content) == (200, payload)
