"""S3 driver: blobs in one bucket of any S3-compatible service, shared by every replica
(`s3_bucket.py`: the S3 calls; `s3_upload.py`: an upload's keys, lease and writer).

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
(a conditional write: exactly one creator wins; SeaweedFS honours it, as AWS S3 does). The lock
is a lease, renewed with `If-Match` on its ETag as the writer stores segments and tails, so a
writer that stalled past its lease and lost it fails at its next store instead of
overwriting the new holder's objects; a lease past its expiry (its holder crashed) is broken
with a delete conditional on exactly that lease's ETag. The database's compare-and-set of the
offset (`UploadService._record_offset`) still decides whose flush counts.

Requests never list the bucket: lookups are by key. The only listings on a request path are of
one upload's own `uploads/<id>/` prefix when its staging objects are deleted; `stored_blobs`,
`hidden_blobs` and `upload_files` (verification and GC) list the whole prefix.
"""

from __future__ import annotations

import io
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, BinaryIO

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from dockyard.storage.base import BlobMissing, BlobStore, StorageError, UploadBusy, UploadWriter
from dockyard.storage.s3_bucket import READ_CHUNK, Bucket, ObjectReader, failure
from dockyard.storage.s3_upload import Lease, S3UploadWriter, UploadKeys

if TYPE_CHECKING:
    import os
    from pathlib import Path

    from mypy_boto3_s3 import S3Client

__all__ = ["MIN_PART_BYTES", "S3BlobStore", "S3Options"]

MIN_PART_BYTES = 5 * 1024 * 1024  # S3: every part but the last is at least 5 MiB
MAX_PART_BYTES = 5 * 1024 * 1024 * 1024


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
    lock_seconds: int = 600  # a writer's lease; renewed as it writes
    connect_timeout: float = 10.0
    read_timeout: float = 60.0


def _client(options: S3Options) -> S3Client:
    config = Config(
        # One connection per worker thread: the store is called from the thread pool.
        max_pool_connections=options.max_connections,
        connect_timeout=options.connect_timeout,
        read_timeout=options.read_timeout,
        retries={"max_attempts": 3, "mode": "standard"},
        s3={"addressing_style": "path"},
        signature_version="s3v4",
        # A checksum of every request would cost another pass over each segment in
        # Python; only where the service requires one.
        request_checksum_calculation="when_required",
        response_checksum_validation="when_required",
    )
    # Keys left None: boto3 looks them up (AWS_* env, profile, instance or pod role).
    return boto3.session.Session().client(
        "s3",
        endpoint_url=options.endpoint_url,
        region_name=options.region or "us-east-1",
        aws_access_key_id=options.access_key,
        aws_secret_access_key=options.secret_key,
        config=config,
    )


def _digest_of(key: str, base: str) -> str:
    algorithm, _, hexpart = key[len(base) :].partition("/")
    return f"{algorithm}:{hexpart}"


