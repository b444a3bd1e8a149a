"""Domain values that cross layers: frozen dataclasses, never ORM rows."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any

__all__ = [
    "Descriptor",
    "ManifestContent",
    "ParsedManifest",
    "ReferenceKind",
]


class ReferenceKind(enum.StrEnum):
    """What a manifest's descriptor points at."""

    CONFIG = "config"  # the image config (or an artifact's config blob)
    LAYER = "layer"  # a layer of an image manifest
    CHILD = "child"  # a manifest listed in an index
    BLOB = "blob"  # a plain blob listed in an index (BuildKit's registry cache)


@dataclass(frozen=True, slots=True)
class Descriptor:
    media_type: str
    digest: str
    size: int
    urls: tuple[str, ...] = ()
    artifact_type: str | None = None
    annotations: dict[str, str] | None = None
    platform: dict[str, Any] | None = None

    @property
    def is_foreign(self) -> bool:
        """Foreign/non-distributable layers carry urls and need not be in the registry."""
        return bool(self.urls)


@dataclass(frozen=True, slots=True)
class ParsedManifest:
    media_type: str
    artifact_type: str | None
    config: Descriptor | None
    layers: tuple[Descriptor, ...]
    manifests: tuple[Descriptor, ...]
    subject: Descriptor | None
    annotations: dict[str, str] | None

    @property
    def is_index(self) -> bool:
        return self.config is None

    def references(self) -> list[tuple[ReferenceKind, Descriptor]]:
        from dockyard.registry.mediatypes import MANIFEST_TYPES

        refs: list[tuple[ReferenceKind, Descriptor]] = []
        if self.config is not None:
            refs.append((ReferenceKind.CONFIG, self.config))
        refs.extend((ReferenceKind.LAYER, layer) for layer in self.layers)
        for child in self.manifests:
            kind = ReferenceKind.CHILD if child.media_type in MANIFEST_TYPES else ReferenceKind.BLOB
            refs.append((kind, child))
        return refs


@dataclass(frozen=True, slots=True)
class ManifestContent:
    """A stored manifest as served: the exact bytes with their digest and type."""

    digest: str
    media_type: str
    payload: bytes
    # When a client last pushed or fetched it by digest, if garbage collection has it under
    # review (nothing keeps it reachable); None otherwise.
    review_touched: int | None = None
