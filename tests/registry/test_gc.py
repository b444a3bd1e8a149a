"""Garbage collection against a real server: content pushed and deleted through /v2, runs
made in this process on the same data directory (as `dockyard gc` makes them), the store
and /v2 checked afterwards. Each test has a server of its own: a run sweeps the registry."""

from __future__ import annotations

import dataclasses
import json
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from sqlalchemy import Connection

from dockyard.auth.errors import Conflict, Forbidden
from dockyard.auth.manage import ManageContext
from dockyard.auth.principals import Principal
from dockyard.config import GcSettings, Settings
from dockyard.metadata.db import Database
from dockyard.metadata.queries import audit, gc_queue, leases
from dockyard.metadata.queries import deletes as q
from dockyard.registry import deletes, gc
from dockyard.registry.gc import GcMode, RunRow
from dockyard.storage.filesystem import FilesystemBlobStore
from fixtures.deletes import Pushed, Pusher, blob_file
from fixtures.manage import OPERATOR
from fixtures.servers import DockyardServer, StartServer
from fixtures.sql import run_sql
from fixtures.v2api import V2, error_code, sha256

NOW_ONLY = GcSettings(grace_seconds=0, in_flight_seconds=0, untagged=True, interval_seconds=0)


@dataclass
class Registry:
    server: DockyardServer
    db: Database
    ctx: ManageContext
    v2: V2
    push: Pusher

    def run(self, mode: GcMode = GcMode.COLLECT, **settings: Any) -> RunRow:
        ctx = dataclasses.replace(self.ctx, gc=dataclasses.replace(NOW_ONLY, **settings))
        row = gc.run(ctx, mode, grace=settings.get("grace_seconds", 0), actor="tester")
        assert row.status == "done", row.error
        return row

    def items(self, run: RunRow) -> set[tuple[str, str | None, str | None, int]]:
        found = gc.run_items(self.ctx, OPERATOR, run.id, limit=10_000)
        return {(i.kind, i.repository, i.digest, i.size) for i in found}

    def blob_exists(self, digest: str) -> bool:
        return blob_file(self.server.data_dir, digest).exists()

    def store_bytes(self) -> int:
        """`du -b` of the blob store: the bytes of every blob and upload file."""
        total = 0
        for folder in ("blobs", "uploads", "trash"):
            for path in (self.server.data_dir / folder).rglob("*"):
                if path.is_file():
                    total += path.stat().st_size
        return total


def _registry(start: StartServer, **env: str) -> Iterator[Registry]:
    server = start(extra_env={"DOCKYARD_GC_INTERVAL_MINUTES": "0", **env})
    settings = Settings(data_dir=server.data_dir, database_url=server.database_url, direct_io=False)
    db = Database(settings.sqlalchemy_url)
    http = httpx.Client(base_url=server.url, auth=(server.username, server.password), timeout=60)
    try:
        ctx = ManageContext.from_settings(db, settings)
        v2 = V2(http)
        yield Registry(server, db, ctx, v2, Pusher(v2))
    finally:
        http.close()
        db.close()


@pytest.fixture
def reg(dockyard_factory: StartServer) -> Iterator[Registry]:
    yield from _registry(dockyard_factory, DOCKYARD_GC_IN_FLIGHT_SECONDS="0")


def _delete(reg: Registry, name: str, reference: str) -> None:
    r = reg.v2.http.delete(f"/v2/{name}/manifests/{reference}")
    assert r.status_code == 202, r.text


def _blobs_of(image: Pushed, layers: list[bytes]) -> list[str]:
    return [image.config, *(sha256(layer) for layer in layers)]


