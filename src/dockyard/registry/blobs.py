"""Reading and deleting blobs as one repository sees them."""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path

import anyio

from dockyard.metadata.queries import blobs as blob_queries
from dockyard.metadata.queries import repositories
from dockyard.registry.context import Absent, RegistryContext
from dockyard.registry.errors import BlobUnknown, Unsupported
from dockyard.storage.base import StorageError

__all__ = ["BlobService", "ServableBlob"]

_log = logging.getLogger("dockyard.registry")


@dataclass(frozen=True, slots=True)
class ServableBlob:
    digest: str
    size: int
    local: tuple[Path, os.stat_result] | None  # for sendfile, when storage is local


class BlobService:
    def __init__(self, ctx: RegistryContext) -> None:
        self._ctx = ctx

    def _linked_size(self, name: str, digest: str) -> int | Absent:
        with self._ctx.db.read() as conn:
            repo_id = repositories.repository_id(conn, name)
            size = None if repo_id is None else blob_queries.linked_size(conn, repo_id, digest)
        return Absent.BLOB if size is None else size

    async def stat(self, name: str, digest: str) -> ServableBlob:
        """The blob if it is linked in `name` (pitfalls §27: never just "exists somewhere")."""
        size = await self._ctx.blobs.get_or_load(
            (name, digest), lambda: self._linked_size(name, digest)
        )
        if isinstance(size, Absent):
            raise BlobUnknown("blob unknown to registry", digest)
        try:
            local = await anyio.to_thread.run_sync(self._ctx.store.local_file, digest)
        except StorageError as exc:
            # The database says the bytes exist and they do not: loud in the log, and
            # "unknown" to the client, whose next push of the blob puts the bytes back.
            detail = {"digest": digest, "error": str(exc)}
            _log.error("blob content missing", extra={"fields": detail})
            raise BlobUnknown("blob content missing from storage", digest) from exc
        return ServableBlob(digest, size, local)

    def _delete(self, name: str, digest: str) -> None:
        with self._ctx.db.write() as conn:
            repo_id = repositories.repository_id(conn, name)
            if repo_id is None or blob_queries.linked_size(conn, repo_id, digest) is None:
                raise BlobUnknown("blob unknown to registry", digest)
            if blob_queries.is_referenced(conn, repo_id, digest):
                raise Unsupported(
                    "blob is referenced by a manifest in this repository; delete the manifest "
                    "first",
                    digest,
                )
            blob_queries.unlink_blob(conn, repo_id, digest)

    async def delete(self, name: str, digest: str) -> None:
        """Unlink a blob from the repository; its bytes go when GC finds them unused."""
        await anyio.to_thread.run_sync(self._delete, name, digest)
