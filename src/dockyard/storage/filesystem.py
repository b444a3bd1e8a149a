"""Filesystem driver: blobs at `blobs/<alg>/<2 hex>/<hex>`, uploads at `uploads/<id>`.

Durability: upload data is fsynced before its offset is recorded, and a blob is fsynced,
renamed into place and its directory fsynced before its database row commits — a crash at
any point leaves either no visible blob or a complete one.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from dockyard.storage.base import BlobStore, StorageError, UploadBusy, UploadWriter

__all__ = ["FilesystemBlobStore"]

_READ_CHUNK = 1024 * 1024
_SYNC_EVERY_BYTES = 64 * 1024 * 1024
_UPLOAD_ID = re.compile(r"[A-Za-z0-9_-]{8,64}")


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class FilesystemBlobStore(BlobStore):
    def __init__(self, root: Path) -> None:
        self.root = root
        self._blobs = root / "blobs"
        self._uploads = root / "uploads"
        self._blobs.mkdir(parents=True, exist_ok=True)
        self._uploads.mkdir(parents=True, exist_ok=True)

    def _blob_path(self, digest: str) -> Path:
        algorithm, hexpart = digest.split(":", 1)
        return self._blobs / algorithm / hexpart[:2] / hexpart

    def _upload_path(self, upload_id: str) -> Path:
        if not _UPLOAD_ID.fullmatch(upload_id):
            raise StorageError(f"invalid upload id {upload_id!r}")
        return self._uploads / upload_id

    def local_path(self, digest: str) -> Path | None:
        return self._blob_path(digest)

    def blob_size(self, digest: str) -> int | None:
        try:
            return self._blob_path(digest).stat().st_size
        except FileNotFoundError:
            return None

    def open_blob(self, digest: str) -> BinaryIO:
        try:
            return self._blob_path(digest).open("rb")
        except OSError as exc:
            raise StorageError(f"cannot open blob {digest}: {exc}") from exc

    def delete_blob(self, digest: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            self._blob_path(digest).unlink()

    def create_upload(self, upload_id: str) -> None:
        try:
            self._upload_path(upload_id).touch(exist_ok=False)
        except OSError as exc:
            raise StorageError(f"cannot create upload {upload_id}: {exc}") from exc

    def open_upload(self, upload_id: str) -> UploadWriter:
        path = self._upload_path(upload_id)
        try:
            handle = path.open("r+b")
        except OSError as exc:
            raise StorageError(f"cannot open upload {upload_id}: {exc}") from exc
        try:
            # flock is per open file description: it excludes other requests in this
            # process as well as other workers.
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as exc:
            handle.close()
            raise UploadBusy(f"upload {upload_id} is being written by another request") from exc
        return _FileUploadWriter(handle, upload_id)

    def read_upload(self, upload_id: str, size: int) -> Iterator[bytes]:
        with self._upload_path(upload_id).open("rb") as handle:
            remaining = size
            while remaining > 0:
                chunk = handle.read(min(_READ_CHUNK, remaining))
                if not chunk:
                    raise StorageError(f"upload {upload_id} is shorter than {size} bytes")
                remaining -= len(chunk)
                yield chunk

    def commit_upload(self, upload_id: str, size: int, digest: str) -> None:
        source = self._upload_path(upload_id)
        target = self._blob_path(digest)
        try:
            if target.exists():
                source.unlink(missing_ok=True)
                return
            with source.open("r+b") as handle:
                handle.truncate(size)
                os.fsync(handle.fileno())
            target.parent.mkdir(parents=True, exist_ok=True)
            os.replace(source, target)
            _fsync_dir(target.parent)
        except OSError as exc:
            raise StorageError(f"cannot commit upload {upload_id} as {digest}: {exc}") from exc

    def delete_upload(self, upload_id: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            self._upload_path(upload_id).unlink()

    def free_bytes(self) -> int | None:
        return shutil.disk_usage(self.root).free


class _FileUploadWriter(UploadWriter):
    def __init__(self, handle: BinaryIO, upload_id: str) -> None:
        self._handle = handle
        self._upload_id = upload_id
        self._unsynced = 0

    def seek(self, offset: int) -> None:
        self._handle.truncate(offset)
        self._handle.seek(offset)

    def write(self, data: bytes) -> None:
        try:
            self._handle.write(data)
            self._unsynced += len(data)
            if self._unsynced >= _SYNC_EVERY_BYTES:
                # Writing back as we go keeps the final fsync short and stops a large upload
                # from piling up dirty pages until the kernel throttles every writer.
                self._handle.flush()
                os.fdatasync(self._handle.fileno())
                self._unsynced = 0
        except OSError as exc:
            raise StorageError(f"cannot write upload {self._upload_id}: {exc}") from exc

    def flush(self) -> int:
        try:
            self._handle.flush()
            os.fsync(self._handle.fileno())
            return self._handle.tell()
        except OSError as exc:
            raise StorageError(f"cannot flush upload {self._upload_id}: {exc}") from exc

    def close(self) -> None:
        self._handle.close()  # releases the flock
