"""The store the settings name, and the S3 settings' rules (no server needed)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from dockyard.config import Settings
from dockyard.storage.configured import configured_store
from dockyard.storage.filesystem import FilesystemBlobStore
from dockyard.storage.s3 import S3BlobStore

pytestmark = pytest.mark.metadata_neutral

S3: dict[str, Any] = {
    "storage_driver": "s3",
    "s3_bucket": "blobs",
    "s3_endpoint_url": "http://127.0.0.1:9",
}


def test_filesystem_is_the_default(tmp_path: Path) -> None:
    assert isinstance(configured_store(Settings(data_dir=tmp_path)), FilesystemBlobStore)


def test_s3_settings_build_the_s3_store(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, s3_part_size=8 << 20, s3_redirect=True, **S3)
    store = configured_store(settings)
    assert isinstance(store, S3BlobStore)
    assert (store.options.part_size, store.options.redirect) == (8 << 20, True)
    assert store.local_file("sha256:" + "0" * 64) is None
    assert store.free_bytes() is None


@pytest.mark.parametrize(
    "wrong",
    [
        {"s3_bucket": None},
        {"s3_part_size": (5 << 20) - 1},
        {"s3_access_key": "only-the-key"},
    ],
)
def test_incomplete_s3_settings_are_refused(tmp_path: Path, wrong: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        Settings(data_dir=tmp_path, **{**S3, **wrong})


def test_workers_are_handed_the_s3_keys(tmp_path: Path) -> None:
    """`dockyard serve` passes settings to its workers as JSON; SecretStr would dump masked."""
    key, secret = "AKIDEXAMPLE", "wJalrXUtnFEMI-example"
    settings = Settings(data_dir=tmp_path, s3_access_key=key, s3_secret_key=secret, **S3)
    handed = Settings(**json.loads(settings.handoff_json()))
    assert handed.s3_access_key is not None
    assert handed.s3_secret_key is not None
    assert handed.s3_access_key.get_secret_value() == key
    assert handed.s3_secret_key.get_secret_value() == secret
