"""Strict manifest parsing: read a manifest the way Go clients read it, or refuse it.

Go's encoding/json matches keys case-insensitively, so `"Layers"` is a layer list to
containerd but invisible to `dict["layers"]`; duplicate keys take the last value in Go and
the first elsewhere. A registry that reads differently from its clients lets content hide
from search, GC and layer purge (pitfalls §12), so any such ambiguity is refused.
"""

from __future__ import annotations

import json
from typing import Any

from dockyard.registry import mediatypes as mt
from dockyard.registry.digests import parse_digest
from dockyard.registry.errors import DigestInvalid, ManifestInvalid
from dockyard.registry.types import Descriptor, ParsedManifest

__all__ = ["MAX_DESCRIPTORS", "parse_manifest"]

MAX_DESCRIPTORS = 10_000
_STRUCTURAL_KEYS = {
    key.lower(): key
    for key in (
        "schemaVersion", "mediaType", "artifactType", "config", "layers", "manifests",
        "subject", "annotations", "digest", "size", "urls", "platform", "data",
        "architecture", "os", "os.version", "os.features", "variant", "features", "fsLayers",
        "signatures", "history", "name", "tag",
    )
}  # fmt: skip


class _Object(dict[str, Any]):
    """A JSON object that was checked for duplicate keys while parsing."""


def _no_duplicates(pairs: list[tuple[str, Any]]) -> _Object:
    obj = _Object()
    for key, value in pairs:
        if key in obj:
            raise ManifestInvalid(f"duplicate key {key!r} in manifest")
        obj[key] = value
    return obj


def _reject_constant(name: str) -> Any:
    raise ManifestInvalid(f"{name} is not valid JSON")


def _load(payload: bytes) -> Any:
    try:
        text = payload.decode("utf-8")
        return json.loads(text, object_pairs_hook=_no_duplicates, parse_constant=_reject_constant)
    except UnicodeDecodeError as exc:
        raise ManifestInvalid("manifest is not UTF-8") from exc
    except RecursionError as exc:
        raise ManifestInvalid("manifest nests too deeply") from exc
    except json.JSONDecodeError as exc:
        raise ManifestInvalid(f"manifest is not valid JSON: {exc}") from exc


def _check_keys(obj: dict[str, Any], where: str) -> None:
    """Refuse keys that only differ in case from a schema field (Go would read them)."""
    for key in obj:
        canonical = _STRUCTURAL_KEYS.get(key.lower())
        if canonical is not None and canonical != key:
            raise ManifestInvalid(f"{where}: key {key!r} differs in case from {canonical!r}")


def _string(obj: dict[str, Any], key: str, where: str, required: bool = False) -> str | None:
    value = obj.get(key)
    if value is None:
        if required:
            raise ManifestInvalid(f"{where}: {key} is required")
        return None
    if not isinstance(value, str):
        raise ManifestInvalid(f"{where}: {key} must be a string")
    return value


def _string_map(value: Any, where: str) -> dict[str, str] | None:
    if value is None:
        return None
    if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
        raise ManifestInvalid(f"{where}: annotations must map strings to strings")
    return dict(value)


def _descriptor(value: Any, where: str) -> Descriptor:
    if not isinstance(value, dict):
        raise ManifestInvalid(f"{where}: descriptor must be an object")
    _check_keys(value, where)
    media_type = _string(value, "mediaType", where, required=True) or ""
    digest = _string(value, "digest", where, required=True) or ""
    size = value.get("size")
    # bool is an int in Python but not in Go; floats like 1.0 are refused by Go's int64 too.
    if type(size) is not int or size < 0:
        raise ManifestInvalid(f"{where}: size must be a non-negative integer")
    try:
        parse_digest(digest)
    except DigestInvalid as exc:
        raise ManifestInvalid(f"{where}: {exc.message}: {digest!r}") from exc
    urls = value.get("urls") or []
    if not isinstance(urls, list) or not all(isinstance(u, str) for u in urls):
        raise ManifestInvalid(f"{where}: urls must be a list of strings")
    platform = value.get("platform")
    if platform is not None:
        if not isinstance(platform, dict):
            raise ManifestInvalid(f"{where}: platform must be an object")
        _check_keys(platform, f"{where}.platform")
    return Descriptor(
        media_type=media_type,
        digest=digest,
        size=size,
        urls=tuple(urls),
        artifact_type=_string(value, "artifactType", where),
        annotations=_string_map(value.get("annotations"), where),
        platform=platform,
    )


def _descriptor_list(value: Any, where: str) -> tuple[Descriptor, ...]:
    if not isinstance(value, list):
        raise ManifestInvalid(f"{where} must be a list")
    if len(value) > MAX_DESCRIPTORS:
        raise ManifestInvalid(f"{where} has more than {MAX_DESCRIPTORS} entries")
    return tuple(_descriptor(item, f"{where}[{i}]") for i, item in enumerate(value))


def _media_type(doc: dict[str, Any], content_type: str | None) -> str:
    body_type = _string(doc, "mediaType", "manifest")
    header_type = (content_type or "").split(";", 1)[0].strip().lower() or None
    if header_type in (None, "application/json", "application/octet-stream"):
        header_type = None
    if body_type and header_type and body_type != header_type:
        raise ManifestInvalid(
            f"mediaType {body_type!r} does not match Content-Type {header_type!r}"
        )
    media_type = body_type or header_type
    if media_type is None:
        # OCI image-spec leaves mediaType optional; the shape says which one it is.
        media_type = mt.OCI_INDEX if "manifests" in doc else mt.OCI_MANIFEST
    if media_type in mt.SCHEMA1_TYPES:
        raise ManifestInvalid("Docker schema 1 manifests are not supported; push schema 2 or OCI")
    if media_type not in mt.MANIFEST_TYPES:
        raise ManifestInvalid(f"unsupported manifest media type {media_type!r}")
    return media_type


def parse_manifest(payload: bytes, content_type: str | None) -> ParsedManifest:
    """Parse and validate the structure of a manifest. Existence of blobs is checked later."""
    doc = _load(payload)
    if not isinstance(doc, dict):
        raise ManifestInvalid("manifest must be a JSON object")
    _check_keys(doc, "manifest")
    media_type = _media_type(doc, content_type)
    if doc.get("schemaVersion") != 2 or type(doc.get("schemaVersion")) is not int:
        raise ManifestInvalid("schemaVersion must be 2")
    # CVE-2021-41190: a document that is both an index and an image is ambiguous.
    if "manifests" in doc and ("layers" in doc or "config" in doc):
        raise ManifestInvalid("a manifest cannot have both manifests and layers/config")
    subject = _descriptor(doc["subject"], "subject") if doc.get("subject") is not None else None
    artifact_type = _string(doc, "artifactType", "manifest")
    annotations = _string_map(doc.get("annotations"), "manifest")
    if media_type in mt.INDEX_TYPES:
        if "manifests" not in doc:
            raise ManifestInvalid("an index needs a manifests list")
        config = None
        layers: tuple[Descriptor, ...] = ()
        manifests = _descriptor_list(doc["manifests"], "manifests")
    else:
        if "config" not in doc:
            raise ManifestInvalid("an image manifest needs a config descriptor")
        if doc.get("layers") is None:
            raise ManifestInvalid("an image manifest needs a layers list (it may be empty)")
        config = _descriptor(doc["config"], "config")
        layers = _descriptor_list(doc["layers"], "layers")
        manifests = ()
    return ParsedManifest(
        media_type=media_type,
        artifact_type=artifact_type,
        config=config,
        layers=layers,
        manifests=manifests,
        subject=subject,
        annotations=annotations,
    )
