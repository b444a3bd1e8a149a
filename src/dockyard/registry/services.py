"""The registry services bundle the HTTP faces are handed."""

from __future__ import annotations

from dataclasses import dataclass

from dockyard.registry.blobs import BlobService
from dockyard.registry.context import RegistryContext
from dockyard.registry.listing import ListingService
from dockyard.registry.manifests import ManifestService
from dockyard.registry.pulls import PullRecorder
from dockyard.registry.uploads import UploadService
from dockyard.registry.upstream.pull_through import PullThrough

__all__ = ["RegistryServices"]


@dataclass(frozen=True)
class RegistryServices:
    blobs: BlobService
    uploads: UploadService
    manifests: ManifestService
    listing: ListingService
    pulls: PullRecorder
    pull_through: PullThrough | None = None  # set when some namespace is a cache

    @classmethod
    def build(cls, ctx: RegistryContext) -> RegistryServices:
        return cls(
            blobs=BlobService(ctx),
            uploads=UploadService(ctx),
            manifests=ManifestService(ctx),
            listing=ListingService(ctx),
            pulls=PullRecorder(ctx.db),
        )
