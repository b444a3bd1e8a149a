"""An S3 upload's objects, its writer's lease and the writer (the layout and why: `s3.py`).

The writer buffers up to one part in memory: full segments are stored as they fill, the rest
as the tail at `flush`, so everything acknowledged is in S3 and derivable from the recorded
offset. A full segment is stored by a helper thread while the next one fills (one in flight:
a request receives and hashes while S3 writes, holding at most two parts of memory); `flush`
waits for it. The lease is the cross-replica lock `open_upload` promises.
"""

from __future__ import annotations

import contextlib
import json
import secrets
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

from botocore.exceptions import BotoCoreError, ClientError

from dockyard.storage.base import StorageError, UploadBusy, UploadWriter
from dockyard.storage.s3_bucket import Bucket, conflict, failure, missing

__all__ = ["Lease", "S3UploadWriter", "UploadKeys"]

_ERRORS = (ClientError, BotoCoreError)


@dataclass(frozen=True, slots=True)
class UploadKeys:
    """Where one upload's objects live."""

    bucket: Bucket
    upload_id: str

    def __post_init__(self) -> None:
        valid = all(c.isalnum() or c in "-_" for c in self.upload_id)
        if not (8 <= len(self.upload_id) <= 64) or not valid:
            raise StorageError(f"invalid upload id {self.upload_id!r}")

    def _key(self, name: str) -> str:
        return self.bucket.key(f"uploads/{self.upload_id}/{name}")

    @property
    def prefix(self) -> str:
        return f"uploads/{self.upload_id}/"

    @property
    def info(self) -> str:
        return self._key("info")

    @property
    def lock(self) -> str:
        return self._key("lock")

    @property
    def data(self) -> str:
        """The prepared blob: outside the upload's prefix, as a pointer takes it over."""
        return self.bucket.key(f"data/{self.upload_id}")

    def segment(self, n: int) -> str:
        return self._key(f"seg/{n:06d}")

    def tail(self, offset: int) -> str:
        return self._key(f"tail/{offset:020d}")


class Lease:
    """The writer's hold on `uploads/<id>/lock`: created only if absent (If-None-Match: *),
    renewed only while still ours (If-Match on its ETag), deleted only if still ours."""

    def __init__(self, keys: UploadKeys, seconds: int, etag: str) -> None:
        self._keys = keys
        self._seconds = seconds
        self.etag = etag
        self._taken = time.monotonic()

    @staticmethod
    def _body(seconds: int) -> bytes:
        until = time.time() + seconds
        return json.dumps({"holder": secrets.token_hex(8), "until": until}).encode()

    @classmethod
    def take(cls, keys: UploadKeys, seconds: int) -> Lease:
        """The lease, or UploadBusy while another writer's lease runs."""
        client, bucket = keys.bucket.client, keys.bucket.name
        for _attempt in range(2):
            try:
                answer = client.put_object(
                    Bucket=bucket, Key=keys.lock, Body=cls._body(seconds), IfNoneMatch="*"
                )
                return cls(keys, seconds, str(answer["ETag"]))
            except ClientError as exc:
                if not conflict(exc):
                    raise failure(f"lock upload {keys.upload_id}", exc) from exc
            except BotoCoreError as exc:
                raise failure(f"lock upload {keys.upload_id}", exc) from exc
            if not cls._break_if_stale(keys):
                break
        raise UploadBusy(f"upload {keys.upload_id} is being written by another request")

    @staticmethod
    def _break_if_stale(keys: UploadKeys) -> bool:
        """Delete the lease if its holder let it run out (it crashed); True if it is gone.
        The delete is conditional on the ETag we read: a lease renewed or taken meanwhile
        stays."""
        client, bucket = keys.bucket.client, keys.bucket.name
        try:
            answer = client.get_object(Bucket=bucket, Key=keys.lock)
            until = float(json.loads(answer["Body"].read())["until"])
            etag = str(answer["ETag"])
        except ClientError as exc:
            return missing(exc)  # released meanwhile: try again
        except (BotoCoreError, ValueError, KeyError):
            return False
        if until > time.time():
            return False
        try:
            client.delete_object(Bucket=bucket, Key=keys.lock, IfMatch=etag)
        except ClientError as exc:
            return missing(exc)
        except BotoCoreError:
            return False
        return True

    def renew(self) -> None:
        """Extend the lease once a quarter of it has passed; StorageError if it was lost
        (a writer stalled past its lease and someone else took the upload)."""
        if time.monotonic() - self._taken < self._seconds / 4:
            return
        client, bucket = self._keys.bucket.client, self._keys.bucket.name
        try:
            answer = client.put_object(
                Bucket=bucket, Key=self._keys.lock, Body=self._body(self._seconds),
                IfMatch=self.etag,
            )  # fmt: skip
        except _ERRORS as exc:
            raise failure(f"keep the lock of upload {self._keys.upload_id}", exc) from exc
        self.etag, self._taken = str(answer["ETag"]), time.monotonic()

    def release(self) -> None:
        client, bucket = self._keys.bucket.client, self._keys.bucket.name
        # Lost or gone if this fails: whoever holds it now, or its expiry, ends it.
        with contextlib.suppress(*_ERRORS):
            client.delete_object(Bucket=bucket, Key=self._keys.lock, IfMatch=self.etag)


