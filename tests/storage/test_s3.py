"""What only the S3 driver promises, checked against a real SeaweedFS through the S3 API: small
blobs in one PUT, multipart above the part size, uploads continued by another replica, the
writer lease across replicas, presigned redirects, and failures as StorageError."""

from __future__ import annotations

import hashlib
import os
import secrets
import time

import httpx
import pytest

from dockyard.storage.base import StorageError, UploadBusy
from dockyard.storage.s3 import S3BlobStore
from fixtures.seaweedfs import SeaweedFS
from fixtures.servers import free_port

pytestmark = pytest.mark.metadata_neutral

PART = 5 * 1024 * 1024


@pytest.fixture
def prefix() -> str:
    return f"s3-{secrets.token_hex(6)}"


def _digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def _push(store: S3BlobStore, upload_id: str, *chunks: bytes) -> str:
    """Upload `chunks` (one request each, as PATCHes would) and commit them."""
    store.create_upload(upload_id)
    offset = 0
    for chunk in chunks:
        writer = store.open_upload(upload_id)
        try:
            writer.seek(offset)
            writer.write(chunk)
            offset = writer.flush()
        finally:
            writer.close()
    digest = _digest(b"".join(chunks))
    store.commit_upload(upload_id, offset, digest)
    return digest


def _data_object(seaweedfs: SeaweedFS, prefix: str, digest: str) -> dict[str, str]:
    """The head of the object a blob's pointer names, straight from S3."""
    client = seaweedfs.client()
    algorithm, hexpart = digest.split(":")
    pointer = client.head_object(
        Bucket=seaweedfs.bucket, Key=f"{prefix}/blobs/{algorithm}/{hexpart}"
    )
    data = client.head_object(
        Bucket=seaweedfs.bucket, Key=f"{prefix}/data/{pointer['Metadata']['data']}"
    )
    return {"ETag": data["ETag"], "ContentLength": str(data["ContentLength"])}


def test_small_blob_is_one_object_without_multipart(seaweedfs: SeaweedFS, prefix: str) -> None:
    store = S3BlobStore(seaweedfs.options(prefix))
    data = os.urandom(100_000)
    digest = _push(store, "small-upload", data[:30_000], data[30_000:])
    keys = seaweedfs.keys(prefix)
    # one pointer and one data object; nothing of the upload is left
    assert sorted(k.split("/")[0] for k in keys) == ["blobs", "data"]
    assert keys["data/small-upload"] == len(data)
    head = _data_object(seaweedfs, prefix, digest)
    assert "-" not in head["ETag"].strip('"'), "a multipart ETag ends in -<parts>"
    uploads = seaweedfs.client().list_multipart_uploads(Bucket=seaweedfs.bucket, Prefix=prefix)
    assert uploads.get("Uploads", []) == []


def test_blob_of_exactly_one_part_is_one_object(seaweedfs: SeaweedFS, prefix: str) -> None:
    store = S3BlobStore(seaweedfs.options(prefix))
    data = os.urandom(PART)
    digest = _push(store, "one-part", data)
    assert "-" not in _data_object(seaweedfs, prefix, digest)["ETag"].strip('"')


def test_large_blob_is_a_multipart_upload_of_part_sized_parts(
    seaweedfs: SeaweedFS, prefix: str
) -> None:
    store = S3BlobStore(seaweedfs.options(prefix))
    data = os.urandom(2 * PART + 123)
    # chunks that do not line up with parts, as clients send them
    digest = _push(store, "large-upload", data[:3_000_000], data[3_000_000:])
    head = _data_object(seaweedfs, prefix, digest)
    assert head["ETag"].strip('"').endswith("-3")
    assert int(head["ContentLength"]) == len(data)
    client = seaweedfs.client()
    key = f"{prefix}/data/large-upload"
    sizes = [
        client.head_object(Bucket=seaweedfs.bucket, Key=key, PartNumber=n)["ContentLength"]
        for n in (1, 2, 3)
    ]
    assert sizes == [PART, PART, 123]
    with store.open_blob(digest) as handle:
        assert hashlib.sha256(handle.read()).hexdigest() == digest.split(":")[1]
    assert not any(k.startswith("uploads/") for k in seaweedfs.keys(prefix))


