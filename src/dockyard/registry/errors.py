"""Domain errors. They carry no HTTP status: each face maps them to its own terms.

RegistryError
├── NameInvalid            repository name outside the spec grammar
├── NameUnknown            repository not known (or not visible to the caller)
├── TagInvalid             tag outside the spec grammar
├── DigestInvalid          malformed digest, or content that does not match its digest
├── BlobUnknown            blob not linked in the repository
├── BlobUploadUnknown      no such upload session
├── BlobUploadInvalid      upload session exists but the request cannot apply to it
│   └── RangeInvalid       a chunk that does not start at the session's offset
├── SizeInvalid            content length disagrees with what was declared
├── ManifestUnknown        no such manifest / tag
├── ManifestInvalid        manifest fails validation
│   └── ManifestTooLarge   manifest over the size limit
├── ManifestBlobUnknown    manifest references content absent from the repository
├── Unsupported            operation refused by design (e.g. a referenced blob)
├── Unauthorized           no or bad credentials
├── Denied                 signed in but not allowed
│   ├── QuotaExceeded      the push would take the namespace over its storage quota
│   └── TagImmutable       the push or delete would move or remove an immutable tag
├── TooManyRequests        rate limited
├── UpstreamFailed         a pull-through cache's upstreams failed and nothing is cached
└── StorageUnavailable     the blob store failed (an outage or misconfiguration, not the
                           client's doing); `backend_failure` makes one of a StorageError
"""

from __future__ import annotations

from typing import Any

from dockyard.storage.base import StorageError


class RegistryError(Exception):
    """Base of every domain error: a message for people and optional structured detail."""

    def __init__(self, message: str, detail: Any = None) -> None:
        super().__init__(message)
        self.message = message
        self.detail = detail


class NameInvalid(RegistryError):
    pass


class NameUnknown(RegistryError):
    pass


class TagInvalid(RegistryError):
    pass


class DigestInvalid(RegistryError):
    pass


class BlobUnknown(RegistryError):
    pass


class BlobUploadUnknown(RegistryError):
    pass


class BlobUploadInvalid(RegistryError):
    pass


class RangeInvalid(BlobUploadInvalid):
    """Carries the session's current size so the reply can tell the client where to resume."""

    def __init__(self, message: str, current_size: int) -> None:
        super().__init__(message)
        self.current_size = current_size


class SizeInvalid(RegistryError):
    pass


class ManifestUnknown(RegistryError):
    pass


class ManifestInvalid(RegistryError):
    pass


class ManifestTooLarge(ManifestInvalid):
    pass


class ManifestBlobUnknown(RegistryError):
    pass


class Unsupported(RegistryError):
    pass


class ParameterInvalid(Unsupported):
    pass


class Unauthorized(RegistryError):
    pass


class Denied(RegistryError):
    pass


class QuotaExceeded(Denied):
    """OCI `DENIED` (403): the message names the namespace, its usage and its quota."""


class TagImmutable(Denied):
    """OCI `DENIED` (403): the message names the tag and the rule that protects it."""


class TooManyRequests(RegistryError):
    pass


class UpstreamFailed(RegistryError):
    pass


class StorageUnavailable(RegistryError):
    """The blob store could not do what the request needs; retrying later may work."""


def backend_failure(exc: BaseException) -> RegistryError | None:
    """The domain error for a failure of the blob store that no service translated (a
    StorageError reaching the face), None for anything else (a bug: the face says so)."""
    if isinstance(exc, StorageError):
        return StorageUnavailable("blob storage is unavailable; try again later")
    return None
