"""The BlobStore contract, run against every driver (and the filesystem driver's two write
paths): uploads append, resume after a crash, commit atomically, and lock out a second
writer."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from dockyard.storage.base import BlobStore, UploadBusy
from dockyard.storage.filesystem import FilesystemBlobStore


@pytest.fixture(params=["filesystem-direct", "filesystem-buffered"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> BlobStore:
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


def test_one_writer_at_a_time(store: BlobStore) -> None:
    store.create_upload("upload-3")
    writer = store.open_upload("upload-3")
    try:
        with pytest.raises(UploadBusy):
            store.open_upload("upload-3")
    finally:
        writer.close()
    store.open_upload("upload-3").close()


def test_commit_of_an_existing_blob_drops_the_upload(store: BlobStore, tmp_path: Path) -> None:
    data = b"same bytes"
    for upload_id in ("upload-4", "upload-5"):
        store.create_upload(upload_id)
        _append(store, upload_id, 0, data)
        store.commit_upload(upload_id, len(data), _digest(data))
    assert store.blob_size(_digest(data)) == len(data)
    assert list((tmp_path / "uploads").iterdir()) == []