def test_a_deleted_tag_frees_its_image_and_the_dry_run_said_so(reg: Registry) -> None:
    layers = [os.urandom(1000), os.urandom(2000)]
    image = reg.push.image("team/app", layers, tags=("v1",))
    kept = reg.push.image("team/app", [os.urandom(300)], tags=("v2",))
    _delete(reg, "team/app", "v1")
    before = reg.store_bytes()

    dry = reg.run(GcMode.DRY_RUN)
    assert all(reg.blob_exists(d) for d in _blobs_of(image, layers))  # nothing changed
    real = reg.run()

    expected_bytes = image.config_size + sum(len(layer) for layer in layers)
    for run in (dry, real):
        assert run.figures["manifests_removed"] == 1
        assert run.figures["blobs_removed"] == 3
        assert run.figures["links_removed"] == 3
        assert run.figures["bytes_freed"] == expected_bytes
    assert reg.items(dry) == reg.items(real)
    assert ("manifest", "team/app", image.digest, image.size) in reg.items(real)
    assert before - reg.store_bytes() == expected_bytes  # what du sees
    assert not any(reg.blob_exists(d) for d in _blobs_of(image, layers))
    assert reg.v2.http.get(f"/v2/team/app/manifests/{image.digest}").status_code == 404
    assert reg.v2.http.get(f"/v2/team/app/manifests/{kept.digest}").status_code == 200
    assert reg.v2.http.get(f"/v2/team/app/blobs/{kept.config}").status_code == 200
    again = reg.run()
    assert again.figures["manifests_removed"] == again.figures["blobs_removed"] == 0


def test_shared_layers_free_only_what_nothing_else_uses(reg: Registry) -> None:
    shared, own = os.urandom(4000), os.urandom(700)
    going = reg.push.image("team/a", [shared, own], tags=("x",))
    staying = reg.push.image("team/b", [shared], tags=("y",))
    reg.push.image("team/a", [shared], tags=("z",))  # a second image of team/a uses it too
    _delete(reg, "team/a", "x")
    dry = reg.run(GcMode.DRY_RUN)
    real = reg.run()
    for run in (dry, real):
        assert run.figures["bytes_freed"] == going.config_size + len(own)
    assert reg.items(dry) == reg.items(real)
    assert reg.blob_exists(sha256(shared))
    assert reg.v2.http.get(f"/v2/team/b/manifests/{staying.digest}").status_code == 200
    assert reg.v2.http.head(f"/v2/team/a/blobs/{sha256(shared)}").status_code == 200


def _on_postgres(conn: Connection) -> bool:
    return conn.dialect.name == "postgresql"


def _stop_deletes_of_link(conn: Connection, digest: str) -> None:
    """A trigger that fails deleting the links to `digest` as a foreign key would."""
    if _on_postgres(conn):
        run_sql(
            conn,
            "CREATE FUNCTION stop_one() RETURNS trigger LANGUAGE plpgsql AS "
            "$$ BEGIN RAISE foreign_key_violation USING MESSAGE = 'stopped by the test'; END $$",
        )
        run_sql(
            conn,
            "CREATE TRIGGER stop_one BEFORE DELETE ON repository_blob FOR EACH ROW "
            f"WHEN (old.digest = '{digest}') EXECUTE FUNCTION stop_one()",
        )
        return
    run_sql(
        conn,
        "CREATE TRIGGER stop_one BEFORE DELETE ON repository_blob "
        f"WHEN old.digest = '{digest}' "
        "BEGIN SELECT RAISE(ABORT, 'FOREIGN KEY constraint failed'); END",
    )


def test_a_delete_stopped_by_a_new_reference_keeps_only_that_blob(reg: Registry) -> None:
    """A batch's deletes run together; when one is stopped by a constraint (on PostgreSQL:
    a manifest committing a reference to the link meanwhile), the batch is redone blob by
    blob, the rest still goes and the stopped blob stays queued for the next run. The
    constraint is raised here by a trigger on that one link."""
    layer_a, layer_b = os.urandom(900), os.urandom(800)
    a = reg.push.image("team/a", [layer_a], tags=("v1",))
    b = reg.push.image("team/b", [layer_b], tags=("v1",))
    _delete(reg, "team/a", a.digest)
    _delete(reg, "team/b", b.digest)
    stopped = sha256(layer_b)
    with reg.db.write() as conn:
        _stop_deletes_of_link(conn, stopped)
    first = reg.run()
    assert first.figures["blobs_removed"] == 3  # a's config and layer, b's config
    assert not any(reg.blob_exists(d) for d in _blobs_of(a, [layer_a]))
    assert reg.blob_exists(stopped)
    assert not reg.blob_exists(b.config)
    assert ("blob", None, stopped, len(layer_b)) not in reg.items(first)
    with reg.db.read() as conn:
        assert gc_queue.sizes(conn) == (0, 1)
    with reg.db.write() as conn:
        run_sql(
            conn, "DROP TRIGGER stop_one" + (" ON repository_blob" if _on_postgres(conn) else "")
        )
    second = reg.run()
    assert reg.items(second) == {
        ("link", "team/b", stopped, 0),
        ("blob", None, stopped, len(layer_b)),
    }
    assert not reg.blob_exists(stopped)


