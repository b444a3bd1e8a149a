"""Referrers: artifacts found through their subject, filtered by type, paginated."""

from __future__ import annotations

import json
from collections.abc import Callable

from fixtures.v2api import OCI_MANIFEST, V2, sha256

EMPTY = b"{}"
EMPTY_CONFIG = "application/vnd.oci.empty.v1+json"


def _artifact(v2: V2, name: str, subject: str, subject_size: int, kind: str, i: int) -> bytes:
    doc = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "artifactType": kind,
        "config": {"mediaType": EMPTY_CONFIG, "digest": sha256(EMPTY), "size": 2},
        "layers": [{"mediaType": EMPTY_CONFIG, "digest": sha256(EMPTY), "size": 2}],
        "subject": {"mediaType": OCI_MANIFEST, "digest": subject, "size": subject_size},
        "annotations": {"n": str(i)},
    }
    return json.dumps(doc).encode()


def test_referrers_before_and_after_subject(v2: V2, repo: Callable[[str], str]) -> None:
    name = repo("refs")
    v2.push_blob(name, EMPTY)
    subject_payload = v2.image_manifest(name, [b"subject layer"])
    subject = sha256(subject_payload)
    sbom = _artifact(v2, name, subject, len(subject_payload), "application/spdx+json", 1)
    r = v2.put_manifest(name, sha256(sbom), sbom)  # before its subject exists
    assert (r.status_code, r.headers["oci-subject"]) == (201, subject)
    assert v2.put_manifest(name, "v1", subject_payload).status_code == 201
    sig = _artifact(v2, name, subject, len(subject_payload), "application/vnd.dev.sig", 2)
    assert v2.put_manifest(name, sha256(sig), sig).status_code == 201

    r = v2.http.get(f"/v2/{name}/referrers/{subject}")
    assert r.headers["content-type"] == "application/vnd.oci.image.index.v1+json"
    found = {m["digest"]: m for m in r.json()["manifests"]}
    assert set(found) == {sha256(sbom), sha256(sig)}
    assert found[sha256(sbom)]["artifactType"] == "application/spdx+json"
    assert found[sha256(sbom)]["annotations"] == {"n": "1"}
    assert found[sha256(sbom)]["size"] == len(sbom)

    filtered = v2.http.get(f"/v2/{name}/referrers/{subject}",
                           params={"artifactType": "application/vnd.dev.sig"})  # fmt: skip
    assert filtered.headers["oci-filters-applied"] == "artifactType"
    assert [m["digest"] for m in filtered.json()["manifests"]] == [sha256(sig)]

    unknown = v2.http.get(f"/v2/{name}/referrers/{sha256(b'nothing')}")
    assert (unknown.status_code, unknown.json()["manifests"]) == (200, [])


def test_image_without_artifact_type_is_listed_by_config_type(
    v2: V2, repo: Callable[[str], str]
) -> None:
    name = repo("cfgtype")
    subject_payload = v2.image_manifest(name, [b"s"])
    v2.put_manifest(name, "v1", subject_payload)
    referrer = v2.image_manifest(
        name,
        [b"sig"],
        subject={"mediaType": OCI_MANIFEST, "digest": sha256(subject_payload),
                 "size": len(subject_payload)},
    )  # fmt: skip
    assert v2.put_manifest(name, sha256(referrer), referrer).status_code == 201
    listed = v2.http.get(f"/v2/{name}/referrers/{sha256(subject_payload)}").json()["manifests"]
    assert listed[0]["artifactType"] == "application/vnd.oci.image.config.v1+json"


def test_referrers_are_paginated(v2: V2, repo: Callable[[str], str]) -> None:
    name = repo("many")
    v2.push_blob(name, EMPTY)
    subject = sha256(b"a subject that is never pushed")
    pushed = set()
    for i in range(1001):
        payload = _artifact(v2, name, subject, 10, "application/x.note", i)
        assert v2.put_manifest(name, sha256(payload), payload).status_code == 201
        pushed.add(sha256(payload))
    first = v2.http.get(f"/v2/{name}/referrers/{subject}")
    link = first.headers["link"]
    assert link.endswith('; rel="next"')
    second = v2.http.get(link[1 : link.index(">")])
    seen = [m["digest"] for m in first.json()["manifests"] + second.json()["manifests"]]
    assert len(first.json()["manifests"]) == 1000
    assert "link" not in second.headers
    assert sorted(seen) == sorted(pushed)
