"""Strict manifest parsing: what Go clients would read differently is refused."""

from __future__ import annotations

import json
from typing import Any

import pytest

from dockyard.registry import mediatypes as mt
from dockyard.registry.errors import ManifestInvalid
from dockyard.registry.manifest_parser import parse_manifest
from dockyard.registry.types import ReferenceKind

CONFIG = {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": "sha256:" + "a" * 64,
          "size": 10}  # fmt: skip
LAYER = {"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": "sha256:" + "b" * 64,
         "size": 20}  # fmt: skip


def image(**overrides: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {"schemaVersion": 2, "mediaType": mt.OCI_MANIFEST, "config": CONFIG,
                           "layers": [LAYER]}  # fmt: skip
    doc.update(overrides)
    return doc


def encode(doc: Any) -> bytes:
    return json.dumps(doc).encode()


def test_image_manifest_references_in_order() -> None:
    parsed = parse_manifest(encode(image(layers=[LAYER, LAYER])), mt.OCI_MANIFEST)
    kinds = [(kind, d.digest) for kind, d in parsed.references()]
    assert kinds == [
        (ReferenceKind.CONFIG, CONFIG["digest"]),
        (ReferenceKind.LAYER, LAYER["digest"]),
        (ReferenceKind.LAYER, LAYER["digest"]),
    ]


def test_index_entries_that_are_not_manifests_are_blobs() -> None:
    child = {"mediaType": mt.OCI_MANIFEST, "digest": "sha256:" + "c" * 64, "size": 5}
    cache_blob = {"mediaType": "application/vnd.buildkit.cacheconfig.v0", "digest": LAYER["digest"],
                  "size": 20}  # fmt: skip
    doc = {"schemaVersion": 2, "mediaType": mt.OCI_INDEX, "manifests": [child, cache_blob]}
    parsed = parse_manifest(encode(doc), None)
    assert [kind for kind, _ in parsed.references()] == [ReferenceKind.CHILD, ReferenceKind.BLOB]


def test_media_type_falls_back_to_content_type_then_shape() -> None:
    doc = image()
    del doc["mediaType"]
    assert parse_manifest(encode(doc), mt.DOCKER_MANIFEST).media_type == mt.DOCKER_MANIFEST
    assert parse_manifest(encode(doc), None).media_type == mt.OCI_MANIFEST


@pytest.mark.parametrize(
    ("payload", "why"),
    [
        (b'{"schemaVersion": 2, "schemaVersion": 2}', "duplicate key"),
        (encode({**image(), "Layers": []}), "differs in case"),
        (encode(image(layers=[{**LAYER, "size": True}])), "non-negative integer"),
        (encode(image(layers=[{**LAYER, "size": 1.5}])), "non-negative integer"),
        (encode(image(layers=[{**LAYER, "size": -1}])), "non-negative integer"),
        (encode(image(layers=[{**LAYER, "digest": "sha256:xyz"}])), "digest"),
        (encode({**image(), "manifests": []}), "both manifests and layers"),
        (encode(image(schemaVersion=1)), "schemaVersion"),
        (encode(image(mediaType="application/vnd.docker.distribution.manifest.v1+prettyjws")),
         "schema 1"),
        (encode(image(mediaType="application/x-unknown")), "unsupported manifest media type"),
        (b"[1, 2]", "JSON object"),
        (b"{not json", "not valid JSON"),
        (b'{"a": NaN}', "not valid JSON"),
        (b"[" * 100_000 + b"]" * 100_000, "nests too deeply"),
        (b"\xff\xfe", "UTF-8"),
        (encode(image(config=None)), "config"),
        (encode({k: v for k, v in image().items() if k != "layers"}), "layers"),
    ],
)  # fmt: skip
def test_refused(payload: bytes, why: str) -> None:
    with pytest.raises(ManifestInvalid, match=why):
        parse_manifest(payload, None)


def test_content_type_must_agree_with_body() -> None:
    with pytest.raises(ManifestInvalid, match="does not match Content-Type"):
        parse_manifest(encode(image()), mt.DOCKER_MANIFEST)


def test_annotation_keys_are_free_form() -> None:
    parsed = parse_manifest(encode(image(annotations={"Digest": "x", "digest": "y"})), None)
    assert parsed.annotations == {"Digest": "x", "digest": "y"}


def test_foreign_layers_are_marked() -> None:
    foreign = {**LAYER, "urls": ["https://example.invalid/layer"]}
    parsed = parse_manifest(encode(image(layers=[foreign])), None)
    assert parsed.layers[0].is_foreign
