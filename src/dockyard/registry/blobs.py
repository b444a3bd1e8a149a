"""Reading and deleting blobs as one repository sees them."""

from __future__ import annotations

import logging
import os
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import anyio

from dockyard.metadata.queries import blobs as blob_queries
from dockyard.metadata.queries import gc_queue, repositories
from dockyard.registry.context import Absent, LinkedBlob, RegistryContext, now
from dockyard.registry.errors import BlobUnknown, Unsupported
from dockyard.storage.base import BlobMissing, StorageError

__all__ = ["BlobService", "ServableBlob"]

_log = logging.getLogger("dockyard.registry")
_STREAM_CHUNK = 1024 * 1024  # one thread hop per MiB: large enough to keep up with S3


@dataclass(frozen=True, slots=True)
class ServableBlob:
    digest: str
    size: int
    local: tuple[Path, os.stat_result] | None  # for sendfile, when storage is local
    redirect: str | None = None  # a presigned URL to send the client to, when asked for


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

    async def stat(
        self, name: str, digest: str, *, touch: bool = False, redirect: bool = False
    ) -> ServableBlob:
        """The blob if it is linked in `name` (pitfalls §27: never just "exists somewhere").

        `touch` (a HEAD: the client will push a manifest using it, minutes later, pitfalls
        §15): renew the link when it is older than half the in-flight window, so garbage
        collection keeps it for at least that half. The renewal commits before we answer;
        if GC removed the link first, the blob is unknown and the client uploads it again.

        `redirect` (a GET): also ask a driver without local files for a presigned URL.
        Neither local file nor URL: the caller streams the bytes with `open_range`.
        """
        link = await self._ctx.blobs.get_or_load((name, digest), lambda: self._link(name, digest))
        if isinstance(link, Absent):
            raise BlobUnknown("blob unknown to registry", digest)
        window = self._ctx.limits.in_flight_seconds
        stale = touch and window > 0 and link.linked_at < now() - window // 2
        if stale and not await anyio.to_thread.run_sync(self._touch, name, digest):
            raise BlobUnknown("blob unknown to registry", digest)
        size = link.size
        store = self._ctx.store
        url = None
        try:
            local = await anyio.to_thread.run_sync(store.local_file, digest)
            if local is None and redirect:
                url = await anyio.to_thread.run_sync(store.redirect_url, digest)
        except BlobMissing as exc:  # any other StorageError is an outage: 503, not 404
            raise self._missing(digest, exc) from exc
        return ServableBlob(digest, size, local, url)

    @staticmethod
    def _missing(digest: str, exc: Exception) -> BlobUnknown:
        # The database says the bytes exist and they do not: loud in the log, and
        # "unknown" to the client, whose next push of the blob puts the bytes back.
        detail = {"digest": digest, "error": str(exc)}
        _log.error("blob content missing", extra={"fields": detail})
        return BlobUnknown("blob content missing from storage", digest)

    async def open_range(self, digest: str, start: int, length: int) -> AsyncIterator[bytes]:
        """Bytes [start, start + length) of a blob `stat` found, for streaming; the blob is
        opened before this returns, so a missing blob is BlobUnknown, not a cut response."""
        try:
            handle = await anyio.to_thread.run_sync(self._ctx.store.open_blob, digest)
        except BlobMissing as exc:
            raise self._missing(digest, exc) from exc

        async def chunks() -> AsyncIterator[bytes]:
            try:
                await anyio.to_thread.run_sync(handle.seek, start)
                remaining = length
                while remaining > 0:
                    chunk = await anyio.to_thread.run_sync(
                        handle.read, min(_STREAM_CHUNK, remaining)
                    )
                    if not chunk:
                        raise StorageError(f"blob {digest} ended {remaining} bytes early")
                    remaining -= len(chunk)
                    yield chunk
            finally:
                with anyio.CancelScope(shield=True):
                    await anyio.to_thread.run_sync(handle.close)

        return chunks()

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
