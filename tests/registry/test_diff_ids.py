"""Indexing image configs' layer diff IDs: at push (real blobs through the registry services),
never failing a push whatever the config holds, and the start-up backfill for images pushed
before diff IDs were indexed."""

from __future__ import annotations

import json
from typing import Any

import anyio
import pytest
from sqlalchemy import delete, func, select

from dockyard.metadata.db import Database
from dockyard.metadata.models import ImageDiffId, table_of
from dockyard.metadata.queries.diff_ids import diff_ids_of, has_diff_ids, unindexed_configs
from dockyard.registry import mediatypes as mt
from dockyard.registry.diff_ids import (
    MAX_CONFIG_BYTES,
    backfill,
    claim_backfill,
    parse_diff_ids,
    release_backfill,
)
from dockyard.registry.digests import compute
from dockyard.registry.services import RegistryServices
from dockyard.storage.filesystem import FilesystemBlobStore
from fixtures.search_content import image_config, push_image

_diff = table_of(ImageDiffId)
D1 = compute(b"one")
D2 = compute(b"two")


def _recorded(db: Database, config: str) -> list[str]:
    with db.read() as conn:
        return diff_ids_of(conn, config)


def _row_count(db: Database) -> int:
    with db.read() as conn:
        return int(conn.execute(select(func.count()).select_from(_diff)).scalar_one())


def _forget_all(db: Database) -> None:
    """What a database migrated from before 0004 looks like: no diff ID rows at all."""
    with db.write() as conn:
        conn.execute(delete(_diff))


@pytest.mark.parametrize(
    ("doc", "expected"),
    [
        ({"rootfs": {"type": "layers", "diff_ids": [D1, D2, D1]}}, (D1, D2, D1)),
        ({"rootfs": {"diff_ids": []}}, ()),
        ({"rootfs": {"diff_ids": [D1, "sha256:abc"]}}, ()),  # one bad digest spoils all
        ({"rootfs": {"diff_ids": [D1.upper()]}}, ()),
        ({"rootfs": {"diff_ids": ["md5:" + "0" * 32]}}, ()),
        ({"rootfs": {"diff_ids": [D1, 7]}}, ()),
        ({"rootfs": {"diff_ids": D1}}, ()),
        ({"rootfs": [D1]}, ()),
        ({}, ()),
        ([D1], ()),
        ({"rootfs": {"diff_ids": [D1] * 1001}}, ()),  # more layers than any image has
    ],
)
def test_parse_is_strict(doc: Any, expected: tuple[str, ...]) -> None:
    assert parse_diff_ids(json.dumps(doc).encode()) == expected


@pytest.mark.parametrize("data", [b"", b"\xff\xfe", b"{", b"[" * 100_000, b"null"])
def test_parse_never_raises(data: bytes) -> None:
    assert parse_diff_ids(data) == ()


def test_push_records_diff_ids_in_order(db: Database, services: RegistryServices) -> None:
    image = push_image(services, "app", [b"base", b"app", b"base"])
    assert _recorded(db, image.config) == list(image.diff_ids)
    assert image.diff_ids[0] == image.diff_ids[2] != image.diff_ids[1]


def test_second_push_of_a_config_reads_nothing(
    db: Database, services: RegistryServices, store: FilesystemBlobStore
) -> None:
    first = push_image(services, "app", [b"base"], tag="1")
    path = store.local_file(first.config)
    assert path is not None
    path[0].write_bytes(b"changed on disk")  # were it read again, it would not parse
    rows = _row_count(db)
    second = push_image(services, "other", [b"base"], tag="2")
    assert second.config == first.config
    assert _recorded(db, first.config) == list(first.diff_ids)
    assert _row_count(db) == rows  # no marker added beside the rows


@pytest.mark.parametrize(
    ("config", "config_type"),
    [
        (b"{}", "application/vnd.oci.empty.v1+json"),  # an artifact (oras, cosign)
        (b'{"chart": "x", "rootfs": {"diff_ids": ["sha256:00"]}}', "application/x-helm"),
        (b"not json at all", "application/vnd.oci.image.config.v1+json"),
        (b'{"rootfs": {"diff_ids": ["nope"]}}', "application/vnd.docker.container.image.v1+json"),
        (b"[1, 2]", "application/vnd.oci.image.config.v1+json"),
    ],
)
def test_configs_without_diff_ids_do_not_break_the_push(
    db: Database, services: RegistryServices, config: bytes, config_type: str
) -> None:
    image = push_image(services, "app", [b"layer"], config=config, config_type=config_type)
    assert image.manifest.startswith("sha256:")
    assert _recorded(db, image.config) == []
    with db.read() as conn:
        assert has_diff_ids(conn, image.config)  # marked: neither read again nor backfilled


def test_huge_config_is_not_read(db: Database, services: RegistryServices) -> None:
    padding = " " * MAX_CONFIG_BYTES
    config = image_config([D1])[:-1] + padding.encode() + b"}"
    image = push_image(services, "app", [b"layer"], config=config)
    assert _recorded(db, image.config) == []
    assert parse_diff_ids(config) == (D1,)  # it was the size, not the content


def test_config_missing_from_storage_does_not_break_the_push(
    db: Database, services: RegistryServices, store: FilesystemBlobStore
) -> None:
    first = push_image(services, "app", [b"layer"], tag="1")
    _forget_all(db)
    found = store.local_file(first.config)
    assert found is not None
    found[0].unlink()
    put = services.manifests.put
    again = anyio.run(put, "app", "2", first.payload, mt.OCI_MANIFEST, "tester")
    assert again.digest == first.manifest
    with db.read() as conn:
        assert not has_diff_ids(conn, first.config)  # left for a later backfill to retry


def test_backfill_indexes_images_pushed_before(
    db: Database, services: RegistryServices, store: FilesystemBlobStore
) -> None:
    images = [push_image(services, f"app{n}", [f"layer {n}".encode(), b"base"]) for n in range(5)]
    artifact = push_image(
        services, "art", [b"payload"], config=b"{}", config_type="application/vnd.oci.empty.v1+json"
    )
    _forget_all(db)
    assert backfill(db, store, limit=2) == 6  # three batches: 2, 2, 2 (the artifact marked)
    for image in images:
        assert _recorded(db, image.config) == list(image.diff_ids)
    assert _recorded(db, artifact.config) == []
    rows = _row_count(db)
    assert backfill(db, store) == 0
    assert _row_count(db) == rows
    with db.read() as conn:
        assert unindexed_configs(conn, "", 500) == []


def test_backfill_retries_what_storage_could_not_give(
    db: Database, services: RegistryServices, store: FilesystemBlobStore
) -> None:
    image = push_image(services, "app", [b"layer"])
    _forget_all(db)
    found = store.local_file(image.config)
    assert found is not None
    saved = found[0].read_bytes()
    found[0].unlink()
    assert backfill(db, store) == 0
    found[0].write_bytes(saved)
    assert backfill(db, store) == 1
    assert _recorded(db, image.config) == list(image.diff_ids)


def test_one_backfill_at_a_time_across_workers_and_replicas(db: Database) -> None:
    """The lease is the database's: while one holder has it, another cannot take it; the
    holder renews it; released, the next takes it."""
    assert claim_backfill(db, "replica-a/1/x")
    assert not claim_backfill(db, "replica-b/2/y")
    assert claim_backfill(db, "replica-a/1/x")  # a renewal, at each batch
    release_backfill(db, "replica-a/1/x")
    assert claim_backfill(db, "replica-b/2/y")
    assert not claim_backfill(db, "replica-a/1/x")
