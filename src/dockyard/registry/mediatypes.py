"""Manifest media types and content negotiation."""

from __future__ import annotations

from collections.abc import Iterable

__all__ = [
    "DOCKER_MANIFEST",
    "DOCKER_MANIFEST_LIST",
    "INDEX_TYPES",
    "MANIFEST_TYPES",
    "OCI_INDEX",
    "OCI_MANIFEST",
    "SCHEMA1_TYPES",
    "acceptable",
    "parse_accept",
]

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_MANIFEST_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
SCHEMA1_TYPES = frozenset(
    {
        "application/vnd.docker.distribution.manifest.v1+json",
        "application/vnd.docker.distribution.manifest.v1+prettyjws",
    }
)
IMAGE_TYPES = frozenset({OCI_MANIFEST, DOCKER_MANIFEST})
INDEX_TYPES = frozenset({OCI_INDEX, DOCKER_MANIFEST_LIST})
MANIFEST_TYPES = IMAGE_TYPES | INDEX_TYPES


def parse_accept(header_lines: Iterable[str]) -> frozenset[str] | None:
    """Media types a client accepts, from every `Accept` line; None means anything.

    skopeo sends one line per type, containerd one comma-joined line ending in */*
    (pitfalls §1), so lines are split on commas and parameters dropped.
    """
    types: set[str] = set()
    for line in header_lines:
        for item in line.split(","):
            media_type = item.split(";", 1)[0].strip().lower()
            if media_type in ("*/*", "application/*"):
                return None
            if media_type:
                types.add(media_type)
    return frozenset(types) if types else None


def acceptable(media_type: str, accepted: frozenset[str] | None) -> bool:
    # Docker clients that send no manifest type at all still take schema 2 (distribution
    # serves it to them); only an explicit list that names other manifest types excludes it.
    if accepted is None or media_type in accepted:
        return True
    return not (accepted & MANIFEST_TYPES) and media_type in (DOCKER_MANIFEST, OCI_MANIFEST)
