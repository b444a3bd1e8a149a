"""The BlobStore contract, run against every driver (the filesystem driver's two write paths
and the S3 driver against a real SeaweedFS): uploads append, resume after a crash, commit
atomically, and lock out a second writer."""

from __future__ import annotations

import hashlib
import os
import secrets
from pathlib import Path

import pytest

from dockyard.storage.base import BlobMissing, BlobStore, UploadBusy
from dockyard.storage.filesystem import FilesystemBlobStore
from dockyard.storage.s3 import S3BlobStore
from fixtures.seaweedfs import SeaweedFS

pytestmark = pytest.mark.metadata_neutral


@pytest.fixture(params=["filesystem-direct", "filesystem-buffered", "s3"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> BlobStore:
    if request.param == "s3":
        server: SeaweedFS = request.getfixturevalue("seaweedfs")
        return S3BlobStore(server.options(f"contract-{secrets.token_hex(6)}"))
    return FilesystemBlobStore(tmp_path, direct_io=request.param == "filesystem-direct")


def _digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def _append(store: BlobStore, upload_id: str, offset: int, *chunks: bytes) -> int:
    writer = store.open_upload(upload_id)
    try:
        writer.seek(offset)
        for chunk in chunks:
            writer.write(chunk)
        return writer.flush()
    finally:
        writer.close()


@pytest.mark.parametrize("sizes", [[1], [4096], [5000, 3], [9 << 20, 7], [1 << 20] * 3])
def test_append_and_commit(store: BlobStore, sizes: list[int]) -> None:
    chunks = [os.urandom(n) for n in sizes]
    data = b"".join(chunks)
    store.create_upload("upload-1")
    assert _append(store, "upload-1", 0, *chunks) == len(data)
    assert b"".join(store.read_upload("upload-1", len(data))) == data
    store.commit_upload("upload-1", len(data), _digest(data))
    assert store.blob_size(_digest(data)) == len(data)
    with store.open_blob(_digest(data)) as handle:
        assert handle.read() == data


def test_resume_at_unaligned_offset_drops_bytes_past_it(store: BlobStore) -> None:
    store.create_upload("upload-2")
    first = os.urandom(10_000)
    _append(store, "upload-2", 0, first)
    # bytes written past the recorded offset by a request that then crashed are cut off
    _append(store, "upload-2", 10_000, b"garbage that was never recorded")
    rest = os.urandom(70_001)
    assert _append(store, "upload-2", 10_000, rest) == 80_001
    assert b"".join(store.read_upload("upload-2", 80_001)) == first + rest


def test_resume_across_a_part_boundary_drops_bytes_past_it(store: BlobStore) -> None:
    """A crashed request that wrote whole parts past the recorded offset: its bytes go."""
    store.create_upload("upload-6")
    first = os.urandom(3 << 20)
    _append(store, "upload-6", 0, first)
    _append(store, "upload-6", len(first), os.urandom(12 << 20))  # never recorded
    rest = os.urandom(4 << 20)
    size = _append(store, "upload-6", len(first), rest)
    assert size == len(first) + len(rest)
    store.commit_upload("upload-6", size, _digest(first + rest))
    with store.open_blob(_digest(first + rest)) as handle:
        assert handle.read() == first + rest


def test_one_writer_at_a_time(store: BlobStore) -> None:
    store.create_upload("upload-3")
    writer = store.open_upload("upload-3")
    try:
        with pytest.raises(UploadBusy):
            store.open_upload("upload-3")
    finally:
        writer.close()
    store.open_upload("upload-3").close()


def test_commit_of_an_existing_blob_drops_the_upload(store: BlobStore) -> None:
    data = b"same bytes"
    for upload_id in ("upload-4", "upload-5"):
        store.create_upload(upload_id)
        _append(store, upload_id, 0, data)
        store.commit_upload(upload_id, len(data), _digest(data))
    assert store.blob_size(_digest(data)) == len(data)
    assert list(store.upload_files()) == []


def test_ranged_reads(store: BlobStore) -> None:
    data = os.urandom(6 << 20)
    store.create_upload("upload-7")
    _append(store, "upload-7", 0, data)
    store.commit_upload("upload-7", len(data), _digest(data))
    with store.open_blob(_digest(data)) as handle:
        handle.seek(5 << 20)
        assert handle.read(1000) == data[5 << 20 : (5 << 20) + 1000]
        handle.seek(17)
        assert handle.read(3) == data[17:20]
        handle.seek(len(data) - 5)
        assert handle.read() == data[-5:]


def test_hide_restore_and_drop(store: BlobStore) -> None:
    data = os.urandom(1000)
    digest = _digest(data)
    store.create_upload("upload-8")
    _append(store, "upload-8", 0, data)
    store.commit_upload("upload-8", len(data), digest)
    assert [d for d, _ in store.stored_blobs()] == [digest]

    assert store.hide_blob(digest)
    assert store.blob_size(digest) is None
    with pytest.raises(BlobMissing):
        store.open_blob(digest)
    assert list(store.hidden_blobs()) == [digest]
    store.restore_blob(digest)
    assert store.blob_size(digest) == len(data)
    assert list(store.hidden_blobs()) == []

    assert store.hide_blob(digest)
    assert not store.hide_blob(digest)
    assert store.drop_hidden([digest]) == len(data)
    assert store.drop_hidden([digest]) == 0
    assert list(store.stored_blobs()) == []
    assert list(store.hidden_blobs()) == []


def test_restore_after_the_blob_was_placed_again_keeps_the_new_copy(store: BlobStore) -> None:
    data = os.urandom(2000)
    digest = _digest(data)
    for upload_id in ("upload-9", "upload-10"):
        store.create_upload(upload_id)
        _append(store, upload_id, 0, data)
        if upload_id == "upload-9":
            store.commit_upload(upload_id, len(data), digest)
            assert store.hide_blob(digest)
        else:
            store.commit_upload(upload_id, len(data), digest)
    store.restore_blob(digest)
    assert list(store.hidden_blobs()) == []
    with store.open_blob(digest) as handle:
        assert handle.read() == data


def test_delete_upload_frees_its_bytes(store: BlobStore) -> None:
    store.create_upload("upload-11")
    _append(store, "upload-11", 0, os.urandom(7 << 20))
    assert [(i, s) for i, s, _ in store.upload_files()] == [("upload-11", 7 << 20)]
    assert store.delete_upload("upload-11") >= 7 << 20
    assert list(store.upload_files()) == []
    assert store.delete_upload("upload-11") == 0
