"""Blob upload sessions: start, append chunks, finish with a digest, mount, cancel.

A session is a database row (its offset is the truth) plus bytes in the blob store, so a
PATCH or PUT may land on any worker, or after a restart. The running hash lives in the
worker that last wrote; any other worker re-hashes the bytes from storage (pitfalls §20).
"""

from __future__ import annotations

import asyncio
import uuid
from collections import OrderedDict
from collections.abc import AsyncIterator
from dataclasses import dataclass

import anyio

from dockyard.metadata.locks import lock_digests
from dockyard.metadata.queries import blobs as blob_queries
from dockyard.metadata.queries import gc_queue, repositories, uploads
from dockyard.registry import quotas
from dockyard.registry.context import RegistryContext, now
from dockyard.registry.digests import Hasher, algorithm_of, new_hasher
from dockyard.registry.errors import (
    BlobUploadInvalid,
    BlobUploadUnknown,
    DigestInvalid,
    QuotaExceeded,
    RangeInvalid,
)
from dockyard.registry.names import namespace_of
from dockyard.storage.base import StorageError, UploadBusy, UploadWriter

__all__ = ["Body", "UploadService"]

Body = AsyncIterator[bytes]
_BATCH_BYTES = 4 * 1024 * 1024
_HASHERS_KEPT = 1024


@dataclass(slots=True)
class _RunningHash:
    offset: int
    algorithm: str
    hasher: Hasher


def _write_batch(writer: UploadWriter, hasher: Hasher, chunks: list[bytes]) -> None:
    # hashlib and file writes release the GIL, so this overlaps with receiving.
    for chunk in chunks:
        writer.write(chunk)
        hasher.update(chunk)


def _check_start(content_range: tuple[int, int] | None, offset: int) -> None:
    if content_range is not None and content_range[0] != offset:
        raise RangeInvalid(f"chunk starts at {content_range[0]}, upload is at {offset}", offset)


def _check_length(content_range: tuple[int, int] | None, received: int, upload_id: str) -> None:
    if content_range is None:
        return
    announced = content_range[1] - content_range[0] + 1
    if received != announced:
        raise BlobUploadInvalid(
            f"Content-Range announced {announced} bytes, body had {received}", upload_id
        )


