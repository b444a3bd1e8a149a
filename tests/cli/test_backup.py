"""`dockyard backup` and `dockyard restore`, as an operator runs them: the real commands as
processes, beside a real server taking pushes, on the suite's back end
(DOCKYARD_TEST_DATABASE). The promise tested: a backup taken under a push load restores to
a registry that serves every image acknowledged before the backup started."""

from __future__ import annotations

import json
import os
import shutil
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from dockyard.metadata.db import SCHEMA_HEAD
from fixtures.deletes import Pushed, Pusher
from fixtures.local_cli import empty_registry, run_local
from fixtures.servers import DockyardServer
from fixtures.v2api import OCI_MANIFEST, V2, sha256

pytestmark = pytest.mark.slow

_SETTINGS = {"DOCKYARD_GC_INTERVAL_MINUTES": "0", "DOCKYARD_RETENTION_INTERVAL_MINUTES": "0"}


@dataclass(frozen=True)
class Acked:
    """An image whose push the registry acknowledged (its manifest PUT answered 201)."""

    repository: str
    tag: str
    image: Pushed
    layers: tuple[bytes, ...]
    config: bytes


class PushLoad:
    """A thread pushing small images, one after another, until stopped."""

    def __init__(self, server: DockyardServer) -> None:
        self._http = httpx.Client(
            base_url=server.url, auth=(server.username, server.password), timeout=60
        )
        self._push = Pusher(V2(self._http))
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._acked: list[Acked] = []
        self.error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        number = 0
        try:
            while not self._stop.is_set():
                number += 1
                repository = f"load/app-{number % 7}"
                tag = f"build-{number}"
                layers = (os.urandom(2000 + number % 500), f"shared layer {number % 3}".encode())
                config = json.dumps({"os": "linux", "build": number}).encode()
                image = self._push.image(repository, list(layers), tags=(tag,), config=config)
                with self._lock:
                    self._acked.append(Acked(repository, tag, image, layers, config))
        except BaseException as err:  # reported by stop()
            self.error = err

    def acked(self) -> list[Acked]:
        with self._lock:
            return list(self._acked)

    def start(self, at_least: int) -> None:
        self._thread.start()
        deadline = time.monotonic() + 60
        while len(self.acked()) < at_least:
            assert self.error is None, self.error
            assert time.monotonic() < deadline, "the push load did not get going"
            time.sleep(0.05)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(60)
        self._http.close()
        assert self.error is None, self.error


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DockyardServer]:
    server = DockyardServer.create(tmp_path_factory.mktemp("backup-source"), extra_env=_SETTINGS)
    server.start()
    try:
        yield server
    finally:
        server.stop()
        server.drop_database()


def _local(server: DockyardServer, *args: str, expect: int = 0) -> dict[str, object] | str:
    result = run_local(
        *args, data_dir=server.data_dir, database_url=server.database_url, expect=expect
    )
    if "--json" in args and expect == 0:
        parsed: dict[str, object] = json.loads(result.stdout)
        return parsed
    return result.stdout + result.stderr


def _serves(server: DockyardServer, pushed: list[Acked]) -> None:
    """Every image is served by tag and by digest, its blobs byte for byte."""
    with httpx.Client(
        base_url=server.url, auth=(server.username, server.password), timeout=60
    ) as http:
        for item in pushed:
            by_tag = http.get(
                f"/v2/{item.repository}/manifests/{item.tag}", headers={"Accept": OCI_MANIFEST}
            )
            assert by_tag.status_code == 200, (item, by_tag.text)
            assert sha256(by_tag.content) == item.image.digest
            by_digest = http.get(f"/v2/{item.repository}/manifests/{item.image.digest}")
            assert by_digest.status_code == 200
            assert by_digest.content == by_tag.content
            for data in (item.config, *item.layers):
                blob = http.get(f"/v2/{item.repository}/blobs/{sha256(data)}")
                assert blob.status_code == 200, (item.repository, sha256(data))
                assert blob.content == data