class S3UploadWriter(UploadWriter):
    def __init__(
        self, keys: UploadKeys, part_size: int, lease: Lease, released: Callable[[], None]
    ) -> None:
        self._keys = keys
        self._bucket = keys.bucket
        self._part = part_size
        self._lease = lease
        self._released = released
        self._buffer = bytearray()
        self._start = 0  # offset of the first buffered byte: a multiple of the part size
        self._recorded = 0  # the offset seek() was given, then the last flush's
        self._dirty = False
        self._closed = False
        self._pool: ThreadPoolExecutor | None = None
        self._pending: Future[str] | None = None  # the segment being stored

    def _store_segment(self, key: str, body: bytes) -> None:
        self._wait()
        if self._pool is None:
            self._pool = ThreadPoolExecutor(1, thread_name_prefix="s3-segment")
        self._pending = self._pool.submit(self._bucket.put, key, body)

    def _wait(self) -> None:
        """Until the segment in flight is stored; its StorageError, if it failed."""
        pending, self._pending = self._pending, None
        if pending is not None:
            pending.result()

    def seek(self, offset: int) -> None:
        self._wait()
        self._recorded = offset
        self._start = offset - offset % self._part
        self._buffer = bytearray()
        self._dirty = False
        if offset % self._part == 0:
            return
        data, meta = self._bucket.get_whole(self._keys.tail(offset))
        if len(data) != offset - self._start:
            raise StorageError(
                f"S3: tail of upload {self._keys.upload_id} at {offset} holds {len(data)} "
                f"bytes, not {offset - self._start}"
            )
        self._buffer += data
        previous = meta.get("previous", "")
        if previous.isdigit() and int(previous) != offset:
            # `offset` is recorded (we are told to continue there): the tail the writer
            # that reached it started from is superseded.
            self._bucket.delete([self._keys.tail(int(previous))])

    def write(self, data: bytes) -> None:
        self._buffer += data
        self._dirty = self._dirty or bool(data)
        while len(self._buffer) >= self._part:
            self._lease.renew()
            segment = self._keys.segment(self._start // self._part)
            self._store_segment(segment, bytes(self._buffer[: self._part]))
            del self._buffer[: self._part]
            self._start += self._part

    def flush(self) -> int:
        self._wait()
        size = self._start + len(self._buffer)
        if not self._dirty:
            return size
        if self._buffer:
            self._lease.renew()
            previous = {"previous": str(self._recorded)} if self._recorded % self._part else {}
            self._bucket.put(self._keys.tail(size), bytes(self._buffer), Metadata=previous)
        self._recorded = size
        self._dirty = False
        return size

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        try:
            # Nothing may be stored once the lease is given up.
            with contextlib.suppress(StorageError):
                self._wait()
            if self._pool is not None:
                self._pool.shutdown(wait=True)
            self._lease.release()
        finally:
            self._released()