class S3BlobStore(BlobStore):
    def __init__(self, options: S3Options) -> None:
        if not MIN_PART_BYTES <= options.part_size <= MAX_PART_BYTES:
            raise ValueError(f"part size must be between {MIN_PART_BYTES} and {MAX_PART_BYTES}")
        self.options = options
        self.bucket = Bucket(_client(options), options.bucket, options.prefix)
        self._writers: set[str] = set()  # uploads a writer of this process holds
        self._writers_lock = threading.Lock()

    # -- keys ---------------------------------------------------------------------------

    def _pointer(self, digest: str) -> str:
        algorithm, hexpart = digest.split(":", 1)
        return self.bucket.key(f"blobs/{algorithm}/{hexpart}")

    def _hidden(self, digest: str) -> str:
        algorithm, hexpart = digest.split(":", 1)
        return self.bucket.key(f"hidden/{algorithm}/{hexpart}")

    def _keys(self, upload_id: str) -> UploadKeys:
        return UploadKeys(self.bucket, upload_id)

    def _pointed(self, key: str) -> tuple[str, int] | None:
        """(data key, size) named by a pointer, None when it is absent."""
        head = self.bucket.head(key)
        if head is None:
            return None
        meta = head.get("Metadata", {})
        try:
            return self._keys(meta["data"]).data, int(meta["size"])
        except (KeyError, ValueError, StorageError) as exc:
            raise StorageError(f"S3: {key} is not a blob pointer (metadata {meta})") from exc

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
            url: str = self.bucket.client.generate_presigned_url(
                "get_object",
                Params={"Bucket": self.bucket.name, "Key": pointed[0]},
                ExpiresIn=self.options.redirect_expiry_seconds,
            )
        except (ClientError, BotoCoreError) as exc:
            raise failure(f"presign {digest}", exc) from exc
        return url

    def blob_size(self, digest: str) -> int | None:
        pointed = self._pointed(self._pointer(digest))
        return None if pointed is None else pointed[1]

    def open_blob(self, digest: str) -> BinaryIO:
        pointed = self._pointed(self._pointer(digest))
        if pointed is None:
            raise BlobMissing(f"S3: blob {digest} is missing")
        return io.BufferedReader(ObjectReader(self.bucket, *pointed), buffer_size=READ_CHUNK)

    def hide_blob(self, digest: str) -> bool:
        pointer = self._pointer(digest)
        if self.bucket.head(pointer) is None:
            return False
        self.bucket.copy(pointer, self._hidden(digest))  # metadata (the data key) comes along
        self.bucket.delete([pointer])
        return True

    def restore_blob(self, digest: str) -> None:
        hidden = self._pointed(self._hidden(digest))
        if hidden is None:
            return
        live = self._pointed(self._pointer(digest))
        if live is None:
            self.bucket.copy(self._hidden(digest), self._pointer(digest))
        elif live[0] != hidden[0]:
            self.bucket.delete([hidden[0]])  # placed again meanwhile, with bytes of its own
        self.bucket.delete([self._hidden(digest)])

    def drop_hidden(self, digests: list[str]) -> int:
        freed = 0
        for digest in digests:
            hidden = self._pointed(self._hidden(digest))
            if hidden is None:
                continue
            # The bytes first: a crash between the two leaves a pointer the next run drops.
            self.bucket.delete([hidden[0]])
            self.bucket.delete([self._hidden(digest)])
            freed += hidden[1]
        return freed

    def hidden_blobs(self) -> Iterator[str]:
        for item in self.bucket.listing("hidden/"):
            yield _digest_of(item["Key"], self.bucket.key("hidden/"))

    def stored_blobs(self) -> Iterator[tuple[str, int]]:
        for item in self.bucket.listing("blobs/"):
            digest = _digest_of(item["Key"], self.bucket.key("blobs/"))
            size = self.blob_size(digest)  # verification reads every blob's bytes anyway
            if size is not None:
                yield digest, size

    # -- uploads ------------------------------------------------------------------------

    def upload_files(self) -> Iterator[tuple[str, int, int]]:
        base = self.bucket.key("uploads/")
        current: str | None = None
        size = modified = 0
        for item in self.bucket.listing("uploads/"):
            upload_id, _, name = item["Key"][len(base) :].partition("/")
            if upload_id != current:
                if current is not None:
                    yield current, size, modified
                current, size, modified = upload_id, 0, 0
            if name != "lock":
                size += int(item["Size"])
            modified = max(modified, int(item["LastModified"].timestamp()))
        if current is not None:
            yield current, size, modified

    def create_upload(self, upload_id: str) -> None:
        meta = {"part-size": str(self.options.part_size)}
        self.bucket.put(self._keys(upload_id).info, b"", Metadata=meta, IfNoneMatch="*")

    def _part_size(self, keys: UploadKeys) -> int:
        """The part size the upload was started with (settings may differ by replica)."""
        head = self.bucket.head(keys.info)
        if head is None:
            raise StorageError(f"S3: upload {keys.upload_id} is gone")
        return int(head.get("Metadata", {}).get("part-size", self.options.part_size))

    def open_upload(self, upload_id: str) -> UploadWriter:
        keys = self._keys(upload_id)
        part_size = self._part_size(keys)
        with self._writers_lock:
            if upload_id in self._writers:
                raise UploadBusy(f"upload {upload_id} is being written by another request")
            self._writers.add(upload_id)

        def released() -> None:
            with self._writers_lock:
                self._writers.discard(upload_id)

        try:
            lease = Lease.take(keys, self.options.lock_seconds)
        except BaseException:
            released()
            raise
        return S3UploadWriter(keys, part_size, lease, released)

    def read_upload(self, upload_id: str, size: int) -> Iterator[bytes]:
        keys = self._keys(upload_id)
        part_size = self._part_size(keys)
        for n in range(size // part_size):
            yield from self.bucket.get(keys.segment(n), 0, part_size - 1)
        if size % part_size:
            yield from self.bucket.get(keys.tail(size))

    def prepare_upload(self, upload_id: str, size: int) -> None:
        keys = self._keys(upload_id)
        full, rest = divmod(size, self._part_size(keys))
        sources = [keys.segment(n) for n in range(full)]
        if rest:
            sources.append(keys.tail(size))
        if not sources:
            self.bucket.put(keys.data, b"")
        elif len(sources) == 1:
            self.bucket.copy(sources[0], keys.data)  # up to one part: never a multipart upload
        else:
            self.bucket.assemble(keys.data, sources)
        head = self.bucket.head(keys.data)
        if head is None or int(head["ContentLength"]) != size:
            found = None if head is None else head["ContentLength"]
            raise StorageError(f"S3: upload {upload_id} became {found} bytes, not {size}")

    def place_upload(self, upload_id: str, digest: str) -> None:
        keys = self._keys(upload_id)
        pointer = self._pointer(digest)
        if self.bucket.head(pointer) is not None:
            self.delete_upload(upload_id)
            return
        data = self.bucket.head(keys.data)
        if data is None:
            raise StorageError(f"S3: upload {upload_id} was not prepared")
        # The upload gives up its data before the pointer takes it: a crash in between
        # leaks one data object, never a pointer whose bytes a later delete_upload removes.
        self.bucket.delete([keys.info])
        meta = {"data": upload_id, "size": str(data["ContentLength"])}
        self.bucket.put(pointer, b"", Metadata=meta)
        self._delete_staging(keys)

    def delete_upload(self, upload_id: str) -> int:
        keys = self._keys(upload_id)
        # Prepared and never placed (the info is still there): the data is the upload's.
        if self.bucket.head(keys.info) is not None and self.bucket.head(keys.data) is not None:
            self.bucket.delete([keys.data])
        return self._delete_staging(keys)

    def _delete_staging(self, keys: UploadKeys) -> int:
        """Delete every object under the upload's prefix, `info` last (while it is there,
        the upload exists); returns the upload's bytes (the lease is not, as in
        `upload_files`: a dry run's figures must equal the real run's)."""
        items = list(self.bucket.listing(keys.prefix))
        self.bucket.delete([item["Key"] for item in items if item["Key"] != keys.info])
        self.bucket.delete([keys.info])
        return sum(int(item["Size"]) for item in items if item["Key"] != keys.lock)

    def free_bytes(self) -> int | None:
        return None