def test_the_grace_period_keeps_what_went_recently(reg: Registry) -> None:
    layer = os.urandom(500)
    image = reg.push.image("team/app", [layer], tags=("v1",))
    _delete(reg, "team/app", "v1")
    run = reg.run(grace_seconds=3600)
    assert run.figures["manifests_removed"] == run.figures["blobs_removed"] == 0
    assert reg.blob_exists(sha256(layer))
    assert reg.run().figures["manifests_removed"] == 1
    assert not reg.blob_exists(image.config)


def test_an_index_goes_with_the_children_only_it_lists(reg: Registry) -> None:
    amd, arm, shared = (reg.push.image("team/multi", [os.urandom(200)]) for _ in range(3))
    going = reg.push.index("team/multi", [amd, arm, shared], tags=("v1",))
    reg.push.index("team/multi", [shared], tags=("v2",))
    _delete(reg, "team/multi", "v1")
    dry, real = reg.run(GcMode.DRY_RUN), reg.run()
    removed = {d for kind, _, d, _ in reg.items(real) if kind == "manifest"}
    assert removed == {going.digest, amd.digest, arm.digest}
    assert reg.items(dry) == reg.items(real)
    assert reg.v2.http.get(f"/v2/team/multi/manifests/{shared.digest}").status_code == 200
    assert not reg.blob_exists(amd.config)
    assert reg.blob_exists(shared.config)


def test_untagged_pushes_go_unless_kept_and_can_be_left_alone(reg: Registry) -> None:
    loose = reg.push.image("team/app", [os.urandom(100)])  # by digest, never tagged
    image = reg.push.image("team/app", [os.urandom(100)], tags=("v1",))
    signature = reg.push.image("team/app", [os.urandom(50)], subject=image)
    assert reg.run(untagged=False).figures["manifests_removed"] == 0
    run = reg.run()
    assert {d for kind, _, d, _ in reg.items(run) if kind == "manifest"} == {loose.digest}
    assert reg.v2.http.get(f"/v2/team/app/manifests/{signature.digest}").status_code == 200
    # The subject deleted through /v2 (which leaves its referrers): they go with it now.
    _delete(reg, "team/app", image.digest)
    run = reg.run()
    assert {d for kind, _, d, _ in reg.items(run) if kind == "manifest"} == {signature.digest}


def test_a_deleted_repository_gives_all_its_bytes_back(reg: Registry) -> None:
    layers = [os.urandom(3000), os.urandom(1000)]
    image = reg.push.image("team/gone", layers, tags=("v1", "v2"))
    reg.v2.push_blob("team/gone", os.urandom(123))  # a blob no manifest ever used
    before = reg.store_bytes()
    deletes.delete_repository(reg.ctx, OPERATOR, None, "team/gone")
    dry, real = reg.run(GcMode.DRY_RUN), reg.run()
    expected = image.config_size + sum(map(len, layers)) + 123
    assert dry.figures["bytes_freed"] == real.figures["bytes_freed"] == expected
    assert before - reg.store_bytes() == expected
    with reg.db.read() as conn:
        assert q.blob_sizes(conn, _blobs_of(image, layers)) == {}