def _complete(server: DockyardServer) -> int:
    """Every tag the restored registry lists resolves to a manifest whose blobs it serves:
    nothing half-written. Returns how many tags there are."""
    count = 0
    with httpx.Client(
        base_url=server.url, auth=(server.username, server.password), timeout=60
    ) as http:
        for name in http.get("/v2/_catalog").json()["repositories"]:
            for tag in http.get(f"/v2/{name}/tags/list").json()["tags"] or []:
                manifest = http.get(f"/v2/{name}/manifests/{tag}", headers={"Accept": OCI_MANIFEST})
                assert manifest.status_code == 200
                doc = json.loads(manifest.content)
                for descriptor in [doc["config"], *doc["layers"]]:
                    blob = http.get(f"/v2/{name}/blobs/{descriptor['digest']}")
                    assert blob.status_code == 200
                    assert sha256(blob.content) == descriptor["digest"]
                count += 1
    return count


@pytest.mark.parametrize("with_blobs", [True, False], ids=["with-blobs", "store-copied-after"])
def test_a_backup_under_push_load_restores_every_acknowledged_image(
    source: DockyardServer, tmp_path: Path, with_blobs: bool
) -> None:
    load = PushLoad(source)
    load.start(at_least=15)
    try:
        before = load.acked()
        dest = tmp_path / "backup"
        args = ["backup", str(dest), "--json", *(["--with-blobs"] if with_blobs else [])]
        made = _local(source, *args)
        assert isinstance(made, dict)
        if not with_blobs:
            # What README tells operators: back up the store after the metadata.
            shutil.copytree(source.data_dir / "blobs", tmp_path / "store-copy" / "blobs")
    finally:
        load.stop()
    assert len(load.acked()) > len(before), "pushes went on during the backup"
    assert made["backend"] == ("sqlite" if source.database_url.startswith("sqlite") else
                               "postgresql")  # fmt: skip
    assert made["schema_revision"] == SCHEMA_HEAD
    assert made["missing"] == []
    manifest = json.loads((dest / "dockyard-backup.json").read_text())
    listed = {b["digest"]: b["size"] for b in manifest["blobs"]}
    for item in before:
        for data in (item.config, *item.layers):
            assert listed[sha256(data)] == len(data)
    if with_blobs:
        assert made["blobs_copied"] == len(listed)
        assert {p.name for p in (dest / "blobs" / "sha256").iterdir()} == {
            d.split(":")[1] for d in listed
        }

    target = empty_registry(tmp_path / "restored", like=source)
    try:
        if not with_blobs:
            target.data_dir.mkdir(parents=True)
            shutil.copytree(tmp_path / "store-copy" / "blobs", target.data_dir / "blobs")
        restored = _local(target, "restore", str(dest), "--json")
        assert isinstance(restored, dict)
        assert restored["missing"] == []
        assert restored["blobs_copied"] == (len(listed) if with_blobs else 0)
        target.start()
        _serves(target, before)
        assert _complete(target) >= len(before)
        doctor = run_local("doctor", data_dir=target.data_dir, database_url=target.database_url)
        assert "Verdict: healthy" in doctor.stdout
    finally:
        target.stop()
        target.drop_database()


def test_restore_refuses_a_database_in_use_unless_forced(
    source: DockyardServer, tmp_path: Path
) -> None:
    with httpx.Client(base_url=source.url, auth=(source.username, source.password)) as http:
        pushed = Pusher(V2(http)).image("refuse/app", [b"layer of the refusal test"], tags=("v1",))
    dest = tmp_path / "backup"
    _local(source, "backup", str(dest), "--with-blobs")
    target = empty_registry(tmp_path / "target", like=source)
    try:
        _local(target, "restore", str(dest))
        again = _local(target, "restore", str(dest), expect=1)
        assert "the target database is not empty" in str(again)
        assert "--force" in str(again)
        forced = _local(target, "restore", str(dest), "--force")
        assert "Restored the" in str(forced)
        target.start()
        with httpx.Client(base_url=target.url, auth=(target.username, target.password)) as http:
            got = http.get("/v2/refuse/app/manifests/v1", headers={"Accept": OCI_MANIFEST})
            assert got.status_code == 200
            assert sha256(got.content) == pushed.digest
    finally:
        target.stop()
        target.drop_database()


