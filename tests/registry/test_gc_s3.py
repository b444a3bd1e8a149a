"""Garbage collection of a registry whose blobs are in S3 (SeaweedFS): a deleted image's
pointers and data objects leave the bucket, expired uploads take their objects with them,
and verification agrees with the bucket. Runs are made in this process from the same
settings as the server (`ManageContext.from_settings` builds the S3 store, as a local
`dockyard gc` does)."""

from __future__ import annotations

import dataclasses
import os
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from dockyard.auth.manage import ManageContext
from dockyard.config import GcSettings, Settings
from dockyard.metadata.db import Database
from dockyard.registry import gc
from dockyard.registry.gc import GcMode, RunRow
from dockyard.storage.s3 import S3BlobStore
from fixtures.deletes import Pusher
from fixtures.seaweedfs import SeaweedFS
from fixtures.servers import StartServer
from fixtures.v2api import V2, sha256

NOW_ONLY = GcSettings(grace_seconds=0, in_flight_seconds=0, untagged=True, interval_seconds=0)


@dataclass
class S3Registry:
    ctx: ManageContext
    v2: V2
    push: Pusher
    seaweedfs: SeaweedFS
    prefix: str

    def run(self, mode: GcMode = GcMode.COLLECT, **settings: Any) -> RunRow:
        ctx = dataclasses.replace(self.ctx, gc=dataclasses.replace(NOW_ONLY, **settings))
        row = gc.run(ctx, mode, grace=0, actor="tester")
        assert row.status == "done", row.error
        return row

    def bucket_keys(self) -> dict[str, int]:
        return self.seaweedfs.keys(self.prefix)


@pytest.fixture
def reg(dockyard_factory: StartServer, seaweedfs: SeaweedFS) -> Iterator[S3Registry]:
    prefix = f"gc-{secrets.token_hex(6)}"
    env = seaweedfs.server_env(prefix, DOCKYARD_GC_INTERVAL_MINUTES="0")
    server = dockyard_factory(extra_env={**env, "DOCKYARD_GC_IN_FLIGHT_SECONDS": "0"})
    settings = Settings(
        data_dir=server.data_dir,
        database_url=server.database_url,
        storage_driver="s3",
        s3_endpoint_url=seaweedfs.endpoint_url,
        s3_bucket=seaweedfs.bucket,
        s3_access_key=seaweedfs.access_key,
        s3_secret_key=seaweedfs.secret_key,
        s3_prefix=prefix,
    )
    db = Database(settings.sqlalchemy_url)
    http = httpx.Client(base_url=server.url, auth=(server.username, server.password), timeout=60)
    try:
        ctx = ManageContext.from_settings(db, settings)
        assert isinstance(ctx.store, S3BlobStore)
        v2 = V2(http)
        yield S3Registry(ctx, v2, Pusher(v2), seaweedfs, prefix)
    finally:
        http.close()
        db.close()


def _pointer(digest: str) -> str:
    return "blobs/" + digest.replace(":", "/")


def test_a_deleted_image_leaves_the_bucket(reg: S3Registry) -> None:
    layers = [os.urandom(1000), os.urandom(6 << 20)]  # one above the 5 MiB minimum part size
    image = reg.push.image("team/app", layers, tags=("v1",))
    kept = reg.push.image("team/app", [os.urandom(300)], tags=("v2",))
    digests = [image.config, *(sha256(layer) for layer in layers)]
    assert all(_pointer(d) in reg.bucket_keys() for d in digests)
    data_before = sum(size for key, size in reg.bucket_keys().items() if key.startswith("data/"))

    r = reg.v2.http.delete(f"/v2/team/app/manifests/{image.digest}")
    assert r.status_code == 202, r.text
    dry = reg.run(GcMode.DRY_RUN)
    assert all(_pointer(d) in reg.bucket_keys() for d in digests)  # a dry run changes nothing
    run = reg.run()

    expected = image.config_size + sum(len(layer) for layer in layers)
    for figures in (dry.figures, run.figures):
        assert figures["blobs_removed"] == 3
        assert figures["bytes_freed"] == expected
    keys = reg.bucket_keys()
    assert not any(_pointer(d) in keys for d in digests)
    assert not any(key.startswith(("hidden/", "uploads/")) for key in keys)
    data_after = sum(size for key, size in keys.items() if key.startswith("data/"))
    assert data_before - data_after == expected  # what the bucket holds
    assert reg.v2.http.get(f"/v2/team/app/blobs/{kept.config}").status_code == 200

    verified = reg.run(GcMode.VERIFY)
    assert verified.figures.get("orphan_files", 0) == 0
    assert verified.figures.get("missing_files", 0) == 0
    assert verified.figures.get("corrupt_files", 0) == 0
    assert verified.figures["blobs_checked"] == 2  # kept: its config and its layer


def test_expired_uploads_go_with_their_objects(reg: S3Registry) -> None:
    r = reg.v2.http.post("/v2/team/app/blobs/uploads/")
    location = r.headers["Location"]
    r = reg.v2.http.patch(location, content=os.urandom(5000))
    assert r.status_code == 202, r.text
    assert any(key.startswith("uploads/") for key in reg.bucket_keys())
    dry = reg.run(GcMode.DRY_RUN, upload_expiry_seconds=0)
    run = reg.run(upload_expiry_seconds=0)
    assert dry.figures["uploads_removed"] == run.figures["uploads_removed"] == 1
    assert dry.figures["upload_bytes_freed"] == run.figures["upload_bytes_freed"] == 5000
    assert not any(key.startswith("uploads/") for key in reg.bucket_keys())
    assert reg.v2.http.get(location).status_code == 404