def test_superseded_tails_are_deleted_as_the_upload_goes_on(
    seaweedfs: SeaweedFS, prefix: str
) -> None:
    store = S3BlobStore(seaweedfs.options(prefix))
    store.create_upload("tailed-upload")
    offset = 0
    for size in (1_000_000, 2_000_000, 3_000_000, 1_000_000):
        writer = store.open_upload("tailed-upload")
        writer.seek(offset)  # continuing at `offset` proves it was recorded
        writer.write(os.urandom(size))
        offset = writer.flush()
        writer.close()
    tails = sorted(k for k in seaweedfs.keys(prefix) if "/tail/" in k)
    # the recorded tail and the one the last writer started from (still needed until the
    # new offset is recorded); the two before are gone
    assert [int(k.rsplit("/", 1)[1]) for k in tails] == [6_000_000, offset]
    assert [k for k in seaweedfs.keys(prefix) if "/seg/" in k] == [
        "uploads/tailed-upload/seg/000000"
    ]


def test_upload_continued_by_another_replica(seaweedfs: SeaweedFS, prefix: str) -> None:
    """Nothing in one process's memory is needed: a second store instance (another replica,
    or this one restarted) re-reads, continues and commits what the first one flushed."""
    first, second = (S3BlobStore(seaweedfs.options(prefix)) for _ in range(2))
    head, rest = os.urandom(PART + 1_000_000), os.urandom(PART)
    first.create_upload("moving-upload")
    writer = first.open_upload("moving-upload")
    writer.seek(0)
    writer.write(head)
    assert writer.flush() == len(head)
    writer.close()
    del first  # the replica goes away

    assert b"".join(second.read_upload("moving-upload", len(head))) == head
    writer = second.open_upload("moving-upload")
    writer.seek(len(head))
    writer.write(rest)
    size = writer.flush()
    writer.close()
    digest = _digest(head + rest)
    second.commit_upload("moving-upload", size, digest)
    third = S3BlobStore(seaweedfs.options(prefix))
    with third.open_blob(digest) as handle:
        assert handle.read() == head + rest


def test_writer_lease_excludes_other_replicas_and_expires(
    seaweedfs: SeaweedFS, prefix: str
) -> None:
    first = S3BlobStore(seaweedfs.options(prefix, lock_seconds=2))
    second = S3BlobStore(seaweedfs.options(prefix, lock_seconds=2))
    first.create_upload("leased-upload")
    crashed = first.open_upload("leased-upload")
    crashed.seek(0)
    with pytest.raises(UploadBusy):
        second.open_upload("leased-upload")
    time.sleep(2.5)  # the holder "crashed": its lease runs out
    writer = second.open_upload("leased-upload")
    writer.seek(0)
    # the first writer lost its lease: its next write fails instead of clobbering ours
    with pytest.raises(StorageError, match="lock"):
        crashed.write(os.urandom(PART))
    writer.write(b"mine")
    assert writer.flush() == 4
    writer.close()
    assert b"".join(second.read_upload("leased-upload", 4)) == b"mine"


def test_presigned_redirect_serves_the_bytes(seaweedfs: SeaweedFS, prefix: str) -> None:
    store = S3BlobStore(seaweedfs.options(prefix, redirect=True, redirect_expiry_seconds=60))
    data = os.urandom(300_000)
    digest = _push(store, "redirected", data)
    url = store.redirect_url(digest)
    assert url is not None
    response = httpx.get(url)  # no credentials: the URL is the credential
    assert response.status_code == 200
    assert response.content == data
    ranged = httpx.get(url, headers={"Range": "bytes=1000-1999"})
    assert ranged.status_code == 206
    assert ranged.content == data[1000:2000]
    tampered = url.replace("X-Amz-Expires=60", "X-Amz-Expires=61")
    assert httpx.get(tampered).status_code == 403
    assert S3BlobStore(seaweedfs.options(prefix)).redirect_url(digest) is None  # setting off


def test_wrong_credentials_raise_storage_error(seaweedfs: SeaweedFS, prefix: str) -> None:
    store = S3BlobStore(seaweedfs.options(prefix, secret_key=secrets.token_urlsafe(24)))
    with pytest.raises(StorageError, match="S3"):
        store.create_upload("refused-upload")
    with pytest.raises(StorageError):
        store.blob_size(_digest(b"x"))
    with pytest.raises(StorageError):
        list(store.stored_blobs())


def test_unreachable_server_raises_storage_error(seaweedfs: SeaweedFS, prefix: str) -> None:
    options = seaweedfs.options(
        prefix, endpoint_url=f"http://127.0.0.1:{free_port()}", connect_timeout=1, read_timeout=1
    )
    store = S3BlobStore(options)
    with pytest.raises(StorageError, match="S3"):
        store.blob_size(_digest(b"x"))
    with pytest.raises(StorageError):
        store.create_upload("unreachable")


def test_part_size_below_the_s3_minimum_is_refused(seaweedfs: SeaweedFS, prefix: str) -> None:
    with pytest.raises(ValueError, match="part size"):
        S3BlobStore(seaweedfs.options(prefix, part_size=PART - 1))