def test_the_in_flight_window_keeps_what_a_client_just_touched(reg: Registry) -> None:
    digest = reg.v2.push_blob("team/app", os.urandom(64))  # a push that has not finished
    run = reg.run(in_flight_seconds=3600)
    assert run.figures["blobs_removed"] == 0
    assert run.figures["kept_recent"] == 1
    assert reg.blob_exists(digest)
    assert reg.run().figures["blobs_removed"] == 1
    assert reg.v2.http.head(f"/v2/team/app/blobs/{digest}").status_code == 404


def test_expired_uploads_go_with_their_bytes(reg: Registry) -> None:
    r = reg.v2.http.post("/v2/team/app/blobs/uploads/")
    location = r.headers["Location"]
    r = reg.v2.http.patch(location, content=os.urandom(5000))
    assert r.status_code == 202, r.text
    assert reg.run(upload_expiry_seconds=3600).figures.get("uploads_removed", 0) == 0
    dry = reg.run(GcMode.DRY_RUN, upload_expiry_seconds=0)
    real = reg.run(upload_expiry_seconds=0)
    assert dry.figures["uploads_removed"] == real.figures["uploads_removed"] == 1
    assert dry.figures["upload_bytes_freed"] == real.figures["upload_bytes_freed"] == 5000
    assert reg.v2.http.get(location).status_code == 404
    assert not any((reg.server.data_dir / "uploads").iterdir())


def test_hidden_bytes_of_a_stopped_run_are_restored_or_dropped(reg: Registry) -> None:
    """What a run leaves when it dies between hiding bytes and committing (or after)."""
    image = reg.push.image("team/app", [os.urandom(100)], tags=("v1",))
    orphan = reg.v2.push_blob("team/other", os.urandom(77))
    store = FilesystemBlobStore(reg.server.data_dir, direct_io=False)
    assert store.hide_blob(image.config)  # the row stays: must come back
    with reg.db.write() as conn:  # the row went, the bytes were hidden: must go
        q.purge_blob(conn, orphan)
    assert store.hide_blob(orphan)
    run = reg.run(grace_seconds=3600)
    assert reg.blob_exists(image.config)
    assert not reg.blob_exists(orphan)
    assert not list(store.hidden_blobs())
    assert run.figures["bytes_freed"] == 77
    assert reg.v2.http.get(f"/v2/team/app/blobs/{image.config}").status_code == 200


def test_verify_reports_orphans_missing_and_corrupt_bytes(reg: Registry) -> None:
    layers = [os.urandom(100)]
    image = reg.push.image("team/app", layers, tags=("v1",))
    data = os.urandom(40)
    orphan_path = blob_file(reg.server.data_dir, sha256(data))
    orphan_path.parent.mkdir(parents=True, exist_ok=True)
    orphan_path.write_bytes(data)
    config_path = blob_file(reg.server.data_dir, image.config)
    config_path.write_bytes(config_path.read_bytes()[:-1] + b"X")  # same size, wrong bytes
    missing = sha256(layers[0])
    blob_file(reg.server.data_dir, missing).unlink()
    run = reg.run(GcMode.VERIFY)
    assert (run.figures["orphan_files"], run.figures["missing_files"]) == (1, 1)
    assert run.figures["corrupt_files"] == 1
    kinds = {(kind, digest) for kind, _, digest, _ in reg.items(run)}
    assert kinds == {("orphan", sha256(data)), ("missing", missing), ("corrupt", image.config)}
    assert orphan_path.exists()  # a verification changes nothing


def test_one_collection_at_a_time_and_only_for_registry_admins(reg: Registry) -> None:
    with reg.db.write() as conn:
        assert leases.acquire(conn, "gc", "someone-else", int(time.time()), 120)
    with pytest.raises(Conflict, match="running already"):
        gc.start(reg.ctx, OPERATOR, GcMode.COLLECT)
    dry = gc.start(reg.ctx, OPERATOR, GcMode.DRY_RUN)  # needs no lease
    assert dry.mode == "dry-run"
    nobody = Principal.user(999, "nobody", False)
    with pytest.raises(Forbidden):
        gc.start(reg.ctx, nobody, GcMode.DRY_RUN)
    # The run goes on in a thread of this process: let it end before the fixture closes
    # the database under it (on PostgreSQL its connection would outlive the pool).
    deadline = time.monotonic() + 60
    while gc.get_run(reg.ctx, OPERATOR, dry.id).status == "running":
        assert time.monotonic() < deadline, "the dry run never ended"
        time.sleep(0.05)


