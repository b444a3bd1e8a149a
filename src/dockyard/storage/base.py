"""The BlobStore interface: content-addressed blobs plus the upload sessions that make them.

Methods are synchronous and may block on I/O: callers run them in a worker thread. Drivers
map their back end's errors to StorageError. Nothing here assumes rename exists (S3 has
none): `place_upload` is the one step that turns an upload into a visible blob.
"""

from __future__ import annotations

import os
from abc import ABC, abstractmethod
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

__all__ = ["BlobMissing", "BlobStore", "StorageError", "UploadBusy", "UploadWriter"]


class StorageError(Exception):
    """Any failure of the storage back end."""


class BlobMissing(StorageError):
    """A blob asked for by digest has no bytes in the store (as opposed to the store failing)."""


class UploadBusy(StorageError):
    """Another request is writing to the same upload right now."""


class UploadWriter(ABC):
    """Exclusive access to one upload, held until `close` (across workers and processes).

    Use: `seek(offset)` to the recorded offset (cutting off anything written past it by a
    crashed request), `write` chunks, `flush` to make them durable.
    """

    @abstractmethod
    def seek(self, offset: int) -> None: ...

    @abstractmethod
    def write(self, data: bytes) -> None: ...

    @abstractmethod
    def flush(self) -> int:
        """Make everything written durable; returns the upload's size."""

    @abstractmethod
    def close(self) -> None: ...


class BlobStore(ABC):
    @abstractmethod
    def local_file(self, digest: str) -> tuple[Path, os.stat_result] | None:
        """Path and stat of a blob the server may send with sendfile, when the driver keeps
        blobs on local disk (None otherwise); BlobMissing when the file is missing."""

    @abstractmethod
    def redirect_url(self, digest: str) -> str | None:
        """A short-lived URL a client may GET the blob's bytes from instead of us, when the
        driver serves blobs that way (None otherwise: the server sends or streams them);
        BlobMissing when the blob has no bytes. Clients need not be signed in there: the
        URL itself is the credential, so it must expire quickly."""

    @abstractmethod
    def blob_size(self, digest: str) -> int | None:
        """Size of a stored blob, or None when absent."""

    @abstractmethod
    def open_blob(self, digest: str) -> BinaryIO:
        """A binary reader of a stored blob, seekable (range requests); BlobMissing when
        the blob has no bytes."""

    # Removing blobs (GC, layer purge). The database decides what is unused; the bytes go in
    # two steps so that no crash can leave a blob row without its bytes (pitfalls §14): the
    # deleting transaction hides them (quick, undoable), and only after it commits are the
    # hidden bytes dropped. A crash in between leaves hidden bytes, which the next run
    # restores (the row is still there) or drops (the row is gone).

    @abstractmethod
    def hide_blob(self, digest: str) -> bool:
        """Move a blob's bytes out of sight: reads and `place_upload` no longer see them.
        Quick: called inside the transaction deleting the blob's row. False when the blob
        had no bytes."""

    @abstractmethod
    def restore_blob(self, digest: str) -> None:
        """Put hidden bytes back (their row is still there); no error if none are hidden.
        If the blob was placed again meanwhile, the hidden copy is dropped."""

    @abstractmethod
    def drop_hidden(self, digests: list[str]) -> int:
        """Delete hidden bytes for good, durably; returns the bytes this freed (a missing
        object frees 0)."""

    @abstractmethod
    def hidden_blobs(self) -> Iterator[str]:
        """Digests whose bytes are hidden (left by a run that stopped half-way)."""

    @abstractmethod
    def stored_blobs(self) -> Iterator[tuple[str, int]]:
        """Every stored blob as (digest, size), in digest order (verification walks this
        beside the database; nothing on a request path may)."""

    @abstractmethod
    def upload_files(self) -> Iterator[tuple[str, int, int]]:
        """Every upload's bytes as (upload id, size, last modified, Unix seconds)."""

    @abstractmethod
    def create_upload(self, upload_id: str) -> None:
        """Start an empty upload."""

    @abstractmethod
    def open_upload(self, upload_id: str) -> UploadWriter:
        """Exclusive access to an upload; raises UploadBusy when someone else holds it."""

    @abstractmethod
    def read_upload(self, upload_id: str, size: int) -> Iterator[bytes]:
        """The first `size` bytes of an upload, for re-hashing on another worker."""

    @abstractmethod
    def prepare_upload(self, upload_id: str, size: int) -> None:
        """Make the upload's first `size` bytes durable, ready to become a blob (slow: run it
        outside any database transaction). Called while holding the upload's writer."""

    @abstractmethod
    def place_upload(self, upload_id: str, digest: str) -> None:
        """Make a prepared upload the blob `digest`, atomically and durably; if the blob
        already exists, the upload is simply dropped. Quick: callers run it inside the write
        transaction that adds the blob's row, so that a purge or GC deleting the same digest
        cannot run between the check and the row (pitfalls §14)."""

    def commit_upload(self, upload_id: str, size: int, digest: str) -> None:
        """`prepare_upload` then `place_upload`, for callers that need no transaction."""
        self.prepare_upload(upload_id, size)
        self.place_upload(upload_id, digest)

    @abstractmethod
    def delete_upload(self, upload_id: str) -> int:
        """Forget an upload's bytes; returns how many it freed (0 if already gone)."""

    @abstractmethod
    def free_bytes(self) -> int | None:
        """Free space for blobs, when the back end can tell."""
