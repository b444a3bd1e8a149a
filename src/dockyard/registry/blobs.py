"""Reading and deleting blobs as one repository sees them."""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path

import anyio

from dockyard.metadata.queries import blobs as blob_queries
from dockyard.metadata.queries import gc_queue, repositories
from dockyard.registry.context import Absent, LinkedBlob, RegistryContext, now
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

    def _link(self, name: str, digest: str) -> LinkedBlob | Absent:
        with self._ctx.db.read() as conn:
            repo_id = repositories.repository_id(conn, name)
            link = None if repo_id is None else blob_queries.link_of(conn, repo_id, digest)
        return Absent.BLOB if link is None else LinkedBlob(*link)

    def _touch(self, name: str, digest: str) -> bool:
        with self._ctx.db.write() as conn:
            return blob_queries.touch_link(conn, name, digest, now())

    async def stat(self, name: str, digest: str, *, touch: bool = False) -> ServableBlob:
        """The blob if it is linked in `name` (pitfalls §27: never just "exists somewhere").

        `touch` (a HEAD: the client will push a manifest using it, minutes later, pitfalls
        §15): renew the link when it is older than half the in-flight window, so garbage
        collection keeps it for at least that half. The renewal commits before we answer;
        if GC removed the link first, the blob is unknown and the client uploads it again.
        """
        link = await self._ctx.blobs.get_or_load((name, digest), lambda: self._link(name, digest))
        if isinstance(link, Absent):
            raise BlobUnknown("blob unknown to registry", digest)
        window = self._ctx.limits.in_flight_seconds
        stale = touch and window > 0 and link.linked_at < now() - window // 2
        if stale and not await anyio.to_thread.run_sync(self._touch, name, digest):
            raise BlobUnknown("blob unknown to registry", digest)
        size = link.size
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
            gc_queue.enqueue_blobs(conn, [digest], now())

    async def delete(self, name: str, digest: str) -> None:
        """Unlink a blob from the repository; its bytes go when GC finds them unused."""
        await anyio.to_thread.run_sync(self._delete, name, digest)