class UploadService:
    def __init__(self, ctx: RegistryContext) -> None:
        self._ctx = ctx
        self._hashes: OrderedDict[str, _RunningHash] = OrderedDict()

    # -- sessions ---------------------------------------------------------------------

    def _start(self, name: str, actor: str | None) -> str:
        with self._ctx.db.read() as conn:
            quotas.check_room(conn, name)  # a namespace with no room left takes no upload
        upload_id = uuid.uuid4().hex
        self._ctx.store.create_upload(upload_id)
        with self._ctx.db.write() as conn:
            uploads.add_upload(conn, upload_id, name, now(), actor)
        return upload_id

    async def start(self, name: str, actor: str | None) -> str:
        return await anyio.to_thread.run_sync(self._start, name, actor)

    def _session(self, name: str, upload_id: str) -> uploads.UploadRow:
        with self._ctx.db.read() as conn:
            row = uploads.get_upload(conn, upload_id)
        if row is None or row.repository != name:
            raise BlobUploadUnknown("upload unknown to registry", upload_id)
        return row

    async def status(self, name: str, upload_id: str) -> int:
        """Bytes received so far."""
        row = await anyio.to_thread.run_sync(self._session, name, upload_id)
        return row.offset

    def _cancel(self, name: str, upload_id: str) -> None:
        self._session(name, upload_id)
        with self._ctx.db.write() as conn:
            uploads.remove_upload(conn, upload_id)
        self._ctx.store.delete_upload(upload_id)
        self._hashes.pop(upload_id, None)

    async def cancel(self, name: str, upload_id: str) -> None:
        await anyio.to_thread.run_sync(self._cancel, name, upload_id)

    def _mount(self, name: str, digest: str, source: str, actor: str | None) -> bool:
        at = now()
        with self._ctx.db.write() as conn:
            lock_digests(conn, [digest])  # GC may be removing it: it is seen linked or gone
            source_id = repositories.repository_id(conn, source)
            size = None if source_id is None else blob_queries.linked_size(conn, source_id, digest)
            if size is None:
                return False
            quotas.check_blob(conn, name, digest, size)
            repo_id = repositories.ensure_repository(conn, name, namespace_of(name), at)
            blob_queries.link_blob(conn, repo_id, digest, at)
            gc_queue.enqueue_blobs(conn, [digest], at)  # a manifest may never use it
        return True

    async def mount(self, name: str, digest: str, source: str, actor: str | None) -> bool:
        """Link a blob of `source` into `name`; False when `source` does not have it.
        QuotaExceeded when the blob would take the namespace of `name` over its quota.

        The caller must already have checked that the client may read `source`.
        """
        return await anyio.to_thread.run_sync(self._mount, name, digest, source, actor)

    # -- writing ----------------------------------------------------------------------

    def _hash_at(self, upload_id: str, offset: int, algorithm: str) -> Hasher:
        running = self._hashes.pop(upload_id, None)
        if running is not None and running.offset == offset and running.algorithm == algorithm:
            return running.hasher
        hasher = new_hasher(algorithm)
        for chunk in self._ctx.store.read_upload(upload_id, offset):
            hasher.update(chunk)
        return hasher

    def _remember(self, upload_id: str, offset: int, algorithm: str, hasher: Hasher) -> None:
        self._hashes[upload_id] = _RunningHash(offset, algorithm, hasher)
        while len(self._hashes) > _HASHERS_KEPT:
            self._hashes.popitem(last=False)

    async def _open(self, name: str, upload_id: str) -> tuple[UploadWriter, uploads.UploadRow]:
        row = await anyio.to_thread.run_sync(self._session, name, upload_id)
        try:
            writer = await anyio.to_thread.run_sync(self._ctx.store.open_upload, upload_id)
        except UploadBusy as exc:
            raise BlobUploadInvalid(str(exc), upload_id) from exc
        except StorageError as exc:
            raise BlobUploadUnknown("upload data is gone", upload_id) from exc
        try:
            # Re-read under the lock: a request that held it may have moved the offset.
            row = await anyio.to_thread.run_sync(self._session, name, upload_id)
        except BaseException:
            writer.close()
            raise
        return writer, row

    async def _stream(self, writer: UploadWriter, hasher: Hasher, body: Body) -> int:
        """Write the body through the hasher; returns the number of bytes received."""
        loop = asyncio.get_running_loop()
        pending: asyncio.Future[None] | None = None
        batch: list[bytes] = []
        batch_bytes = received = 0
        try:
            async for chunk in body:
                if not chunk:
                    continue
                batch.append(chunk)
                batch_bytes += len(chunk)
                received += len(chunk)
                if batch_bytes >= _BATCH_BYTES:
                    if pending is not None:
                        await pending
                    pending = loop.run_in_executor(None, _write_batch, writer, hasher, batch)
                    batch, batch_bytes = [], 0
        finally:
            if pending is not None:
                await pending
        if batch:
            await anyio.to_thread.run_sync(_write_batch, writer, hasher, batch)
        return received

    async def append(
        self,
        name: str,
        upload_id: str,
        body: Body,
        content_range: tuple[int, int] | None,
        algorithm: str = "sha256",
    ) -> int:
        """Append a chunk; returns the new offset.

        OCI dist-spec §Pushing a blob in chunks: a chunk that does not start at the current
        offset gets 416 and leaves the session as it was, so the client can resume.
        """
        writer, row = await self._open(name, upload_id)
        try:
            offset = row.offset
            _check_start(content_range, offset)
            hasher = await anyio.to_thread.run_sync(self._hash_at, upload_id, offset, algorithm)
            await anyio.to_thread.run_sync(writer.seek, offset)
            received = await self._stream(writer, hasher, body)
            _check_length(content_range, received, upload_id)
            size = await anyio.to_thread.run_sync(writer.flush)
            await anyio.to_thread.run_sync(self._record_offset, upload_id, offset, size)
            self._remember(upload_id, size, algorithm, hasher)
            return size
        finally:
            writer.close()

    def _record_offset(self, upload_id: str, expected: int, size: int) -> None:
        with self._ctx.db.write() as conn:
            if not uploads.set_offset(conn, upload_id, expected, size, now()):
                raise BlobUploadInvalid("upload changed while this chunk was written", upload_id)

    async def finish(
        self,
        name: str,
        upload_id: str,
        digest: str,
        body: Body | None,
        actor: str | None,
        address: str | None = None,
        content_range: tuple[int, int] | None = None,
    ) -> None:
        """Close the session: the bytes become blob `digest` in `name`, or nothing at all
        (a wrong digest, or QuotaExceeded: the session and its bytes are gone).

        A last chunk with a Content-Range that does not start at the offset gets 416 and
        leaves the session usable, like a PATCH.
        """
        algorithm = algorithm_of(digest)
        writer, row = await self._open(name, upload_id)
        try:
            _check_start(content_range, row.offset)
            hasher = await anyio.to_thread.run_sync(self._hash_at, upload_id, row.offset, algorithm)
            size = row.offset
            if body is not None:
                await anyio.to_thread.run_sync(writer.seek, row.offset)
                received = await self._stream(writer, hasher, body)
                _check_length(content_range, received, upload_id)
                size = await anyio.to_thread.run_sync(writer.flush)
            actual = f"{algorithm}:{hasher.hexdigest()}"
            if actual != digest:
                await anyio.to_thread.run_sync(self._discard, upload_id)
                raise DigestInvalid(
                    f"uploaded content has digest {actual}, not the {digest} given", digest
                )
            try:
                await anyio.to_thread.run_sync(
                    self._commit, name, upload_id, size, digest, actor, address
                )
            except QuotaExceeded:
                await anyio.to_thread.run_sync(self._discard, upload_id)  # its bytes go now
                raise
        finally:
            writer.close()
            self._hashes.pop(upload_id, None)

    def _discard(self, upload_id: str) -> None:
        with self._ctx.db.write() as conn:
            uploads.remove_upload(conn, upload_id)
        self._ctx.store.delete_upload(upload_id)

    def _commit(
        self,
        name: str,
        upload_id: str,
        size: int,
        digest: str,
        actor: str | None,
        address: str | None,
    ) -> None:
        # Durable first, outside the lock (fsync is slow); then the check and the rename
        # happen under the digest's lock in the transaction that adds the row, so a layer
        # purge or GC of the same digest cannot slip between them (pitfalls §14): a blob
        # row never lacks its file.
        self._ctx.store.prepare_upload(upload_id, size)
        at = now()
        with self._ctx.db.write() as conn:
            lock_digests(conn, [digest])
            quotas.check_blob(conn, name, digest, size)  # before the bytes are placed
            self._ctx.store.place_upload(upload_id, digest)
            blob_queries.add_blob(conn, digest, size, at)
            repo_id = repositories.ensure_repository(conn, name, namespace_of(name), at)
            blob_queries.link_blob(conn, repo_id, digest, at)
            uploads.remove_upload(conn, upload_id)
            gc_queue.enqueue_blobs(conn, [digest], at)  # an abandoned push never uses it

    async def upload_whole(
        self, name: str, digest: str, body: Body, actor: str | None, address: str | None = None
    ) -> None:
        """A monolithic upload (POST with `?digest=`): a session opened and closed at once."""
        upload_id = await self.start(name, actor)
        try:
            await self.finish(name, upload_id, digest, body, actor, address)
        except BaseException:
            with anyio.CancelScope(shield=True):
                await anyio.to_thread.run_sync(self._discard, upload_id)
            raise
