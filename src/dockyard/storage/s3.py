"""S3 driver: blobs in one bucket of any S3-compatible service, shared by every replica.

Keys, under the configured prefix:

    blobs/<alg>/<hex>         a blob's *pointer*: an empty object whose metadata names the
                              data object and its size; present exactly while the blob is visible
    hidden/<alg>/<hex>        the pointer of a blob being removed (GC, purge)
    data/<upload id>          a blob's bytes: one complete object, written once, never renamed
    uploads/<id>/info         an upload exists (metadata: its part size)
    uploads/<id>/lock         the writer's lease (created with `If-None-Match: *`)
    uploads/<id>/seg/<n>      bytes [n*P, (n+1)*P) of the upload, P = the part size
    uploads/<id>/tail/<o>     bytes [(o//P)*P, o): what follows the last full segment, for an
                              upload whose recorded offset is o

Why pointers: S3 has no rename, and the contract needs two quick, atomic renames — placing an
upload as a blob (inside the committing transaction) and hiding a blob (inside the deleting
one). Copying gigabytes there is not quick. So bytes never move: `prepare_upload` builds the
final object `data/<id>` (slow, outside any transaction) and `place_upload` writes a pointer,
one tiny PUT, which S3 makes visible atomically. Hiding copies and deletes a pointer. Data
keys are unique per upload and no two pointers ever share one, so dropping the data of a
hidden pointer can never take the bytes of a live blob, even when the digest was placed
again meanwhile. A blob GET costs one HEAD of the pointer before the bytes (or the redirect).

Uploads: every byte is in S3 before `flush` returns, in objects derivable from the recorded
offset alone, so another replica or a restarted process continues where the database says.
Segments are exactly P bytes (P >= 5 MiB, S3's minimum part size); the remainder goes to a
tail object named by the offset it ends at. A request that crashed after writing past the
recorded offset left segments that the next writer overwrites and tails under other names
that nobody reads. The next writer reads the recorded tail back into its buffer (at most P
bytes) and deletes the tail it supersedes. Segments are ordinary objects, not parts of an
open multipart upload, because the registry re-hashes an upload from storage on a replica
that has no hash state (`read_upload`), and S3 cannot read parts back.

Commit: an upload of at most P bytes becomes its data object with one server-side copy of
its tail (or single segment): small blobs are one PUT from Dockyard, never a multipart upload.
Larger uploads become a multipart upload assembled server-side with UploadPartCopy from the
segments, the tail as the last part; parts are then >= 5 MiB except the last, as S3 requires.

Exclusivity across replicas: `open_upload` creates the lock object with `If-None-Match: *`
(a conditional write: exactly one creator wins). The lock is a lease renewed (conditionally,
`If-Match` on its ETag) before each object the writer stores, so a writer that lost it stops
at its next write; a lease older than `lock_seconds` — its holder crashed — is broken with a
conditional delete of exactly that lease. The database's compare-and-set on the offset still
decides which of two writers' flushes counts.

Requests never list the bucket: lookups are by key. The only listings on a request path are of
one upload's own `uploads/<id>/` prefix when its staging objects are deleted; `stored_blobs`,
`hidden_blobs` and `upload_files` (verification and GC) list the whole prefix.
"""

from __future__ import annotations

import contextlib
import io
import json
import secrets
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, BinaryIO

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from dockyard.storage.base import BlobMissing, BlobStore, StorageError, UploadBusy, UploadWriter

if TYPE_CHECKING:
    import os
    from pathlib import Path

    from mypy_boto3_s3 import S3Client

__all__ = ["S3BlobStore", "S3Options"]

MIN_PART_BYTES = 5 * 1024 * 1024  # S3: every part but the last is at least 5 MiB
MAX_PART_BYTES = 5 * 1024 * 1024 * 1024
_READ_CHUNK = 1024 * 1024
_DELETE_BATCH = 1000  # DeleteObjects takes at most 1000 keys
_MISSING = {"404", "NoSuchKey", "NotFound", "NoSuchUpload"}
_CONFLICT = {"412", "PreconditionFailed", "409", "ConditionalRequestConflict"}


