"""What the registry services share: the database, the blob store and the limits."""

from __future__ import annotations

import enum
import time
from dataclasses import dataclass, field

from dockyard.metadata.db import Database
from dockyard.registry.cache import GenerationCache
from dockyard.registry.types import ManifestContent
from dockyard.storage.base import BlobStore

__all__ = ["Absent", "Limits", "LinkedBlob", "RegistryContext", "now"]


class Absent(enum.Enum):
    """Cached answers that say what is not there (so that misses are cached too)."""

    REPOSITORY = "no such repository"
    MANIFEST = "no such manifest"
    BLOB = "blob not linked in the repository"


def now() -> int:
    return int(time.time())


@dataclass(frozen=True, slots=True)
class LinkedBlob:
    size: int
    linked_at: int  # last linked, or last told to a client (GC's grace counts from it)


@dataclass(frozen=True, slots=True)
class Limits:
    max_manifest_bytes: int = 4 * 1024 * 1024
    max_page_size: int = 10_000
    # GC keeps what a client touched this recently; a HEAD renews a link older than half
    # of it (Settings.gc_in_flight_seconds).
    in_flight_seconds: int = 3600


@dataclass
class RegistryContext:
    db: Database
    store: BlobStore
    limits: Limits = field(default_factory=Limits)
    # (repository, reference) -> the manifest, or what is missing
    manifests: GenerationCache[tuple[str, str], ManifestContent | Absent] = field(init=False)
    # (repository, digest) -> a linked blob, or Absent.BLOB
    blobs: GenerationCache[tuple[str, str], LinkedBlob | Absent] = field(init=False)

    def __post_init__(self) -> None:
        self.manifests = GenerationCache(self.db.generation)
        self.blobs = GenerationCache(self.db.generation)