def test_every_run_is_audited(reg: Registry) -> None:
    reg.push.image("team/app", [os.urandom(10)])
    run = reg.run()
    with reg.db.read() as conn:
        [event] = audit.list_events(conn, action="gc.collect", target=f"gc:{run.id}")
    assert event.detail is not None
    assert event.detail["manifests_removed"] == 1
    assert event.detail["status"] == "done"


# -- the race of pitfalls §14-§15 ---------------------------------------------------------


@pytest.fixture
def windowed(dockyard_factory: StartServer) -> Iterator[Registry]:
    """A server whose in-flight window is 2 s, so a test can outlast it."""
    yield from _registry(dockyard_factory, DOCKYARD_GC_IN_FLIGHT_SECONDS="2")


def _push_layer_then_wait(reg: Registry) -> tuple[str, bytes, bytes]:
    """A client uploads a config and a layer, then stalls past the in-flight window."""
    config = b'{"os":"linux","architecture":"amd64"}'
    layer = os.urandom(300)
    reg.v2.push_blob("team/slow", config)
    reg.v2.push_blob("team/slow", layer)
    time.sleep(3)
    return sha256(config), config, layer


def _manifest(config: bytes, layer: bytes) -> bytes:
    return json.dumps({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                   "digest": sha256(config), "size": len(config)},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                    "digest": sha256(layer), "size": len(layer)}],
    }).encode()  # fmt: skip


def test_a_head_between_upload_and_manifest_keeps_the_blob(windowed: Registry) -> None:
    """The client HEADs its blobs (200: "it is there") then pushes the manifest; a sweep
    in between must not take them. A naive GC (no renewal on HEAD) fails this test."""
    _, config, layer = _push_layer_then_wait(windowed)
    for data in (config, layer):
        r = windowed.v2.http.head(f"/v2/team/slow/blobs/{sha256(data)}")
        assert r.status_code == 200
    run = windowed.run(in_flight_seconds=2)
    assert run.figures["blobs_removed"] == 0, windowed.items(run)
    r = windowed.v2.put_manifest("team/slow", "v1", _manifest(config, layer))
    assert r.status_code == 201, r.text


def test_without_a_head_the_stalled_push_is_swept(windowed: Registry) -> None:
    """The control of the test above: the same stalled push, no HEAD, is collected, and
    its manifest is refused as the spec says (the client uploads the blobs again)."""
    _, config, layer = _push_layer_then_wait(windowed)
    run = windowed.run(in_flight_seconds=2)
    assert run.figures["blobs_removed"] == 2
    r = windowed.v2.put_manifest("team/slow", "v1", _manifest(config, layer))
    assert r.status_code == 400
    assert error_code(r) == "MANIFEST_BLOB_UNKNOWN"


def test_fetching_an_untagged_manifest_by_digest_keeps_it(windowed: Registry) -> None:
    child = windowed.push.image("team/multi", [os.urandom(100)])  # pushed by digest
    time.sleep(3)
    r = windowed.v2.http.head(
        f"/v2/team/multi/manifests/{child.digest}",
        headers={"Accept": "application/vnd.oci.image.manifest.v1+json"},
    )
    assert r.status_code == 200
    assert windowed.run(in_flight_seconds=2).figures["manifests_removed"] == 0
    index = windowed.push.index("team/multi", [child], tags=("v1",))
    assert windowed.v2.http.get(f"/v2/team/multi/manifests/{index.digest}").status_code == 200


def test_queue_holds_what_changed(reg: Registry) -> None:
    reg.push.image("team/app", [os.urandom(10)], tags=("v1",))
    with reg.db.read() as conn:
        manifests, blobs = gc_queue.sizes(conn)
    assert (manifests, blobs) == (0, 2)  # the uploads; the tagged manifest is not queued
    reg.run()
    with reg.db.read() as conn:
        assert gc_queue.sizes(conn) == (0, 0)