@dataclass(frozen=True, slots=True)
class S3Options:
    """How to reach the bucket and how to use it (config.py documents each setting)."""

    bucket: str
    endpoint_url: str | None = None
    region: str | None = None
    access_key: str | None = None  # None: boto3's credential chain (env, profile, role)
    secret_key: str | None = None
    prefix: str = ""
    part_size: int = 16 * 1024 * 1024
    redirect: bool = False
    redirect_expiry_seconds: int = 300
    max_connections: int = 40
    lock_seconds: int = 600
    connect_timeout: float = 10.0
    read_timeout: float = 60.0


def _code(exc: ClientError) -> str:
    error = exc.response.get("Error", {})
    return str(error.get("Code", "")) or str(
        exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", "")
    )


def _missing(exc: ClientError) -> bool:
    return _code(exc) in _MISSING


def _failure(action: str, exc: Exception) -> StorageError:
    return StorageError(f"S3: cannot {action}: {exc}")


class S3BlobStore(BlobStore):
    def __init__(self, options: S3Options) -> None:
        if not MIN_PART_BYTES <= options.part_size <= MAX_PART_BYTES:
            raise ValueError(f"part size must be between {MIN_PART_BYTES} and {MAX_PART_BYTES}")
        self.options = options
        self.bucket = options.bucket
        self._prefix = options.prefix.strip("/") + "/" if options.prefix.strip("/") else ""
        config = Config(
            # One connection per worker thread: the store is called from the thread pool.
            max_pool_connections=options.max_connections,
            connect_timeout=options.connect_timeout,
            read_timeout=options.read_timeout,
            retries={"max_attempts": 3, "mode": "standard"},
            s3={"addressing_style": "path"},
            signature_version="s3v4",
            # Checksums on every request would cost a pass over each segment in Python;
            # ask only where the service requires them.
            request_checksum_calculation="when_required",
            response_checksum_validation="when_required",
        )
        credentials: dict[str, Any] = {}
        if options.access_key is not None:
            credentials = {
                "aws_access_key_id": options.access_key,
                "aws_secret_access_key": options.secret_key,
            }
        self.client: S3Client = boto3.session.Session().client(
            "s3",
            endpoint_url=options.endpoint_url,
            region_name=options.region or "us-east-1",
            config=config,
            **credentials,
        )
        self._writers: set[str] = set()  # uploads a writer of this process holds
        self._writers_lock = threading.Lock()

    # -- keys ---------------------------------------------------------------------------

    def key(self, relative: str) -> str:
        return self._prefix + relative

    def _pointer(self, digest: str) -> str:
        algorithm, hexpart = digest.split(":", 1)
        return self.key(f"blobs/{algorithm}/{hexpart}")

    def _hidden(self, digest: str) -> str:
        algorithm, hexpart = digest.split(":", 1)
        return self.key(f"hidden/{algorithm}/{hexpart}")

    def _data(self, upload_id: str) -> str:
        return self.key(f"data/{upload_id}")

    def _upload(self, upload_id: str, name: str) -> str:
        _check_upload_id(upload_id)
        return self.key(f"uploads/{upload_id}/{name}")

    def segment_key(self, upload_id: str, n: int) -> str:
        return self._upload(upload_id, f"seg/{n:06d}")

    def tail_key(self, upload_id: str, offset: int) -> str:
        return self._upload(upload_id, f"tail/{offset:020d}")

    # -- small helpers ------------------------------------------------------------------

    def _head(self, key: str) -> dict[str, Any] | None:
        try:
            return dict(self.client.head_object(Bucket=self.bucket, Key=key))
        except ClientError as exc:
            if _missing(exc):
                return None
            raise _failure(f"read {key}", exc) from exc
        except BotoCoreError as exc:
            raise _failure(f"read {key}", exc) from exc

    def _pointed(self, key: str) -> tuple[str, int] | None:
        """(data key, size) of a pointer, None when it is absent."""
        head = self._head(key)
        if head is None:
            return None
        meta = head.get("Metadata", {})
        try:
            return self._data(meta["data"]), int(meta["size"])
        except (KeyError, ValueError) as exc:
            raise StorageError(f"S3: {key} is not a blob pointer (metadata {meta})") from exc

    def _delete(self, keys: list[str]) -> None:
        for start in range(0, len(keys), _DELETE_BATCH):
            batch = keys[start : start + _DELETE_BATCH]
            try:
                answer = self.client.delete_objects(
                    Bucket=self.bucket,
                    Delete={"Objects": [{"Key": k} for k in batch], "Quiet": True},
                )
            except (ClientError, BotoCoreError) as exc:
                raise _failure(f"delete {len(batch)} objects", exc) from exc
            errors = [e for e in answer.get("Errors", []) if e.get("Code") not in _MISSING]
            if errors:
                raise StorageError(f"S3: cannot delete {errors[0].get('Key')}: {errors[0]}")

    def _list(self, relative_prefix: str) -> Iterator[dict[str, Any]]:
        """Objects under a prefix, in key order (S3 lists keys in UTF-8 binary order)."""
        paginator = self.client.get_paginator("list_objects_v2")
        try:
            for page in paginator.paginate(Bucket=self.bucket, Prefix=self.key(relative_prefix)):
                for item in page.get("Contents", []):
                    yield dict(item)
        except (ClientError, BotoCoreError) as exc:
            raise _failure(f"list {relative_prefix}", exc) from exc

    def _copy(self, source: str, target: str) -> None:
        try:
            self.client.copy_object(
                Bucket=self.bucket, Key=target, CopySource={"Bucket": self.bucket, "Key": source}
            )
        except (ClientError, BotoCoreError) as exc:
            raise _failure(f"copy {source} to {target}", exc) from exc

    def _put(self, key: str, body: bytes, **extra: Any) -> str:
        try:
            answer = self.client.put_object(Bucket=self.bucket, Key=key, Body=body, **extra)
        except (ClientError, BotoCoreError) as exc:
            raise _failure(f"write {key}", exc) from exc
        return str(answer.get("ETag", ""))

    def _get(self, key: str, first: int = 0, last: int | None = None) -> Iterator[bytes]:
        byte_range = f"bytes={first}-" if last is None else f"bytes={first}-{last}"
        try:
            body = self.client.get_object(Bucket=self.bucket, Key=key, Range=byte_range)["Body"]
            try:
                while chunk := body.read(_READ_CHUNK):
                    yield chunk
            finally:
                body.close()
        except (ClientError, BotoCoreError) as exc:
            raise _failure(f"read {key}", exc) from exc

    # -- blobs --------------------------------------------------------------------------

    def local_file(self, digest: str) -> tuple[Path, os.stat_result] | None:
        return None

    def redirect_url(self, digest: str) -> str | None:
        if not self.options.redirect:
            return None
        pointed = self._pointed(self._pointer(digest))
        if pointed is None:
            raise BlobMissing(f"S3: blob {digest} is missing")
        try:
            return self.client.generate_presigned_url(
                "get_object",
                Params={"Bucket": self.bucket, "Key": pointed[0]},
                ExpiresIn=self.options.redirect_expiry_seconds,
            )
        except (ClientError, BotoCoreError) as exc:
            raise _failure(f"presign {digest}", exc) from exc

    def blob_size(self, digest: str) -> int | None:
        pointed = self._pointed(self._pointer(digest))
        return None if pointed is None else pointed[1]

    def open_blob(self, digest: str) -> BinaryIO:
        pointed = self._pointed(self._pointer(digest))
        if pointed is None:
            raise BlobMissing(f"S3: blob {digest} is missing")
        return io.BufferedReader(_ObjectReader(self, *pointed), buffer_size=_READ_CHUNK)

    def hide_blob(self, digest: str) -> bool:
        pointer = self._pointer(digest)
        if self._head(pointer) is None:
            return False
        self._copy(pointer, self._hidden(digest))  # metadata (the data key) comes along
        self._delete([pointer])
        return True

    def restore_blob(self, digest: str) -> None:
        hidden = self._pointed(self._hidden(digest))
        if hidden is None:
            return
        live = self._pointed(self._pointer(digest))
        if live is None:
            self._copy(self._hidden(digest), self._pointer(digest))
        elif live[0] != hidden[0]:
            self._delete([hidden[0]])  # placed again meanwhile, with bytes of its own
        self._delete([self._hidden(digest)])

    def drop_hidden(self, digests: list[str]) -> int:
        freed = 0
        for digest in digests:
            hidden = self._pointed(self._hidden(digest))
            if hidden is None:
                continue
            # The bytes first: a crash between the two leaves a pointer the next run drops.
            self._delete([hidden[0]])
            self._delete([self._hidden(digest)])
            freed += hidden[1]
        return freed

    def hidden_blobs(self) -> Iterator[str]:
        for item in self._list("hidden/"):
            yield _digest_of(item["Key"], self.key("hidden/"))

    def stored_blobs(self) -> Iterator[tuple[str, int]]:
        for item in self._list("blobs/"):
            digest = _digest_of(item["Key"], self.key("blobs/"))
            size = self.blob_size(digest)  # verification reads every blob's bytes anyway
            if size is not None:
                yield digest, size

    # -- uploads ------------------------------------------------------------------------

    def upload_files(self) -> Iterator[tuple[str, int, int]]:
        base = self.key("uploads/")
        current: str | None = None
        size = modified = 0
        for item in self._list("uploads/"):
            upload_id = item["Key"][len(base) :].split("/", 1)[0]
            if upload_id != current:
                if current is not None:
                    yield current, size, modified
                current, size, modified = upload_id, 0, 0
            if "/lock" not in item["Key"]:
                size += int(item["Size"])
            modified = max(modified, int(item["LastModified"].timestamp()))
        if current is not None:
            yield current, size, modified

    def create_upload(self, upload_id: str) -> None:
        self._put(
            self._upload(upload_id, "info"),
            b"",
            Metadata={"part-size": str(self.options.part_size)},
            IfNoneMatch="*",
        )

    def _part_size(self, upload_id: str) -> int:
        head = self._head(self._upload(upload_id, "info"))
        if head is None:
            raise StorageError(f"S3: upload {upload_id} is gone")
        return int(head.get("Metadata", {}).get("part-size", self.options.part_size))

    def open_upload(self, upload_id: str) -> UploadWriter:
        part_size = self._part_size(upload_id)
        with self._writers_lock:
            if upload_id in self._writers:
                raise UploadBusy(f"upload {upload_id} is being written by another request")
            self._writers.add(upload_id)
        try:
            lease = _Lease.take(self, upload_id)
        except BaseException:
            with self._writers_lock:
                self._writers.discard(upload_id)
            raise
        return _S3UploadWriter(self, upload_id, part_size, lease)

    def _released(self, upload_id: str) -> None:
        with self._writers_lock:
            self._writers.discard(upload_id)

    def read_upload(self, upload_id: str, size: int) -> Iterator[bytes]:
        part_size = self._part_size(upload_id)
        for n in range(size // part_size):
            yield from self._get(self.segment_key(upload_id, n), 0, part_size - 1)
        if size % part_size:
            yield from self._get(self.tail_key(upload_id, size))

    def prepare_upload(self, upload_id: str, size: int) -> None:
        part_size = self._part_size(upload_id)
        target = self._data(upload_id)
        full, rest = divmod(size, part_size)
        sources = [self.segment_key(upload_id, n) for n in range(full)]
        if rest:
            sources.append(self.tail_key(upload_id, size))
        if not sources:
            self._put(target, b"")
        elif len(sources) == 1:
            self._copy(sources[0], target)
        else:
            self._assemble(target, sources)
        head = self._head(target)
        if head is None or int(head["ContentLength"]) != size:
            found = None if head is None else head["ContentLength"]
            raise StorageError(f"S3: upload {upload_id} became {found} bytes, not {size}")

    def _assemble(self, target: str, sources: list[str]) -> None:
        """A multipart upload of `target` copied server-side from `sources`, in order."""
        try:
            mpu = self.client.create_multipart_upload(Bucket=self.bucket, Key=target)
        except (ClientError, BotoCoreError) as exc:
            raise _failure(f"start a multipart upload of {target}", exc) from exc
        upload = mpu["UploadId"]
        try:
            parts = []
            for number, source in enumerate(sources, start=1):
                answer = self.client.upload_part_copy(
                    Bucket=self.bucket, Key=target, UploadId=upload, PartNumber=number,
                    CopySource={"Bucket": self.bucket, "Key": source},
                )  # fmt: skip
                parts.append({"PartNumber": number, "ETag": answer["CopyPartResult"]["ETag"]})
            self.client.complete_multipart_upload(
                Bucket=self.bucket, Key=target, UploadId=upload,
                MultipartUpload={"Parts": parts},  # type: ignore[typeddict-item]
            )  # fmt: skip
        except (ClientError, BotoCoreError) as exc:
            # If the abort fails too, the bucket's lifecycle rule reclaims the parts.
            with contextlib.suppress(ClientError, BotoCoreError):
                self.client.abort_multipart_upload(Bucket=self.bucket, Key=target, UploadId=upload)
            raise _failure(f"assemble {target}", exc) from exc

    def place_upload(self, upload_id: str, digest: str) -> None:
        pointer = self._pointer(digest)
        if self._head(pointer) is not None:
            self.delete_upload(upload_id)
            return
        data = self._head(self._data(upload_id))
        if data is None:
            raise StorageError(f"S3: upload {upload_id} was not prepared")
        # The upload gives up its data before the pointer takes it: a crash in between
        # leaks one data object, never a pointer whose bytes a later delete_upload removes.
        self._delete([self._upload(upload_id, "info")])
        self._put(pointer, b"", Metadata={"data": upload_id, "size": str(data["ContentLength"])})
        self._delete_staging(upload_id)

    def delete_upload(self, upload_id: str) -> int:
        freed = 0
        if self._head(self._upload(upload_id, "info")) is not None:
            data = self._head(self._data(upload_id))
            if data is not None:  # prepared, never placed: its bytes are the upload's
                self._delete([self._data(upload_id)])
        freed += self._delete_staging(upload_id)
        return freed

    def _delete_staging(self, upload_id: str) -> int:
        """Delete every object under the upload's prefix, `info` last; returns their bytes."""
        info = self._upload(upload_id, "info")
        items = list(self._list(f"uploads/{upload_id}/"))
        keys = [item["Key"] for item in items if item["Key"] != info]
        self._delete(keys)
        self._delete([info])
        return sum(int(item["Size"]) for item in items)

    def free_bytes(self) -> int | None:
        return None


def _check_upload_id(upload_id: str) -> None:
    if not (8 <= len(upload_id) <= 64) or not all(c.isalnum() or c in "-_" for c in upload_id):
        raise StorageError(f"invalid upload id {upload_id!r}")


def _digest_of(key: str, base: str) -> str:
    algorithm, _, hexpart = key[len(base) :].partition("/")
    return f"{algorithm}:{hexpart}"


class _Lease:
    """The writer's hold on `uploads/<id>/lock`: created only if absent, renewed only while
    it is still ours (its ETag unchanged), deleted only if still ours."""

    def __init__(self, store: S3BlobStore, upload_id: str, etag: str, taken: float) -> None:
        self._store = store
        self._key = store._upload(upload_id, "lock")
        self._upload_id = upload_id
        self.etag = etag
        self.taken = taken

    @staticmethod
    def _body(store: S3BlobStore) -> bytes:
        until = time.time() + store.options.lock_seconds
        return json.dumps({"holder": secrets.token_hex(8), "until": until}).encode()

    @classmethod
    def take(cls, store: S3BlobStore, upload_id: str) -> _Lease:
        key = store._upload(upload_id, "lock")
        for _attempt in range(2):
            try:
                answer = store.client.put_object(
                    Bucket=store.bucket, Key=key, Body=cls._body(store), IfNoneMatch="*"
                )
                return cls(store, upload_id, str(answer["ETag"]), time.monotonic())
            except ClientError as exc:
                if _code(exc) not in _CONFLICT:
                    raise _failure(f"lock upload {upload_id}", exc) from exc
            except BotoCoreError as exc:
                raise _failure(f"lock upload {upload_id}", exc) from exc
            if not cls._break_if_stale(store, key):
                break
        raise UploadBusy(f"upload {upload_id} is being written by another request")

    @staticmethod
    def _break_if_stale(store: S3BlobStore, key: str) -> bool:
        """Delete the lease at `key` if its holder let it expire; True if it is gone."""
        try:
            answer = store.client.get_object(Bucket=store.bucket, Key=key)
            until = float(json.loads(answer["Body"].read())["until"])
            etag = str(answer["ETag"])
        except ClientError as exc:
            return _missing(exc)  # released meanwhile: try again
        except (BotoCoreError, ValueError, KeyError):
            return False
        if until > time.time():
            return False
        try:
            store.client.delete_object(Bucket=store.bucket, Key=key, IfMatch=etag)
        except ClientError as exc:
            return _missing(exc)
        except BotoCoreError:
            return False
        return True

    def renew(self) -> None:
        """Extend the lease if a quarter of it has passed; StorageError if it was lost."""
        if time.monotonic() - self.taken < self._store.options.lock_seconds / 4:
            return
        try:
            answer = self._store.client.put_object(
                Bucket=self._store.bucket, Key=self._key, Body=self._body(self._store),
                IfMatch=self.etag,
            )  # fmt: skip
        except (ClientError, BotoCoreError) as exc:
            raise _failure(f"keep the lock of upload {self._upload_id}", exc) from exc
        self.etag, self.taken = str(answer["ETag"]), time.monotonic()

    def release(self) -> None:
        # Lost or gone if this fails: whoever holds it now, or its expiry, ends it.
        with contextlib.suppress(ClientError, BotoCoreError):
            self._store.client.delete_object(
                Bucket=self._store.bucket, Key=self._key, IfMatch=self.etag
            )


class _S3UploadWriter(UploadWriter):
    """Buffers up to one part in memory; full segments are stored as they fill, the rest
    as the tail at `flush`."""

    def __init__(self, store: S3BlobStore, upload_id: str, part_size: int, lease: _Lease) -> None:
        self._store = store
        self._upload_id = upload_id
        self._part = part_size
        self._lease = lease
        self._buffer = bytearray()
        self._start = 0  # offset of the first buffered byte: a multiple of the part size
        self._recorded = 0  # the offset seek() was given
        self._dirty = False
        self._closed = False

    def seek(self, offset: int) -> None:
        self._recorded = offset
        self._start = offset - offset % self._part
        self._buffer = bytearray()
        self._dirty = False
        if offset % self._part == 0:
            return
        key = self._store.tail_key(self._upload_id, offset)
        try:
            answer = self._store.client.get_object(Bucket=self._store.bucket, Key=key)
            self._buffer += answer["Body"].read()
        except (ClientError, BotoCoreError) as exc:
            raise _failure(f"read {key}", exc) from exc
        if len(self._buffer) != offset - self._start:
            raise StorageError(
                f"S3: tail of upload {self._upload_id} at {offset} holds "
                f"{len(self._buffer)} bytes, not {offset - self._start}"
            )
        previous = answer.get("Metadata", {}).get("previous")
        if previous and previous.isdigit() and int(previous) != offset:
            # `offset` is recorded (we are told to continue there): the tail the writer
            # that reached it started from is superseded.
            self._store._delete([self._store.tail_key(self._upload_id, int(previous))])

    def write(self, data: bytes) -> None:
        self._buffer += data
        self._dirty = self._dirty or bool(data)
        while len(self._buffer) >= self._part:
            n = self._start // self._part
            self._lease.renew()
            self._store._put(
                self._store.segment_key(self._upload_id, n), bytes(self._buffer[: self._part])
            )
            del self._buffer[: self._part]
            self._start += self._part

    def flush(self) -> int:
        size = self._start + len(self._buffer)
        if not self._dirty:
            return size
        if self._buffer:
            self._lease.renew()
            previous = {"previous": str(self._recorded)} if self._recorded % self._part else {}
            self._store._put(
                self._store.tail_key(self._upload_id, size), bytes(self._buffer),
                Metadata=previous,
            )  # fmt: skip
        self._recorded = size
        self._dirty = False
        return size

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        try:
            self._lease.release()
        finally:
            self._store._released(self._upload_id)


class _ObjectReader(io.RawIOBase):
    """A seekable reader of one object: each read continues one ranged GET, and a seek
    elsewhere starts another."""

    def __init__(self, store: S3BlobStore, key: str, size: int) -> None:
        self._store = store
        self._key = key
        self._size = size
        self._pos = 0
        self._body: Any = None

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._pos, io.SEEK_END: self._size}[whence]
        target = max(0, base + offset)
        if target != self._pos:
            self._drop_body()
            self._pos = target
        return self._pos

    def readinto(self, buffer: Any) -> int:
        want = min(len(buffer), self._size - self._pos)
        if want <= 0:
            return 0
        try:
            if self._body is None:
                answer = self._store.client.get_object(
                    Bucket=self._store.bucket, Key=self._key, Range=f"bytes={self._pos}-"
                )
                self._body = answer["Body"]
            data = self._body.read(want)
        except (ClientError, BotoCoreError, OSError) as exc:
            self._drop_body()
            raise _failure(f"read {self._key}", exc) from exc
        if not data:
            raise StorageError(f"S3: {self._key} ended at {self._pos} of {self._size} bytes")
        buffer[: len(data)] = data
        self._pos += len(data)
        return len(data)

    def _drop_body(self) -> None:
        if self._body is not None:
            self._body.close()
            self._body = None

    def close(self) -> None:
        self._drop_body()
        super().close()
