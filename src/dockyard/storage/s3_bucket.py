"""One bucket (and key prefix) of an S3-compatible service, as the S3 driver uses it: key-level
calls whose failures are StorageError, and a seekable reader of one object.

boto3 clients are thread-safe; one `Bucket` is shared by every thread of a worker.
"""

from __future__ import annotations

import contextlib
import io
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from dockyard.storage.base import StorageError

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

__all__ = ["Bucket", "ObjectReader", "conflict", "failure", "missing"]

READ_CHUNK = 1024 * 1024
_DELETE_BATCH = 1000  # DeleteObjects takes at most 1000 keys
_MISSING = {"404", "NoSuchKey", "NotFound", "NoSuchUpload"}
_CONFLICT = {"412", "PreconditionFailed", "409", "ConditionalRequestConflict"}
_ERRORS = (ClientError, BotoCoreError)


def _code(exc: ClientError) -> str:
    error = exc.response.get("Error", {})
    return str(error.get("Code", "")) or str(
        exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", "")
    )


def missing(exc: ClientError) -> bool:
    """The request named an object (or multipart upload) that does not exist."""
    return _code(exc) in _MISSING


def conflict(exc: ClientError) -> bool:
    """A conditional request (If-None-Match, If-Match) whose condition failed."""
    return _code(exc) in _CONFLICT


def failure(action: str, exc: Exception) -> StorageError:
    return StorageError(f"S3: cannot {action}: {exc}")


class Bucket:
    def __init__(self, client: S3Client, name: str, prefix: str) -> None:
        self.client = client
        self.name = name
        self._prefix = prefix.strip("/") + "/" if prefix.strip("/") else ""

    def key(self, relative: str) -> str:
        """The full key of `relative` (a key under the prefix)."""
        return self._prefix + relative

    def head(self, key: str) -> dict[str, Any] | None:
        """HeadObject's answer, None when the object is absent."""
        try:
            return dict(self.client.head_object(Bucket=self.name, Key=key))
        except ClientError as exc:
            if missing(exc):
                return None
            raise failure(f"read {key}", exc) from exc
        except BotoCoreError as exc:
            raise failure(f"read {key}", exc) from exc

    def put(self, key: str, body: bytes, **extra: Any) -> str:
        """PutObject (atomic: the object appears whole or not at all); returns the ETag."""
        try:
            answer = self.client.put_object(Bucket=self.name, Key=key, Body=body, **extra)
        except _ERRORS as exc:
            raise failure(f"write {key}", exc) from exc
        return str(answer.get("ETag", ""))

    def get(self, key: str, first: int = 0, last: int | None = None) -> Iterator[bytes]:
        """Bytes [first, last] (to the end when `last` is None) of an object, in chunks."""
        byte_range = f"bytes={first}-" if last is None else f"bytes={first}-{last}"
        try:
            body = self.client.get_object(Bucket=self.name, Key=key, Range=byte_range)["Body"]
            try:
                while chunk := body.read(READ_CHUNK):
                    yield chunk
            finally:
                body.close()
        except _ERRORS as exc:
            raise failure(f"read {key}", exc) from exc

    def get_whole(self, key: str) -> tuple[bytes, dict[str, str]]:
        """A small object's bytes and metadata."""
        try:
            answer = self.client.get_object(Bucket=self.name, Key=key)
            return answer["Body"].read(), dict(answer.get("Metadata", {}))
        except _ERRORS as exc:
            raise failure(f"read {key}", exc) from exc

    def copy(self, source: str, target: str) -> None:
        """Server-side CopyObject, metadata included."""
        try:
            self.client.copy_object(
                Bucket=self.name, Key=target, CopySource={"Bucket": self.name, "Key": source}
            )
        except _ERRORS as exc:
            raise failure(f"copy {source} to {target}", exc) from exc

    def delete(self, keys: list[str]) -> None:
        """Delete objects; absent ones are no error."""
        for start in range(0, len(keys), _DELETE_BATCH):
            batch = keys[start : start + _DELETE_BATCH]
            try:
                answer = self.client.delete_objects(
                    Bucket=self.name,
                    Delete={"Objects": [{"Key": k} for k in batch], "Quiet": True},
                )
            except _ERRORS as exc:
                raise failure(f"delete {len(batch)} objects", exc) from exc
            errors = [e for e in answer.get("Errors", []) if e.get("Code") not in _MISSING]
            if errors:
                raise StorageError(f"S3: cannot delete {errors[0].get('Key')}: {errors[0]}")

    def listing(self, relative_prefix: str) -> Iterator[dict[str, Any]]:
        """Objects under a prefix, in key order (S3 lists keys in UTF-8 binary order)."""
        paginator = self.client.get_paginator("list_objects_v2")
        try:
            for page in paginator.paginate(Bucket=self.name, Prefix=self.key(relative_prefix)):
                for item in page.get("Contents", []):
                    yield dict(item)
        except _ERRORS as exc:
            raise failure(f"list {relative_prefix}", exc) from exc

    def assemble(self, target: str, sources: list[str]) -> None:
        """`target` as a multipart upload copied server-side from `sources`, one part each,
        in order (UploadPartCopy: the bytes do not pass through us)."""
        try:
            mpu = self.client.create_multipart_upload(Bucket=self.name, Key=target)
        except _ERRORS as exc:
            raise failure(f"start a multipart upload of {target}", exc) from exc
        upload = mpu["UploadId"]
        try:
            parts = []
            for number, source in enumerate(sources, start=1):
                answer = self.client.upload_part_copy(
                    Bucket=self.name, Key=target, UploadId=upload, PartNumber=number,
                    CopySource={"Bucket": self.name, "Key": source},
                )  # fmt: skip
                parts.append({"PartNumber": number, "ETag": answer["CopyPartResult"]["ETag"]})
            self.client.complete_multipart_upload(
                Bucket=self.name, Key=target, UploadId=upload,
                MultipartUpload={"Parts": parts},  # type: ignore[typeddict-item]
            )  # fmt: skip
        except _ERRORS as exc:
            # If the abort fails too, the bucket's lifecycle rule reclaims the parts.
            with contextlib.suppress(*_ERRORS):
                self.client.abort_multipart_upload(Bucket=self.name, Key=target, UploadId=upload)
            raise failure(f"assemble {target}", exc) from exc


class ObjectReader(io.RawIOBase):
    """A seekable reader of one object: reads continue one ranged GET, a seek elsewhere
    starts another. Wrap it in a BufferedReader."""

    def __init__(self, bucket: Bucket, key: str, size: int) -> None:
        self._bucket = bucket
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
                answer = self._bucket.client.get_object(
                    Bucket=self._bucket.name, Key=self._key, Range=f"bytes={self._pos}-"
                )
                self._body = answer["Body"]
            data = self._body.read(want)
        except (*_ERRORS, OSError) as exc:
            self._drop_body()
            raise failure(f"read {self._key}", exc) from exc
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