def test_restore_reports_every_blob_missing_from_the_store(
    source: DockyardServer, tmp_path: Path
) -> None:
    layer = os.urandom(3000)
    with httpx.Client(base_url=source.url, auth=(source.username, source.password)) as http:
        Pusher(V2(http)).image("missing/app", [layer], tags=("v1",))
    dest = tmp_path / "backup"
    _local(source, "backup", str(dest))  # no blob bytes, and no copy of the store
    target = empty_registry(tmp_path / "target", like=source)
    try:
        said = _local(target, "restore", str(dest), expect=1)
        assert f"missing: {sha256(layer)} (3000 bytes): not in the store" in str(said)
        assert "blobs the metadata needs are missing from the store" in str(said)
        # The metadata is restored all the same: doctor names what is missing.
        doctor = run_local(
            "doctor", data_dir=target.data_dir, database_url=target.database_url, expect=1
        )
        assert sha256(layer) in doctor.stdout
        assert "FAIL  store consistency" in doctor.stdout
    finally:
        target.drop_database()


def test_a_damaged_blob_in_the_backup_is_not_restored(
    source: DockyardServer, tmp_path: Path
) -> None:
    layer = os.urandom(2500)
    with httpx.Client(base_url=source.url, auth=(source.username, source.password)) as http:
        Pusher(V2(http)).image("damaged/app", [layer], tags=("v1",))
    dest = tmp_path / "backup"
    _local(source, "backup", str(dest), "--with-blobs")
    copy = dest / "blobs" / "sha256" / sha256(layer).split(":")[1]
    copy.unlink()  # it may be a hard link to the source's store: never write through it
    copy.write_bytes(b"x" * 2500)
    target = empty_registry(tmp_path / "target", like=source)
    try:
        said = _local(target, "restore", str(dest), expect=1)
        assert f"missing: {sha256(layer)} (2500 bytes): the backup's copy is damaged" in str(said)
        assert (
            not (target.data_dir / "blobs" / "sha256" / sha256(layer)[7:9])
            .joinpath(sha256(layer)[7:])
            .exists()
        )
    finally:
        target.drop_database()


def test_a_backup_of_a_newer_schema_is_refused(source: DockyardServer, tmp_path: Path) -> None:
    dest = tmp_path / "backup"
    _local(source, "backup", str(dest))
    manifest_path = dest / "dockyard-backup.json"
    manifest = json.loads(manifest_path.read_text())
    manifest["schema_revision"] = f"{int(SCHEMA_HEAD) + 1:04d}"
    manifest_path.write_text(json.dumps(manifest))
    target = empty_registry(tmp_path / "target", like=source)
    try:
        said = _local(target, "restore", str(dest), expect=1)
        assert f"newer than this Dockyard knows ({SCHEMA_HEAD})" in str(said)
        assert not (target.data_dir / "dockyard.db").exists()
    finally:
        target.drop_database()


def test_backup_refuses_a_directory_in_use_and_input_that_is_no_backup(
    source: DockyardServer, tmp_path: Path
) -> None:
    used = tmp_path / "used"
    used.mkdir()
    (used / "notes.txt").write_text("mine")
    said = _local(source, "backup", str(used), expect=1)
    assert "is not empty" in str(said)
    assert sorted(p.name for p in used.iterdir()) == ["notes.txt"]
    target = empty_registry(tmp_path / "target", like=source)
    try:
        refused = _local(target, "restore", str(used), expect=1)
        assert "is not a Dockyard backup" in str(refused)
    finally:
        target.drop_database()
