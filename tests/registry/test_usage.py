"""Storage usage and namespace quotas against a real server: content pushed through /v2,
usage read and quotas set by the services in this process on the same database (as the
admin API and the console do), refusals seen through /v2 as a client sees them."""

from __future__ import annotations

import dataclasses
import json
import os
import secrets
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import httpx
import pytest
from sqlalchemy import text

from dockyard.auth.errors import Forbidden, InvalidRequest, NotFound
from dockyard.auth.manage import ManageContext
from dockyard.auth.manage.grants import set_grant
from dockyard.auth.manage.repositories import create_repository
from dockyard.auth.principals import Principal
from dockyard.config import GcSettings, Settings
from dockyard.metadata.db import Database
from dockyard.metadata.queries import audit
from dockyard.registry import gc, usage
from dockyard.registry.gc import GcMode
from fixtures.deletes import Pushed, Pusher, blob_file
from fixtures.manage import OPERATOR, add_user
from fixtures.servers import DockyardServer, StartServer
from fixtures.v2api import OCI_MANIFEST, V2, error_code, sha256

QUOTA_WORDS = "storage quota"


@dataclass
class World:
    server: DockyardServer
    db: Database
    ctx: ManageContext
    v2: V2
    push: Pusher
    rita: Principal  # read on namespace "ur"
    nora: Principal  # nothing


def _world(server: DockyardServer) -> Iterator[World]:
    settings = Settings(data_dir=server.data_dir, database_url=server.database_url, direct_io=False)
    db = Database(settings.sqlalchemy_url)
    http = httpx.Client(base_url=server.url, auth=(server.username, server.password), timeout=60)
    try:
        ctx = ManageContext.from_settings(db, settings)
        rita, nora = add_user(db, "rita"), add_user(db, "nora")
        create_repository(ctx, OPERATOR, None, "ur/seed")
        set_grant(ctx, OPERATOR, None, "read", "user:rita", "ur")
        v2 = V2(http)
        yield World(server, db, ctx, v2, Pusher(v2), rita, nora)
    finally:
        http.close()
        db.close()


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    server = DockyardServer.create(tmp_path_factory.mktemp("usage"))
    server.start()
    try:
        yield from _world(server)
    finally:
        server.stop()


@pytest.fixture
def fresh() -> Callable[[], str]:
    """`fresh()` -> a namespace name of this test's own."""
    return lambda: f"q{secrets.token_hex(4)}"


def _truth(db: Database, namespace: str) -> int:
    """A namespace's usage summed from the links, the slow way (what the counter keeps)."""
    with db.read() as conn:
        value = conn.execute(
            text(
                "SELECT COALESCE(SUM(b.size), 0) FROM blob b WHERE b.digest IN "
                "(SELECT rb.digest FROM repository_blob rb JOIN repository r "
                "ON r.id = rb.repository_id WHERE r.namespace = :ns)"
            ),
            {"ns": namespace},
        ).scalar_one()
    return int(value)


def _used(world: World, namespace: str) -> int:
    used = usage.namespace_usage(world.ctx, OPERATOR, namespace).size.used_bytes
    assert used == _truth(world.db, namespace)  # the counter never drifts from the links
    return used


def _quota(world: World, namespace: str, quota: int) -> None:
    usage.set_quota(world.ctx, OPERATOR, None, namespace, quota)


def _denied(response: httpx.Response, *words: str) -> str:
    assert response.status_code == 403, response.text
    assert error_code(response) == "DENIED"
    message: str = response.json()["errors"][0]["message"]
    for word in (QUOTA_WORDS, *words):
        assert word in message
    return message


def _no_upload_files(world: World) -> bool:
    return not any((world.server.data_dir / "uploads").iterdir())


def _upload_in_chunks(world: World, name: str, data: bytes) -> httpx.Response:
    """POST, PATCH the bytes, PUT ?digest=: what skopeo and docker do."""
    started = world.v2.http.post(f"/v2/{name}/blobs/uploads/")
    assert started.status_code == 202, started.text
    location = started.headers["location"]
    patched = world.v2.http.patch(
        location, content=data, headers={"Content-Type": "application/octet-stream"}
    )
    assert patched.status_code == 202, patched.text
    return world.v2.http.put(patched.headers["location"], params={"digest": sha256(data)})


def _manifest(config: str, config_size: int, layers: list[bytes], note: str = "") -> bytes:
    doc = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {
            "mediaType": "application/vnd.oci.image.config.v1+json",
            "digest": config,
            "size": config_size,
        },
        "layers": [
            {
                "mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                "digest": sha256(layer),
                "size": len(layer),
            }
            for layer in layers
        ],
        "annotations": {"note": note or secrets.token_hex(4)},
    }
    return json.dumps(doc).encode()


# -- usage --------------------------------------------------------------------------------


def test_usage_counts_each_blob_once_and_splits_own_from_shared(
    world: World, fresh: Callable[[], str]
) -> None:
    one, two = fresh(), fresh()
    base, app_only, web_only, api_only = (os.urandom(n) for n in (4000, 1000, 700, 300))
    app = world.push.image(f"{one}/app", [base, app_only], tags=("v1",))
    again = world.push.image(f"{one}/app", [base], tags=("v2",))  # base twice in one repository
    web = world.push.image(f"{one}/web", [base, web_only], tags=("v1",))
    api = world.push.image(f"{two}/api", [base, api_only], tags=("v1",))

    repo = usage.repository_usage(world.ctx, OPERATOR, f"{one}/app")
    own_app = app.config_size + again.config_size + len(app_only)
    assert repo.usage == usage.Usage(own_app + len(base), own_app, len(base), 4, 1)
    assert repo.namespace.name == one
    assert repo.namespace.quota is None

    ns = usage.namespace_usage(world.ctx, OPERATOR, one)
    own_ns = own_app + web.config_size + len(web_only)
    assert ns.usage == usage.Usage(own_ns + len(base), own_ns, len(base), 6, 1)
    assert ns.size.used_bytes == own_ns + len(base) == _truth(world.db, one)
    assert [r.name for r in ns.largest] == [f"{one}/app", f"{one}/web"]
    assert ns.largest[1].usage.shared_bytes == len(base)

    other = usage.namespace_usage(world.ctx, OPERATOR, two)
    own_two = api.config_size + len(api_only)
    assert other.usage == usage.Usage(own_two + len(base), own_two, len(base), 3, 1)

    # a blob leaves the namespace's usage with its last link there
    assert world.v2.http.delete(f"/v2/{one}/web/manifests/{web.digest}").status_code == 202
    for blob in (web_only, base):
        r = world.v2.http.delete(f"/v2/{one}/web/blobs/{sha256(blob)}")
        assert r.status_code == 202, r.text
    after = usage.namespace_usage(world.ctx, OPERATOR, one).usage
    assert after is not None
    assert after.total_bytes == own_ns + len(base) - len(web_only)
    assert after.shared_bytes == len(base)  # app links it still, and so does two/api
    assert _used(world, one) == after.total_bytes
    # a namespace over the caller's budget is not split (the console's large namespaces)
    assert usage.namespace_usage(world.ctx, OPERATOR, one, split_budget=1).usage is None
    assert usage.namespace_usage(world.ctx, OPERATOR, one, split_budget=5).usage == after
    summary = usage.usage_summary(world.ctx, OPERATOR, top=100)
    assert {n.name for n in summary.namespaces} >= {one, two}
    assert summary.largest[0].usage.total_bytes >= summary.largest[-1].usage.total_bytes


def test_readers_see_usage_others_do_not(world: World, fresh: Callable[[], str]) -> None:
    name = f"ur/{fresh()}"
    world.push.image(name, [os.urandom(500)], tags=("v1",))
    assert usage.repository_usage(world.ctx, world.rita, name).usage.total_bytes > 500
    assert usage.namespace_usage(world.ctx, world.rita, "ur").size.used_bytes > 500
    with pytest.raises(NotFound):
        usage.repository_usage(world.ctx, world.nora, name)
    with pytest.raises(NotFound):
        usage.namespace_usage(world.ctx, world.nora, "ur")
    assert "ur" not in {n.name for n in usage.usage_summary(world.ctx, world.nora).namespaces}
    assert usage.usage_summary(world.ctx, world.nora).largest == ()


def test_only_registry_admins_set_quotas_and_it_is_audited(
    world: World, fresh: Callable[[], str]
) -> None:
    with pytest.raises(Forbidden, match="registry admins"):
        usage.set_quota(world.ctx, world.rita, None, "ur", 1 << 30)
    with pytest.raises(NotFound):  # nora cannot tell that ur exists
        usage.set_quota(world.ctx, world.nora, None, "ur", 1 << 30)
    with pytest.raises(InvalidRequest):
        usage.set_quota(world.ctx, OPERATOR, None, "ur", -1)
    with pytest.raises(NotFound):
        usage.set_quota(world.ctx, OPERATOR, None, fresh(), 1 << 30)
    size = usage.set_quota(world.ctx, OPERATOR, "10.1.2.3", "ur", 5 << 30)
    assert size.quota is not None
    assert (size.quota.bytes, size.quota.set_by) == (5 << 30, OPERATOR.name)
    assert usage.namespace_usage(world.ctx, world.rita, "ur").size.quota == size.quota
    with pytest.raises(Forbidden):
        usage.clear_quota(world.ctx, world.rita, None, "ur")
    usage.clear_quota(world.ctx, OPERATOR, None, "ur")
    with pytest.raises(NotFound, match="no storage quota"):
        usage.clear_quota(world.ctx, OPERATOR, None, "ur")
    with world.db.read() as conn:
        actions = [e.action for e in audit.list_events(conn, target="namespace:ur")]
    assert {"namespace.quota.set", "namespace.quota.clear"} <= set(actions)


# -- refusals -----------------------------------------------------------------------------


def test_a_full_namespace_refuses_an_upload_at_its_start(
    world: World, fresh: Callable[[], str]
) -> None:
    ns = fresh()
    world.push.image(f"{ns}/app", [os.urandom(1000)], tags=("v1",))
    _quota(world, ns, _used(world, ns))  # exactly full: no byte left

    message = _denied(
        world.v2.http.post(f"/v2/{ns}/app/blobs/uploads/"), f"'{ns}'", f"set by {OPERATOR.name}"
    )
    assert "is at its storage quota" in message
    data = os.urandom(100)  # monolithic upload: refused before the body is read
    refused = world.v2.http.post(
        f"/v2/{ns}/other/blobs/uploads/", params={"digest": sha256(data)}, content=data
    )
    _denied(refused)
    assert _no_upload_files(world)
    assert world.v2.http.get(f"/v2/{ns}/other/tags/list").status_code == 404  # no repository
    # other namespaces are not affected
    assert world.v2.http.post(f"/v2/{fresh()}/app/blobs/uploads/").status_code == 202


def test_a_blob_that_would_go_over_is_refused_at_commit_and_its_bytes_removed(
    world: World, fresh: Callable[[], str]
) -> None:
    ns = fresh()
    world.push.image(f"{ns}/app", [os.urandom(1000)], tags=("v1",))
    used = _used(world, ns)
    _quota(world, ns, used + 500)

    big = os.urandom(800)
    message = _denied(_upload_in_chunks(world, f"{ns}/app", big), "for this blob")
    assert "would go over" in message
    assert world.v2.http.head(f"/v2/{ns}/app/blobs/{sha256(big)}").status_code == 404
    assert not blob_file(world.server.data_dir, sha256(big)).exists()
    assert _used(world, ns) == used
    # the session is gone too: the client starts again or gives up
    small = os.urandom(400)
    assert _upload_in_chunks(world, f"{ns}/app", small).status_code == 201
    assert _used(world, ns) == used + 400
    assert _denied(_upload_in_chunks(world, f"{ns}/app", os.urandom(101)))


def test_a_blob_the_namespace_holds_already_adds_nothing(
    world: World, fresh: Callable[[], str]
) -> None:
    ns = fresh()
    layer = os.urandom(2000)
    world.push.image(f"{ns}/app", [layer], tags=("v1",))
    used = _used(world, ns)
    _quota(world, ns, used + 10)
    # into another repository of the namespace: by mount, or uploaded again
    mounted = world.v2.http.post(
        f"/v2/{ns}/copy/blobs/uploads/", params={"mount": sha256(layer), "from": f"{ns}/app"}
    )
    assert mounted.status_code == 201, mounted.text
    assert _upload_in_chunks(world, f"{ns}/again", layer).status_code == 201
    assert _used(world, ns) == used


def test_a_mount_into_a_namespace_it_would_take_over_is_refused(
    world: World, fresh: Callable[[], str]
) -> None:
    source, target = fresh(), fresh()
    layer = os.urandom(3000)
    world.push.image(f"{source}/lib", [layer], tags=("v1",))
    world.push.image(f"{target}/app", [os.urandom(100)], tags=("v1",))
    _quota(world, target, _used(world, target) + 1000)

    r = world.v2.http.post(
        f"/v2/{target}/app/blobs/uploads/", params={"mount": sha256(layer), "from": f"{source}/lib"}
    )
    _denied(r, f"'{target}'")
    assert world.v2.http.head(f"/v2/{target}/app/blobs/{sha256(layer)}").status_code == 404
    _quota(world, target, _used(world, target) + 3000)  # room for it now
    r = world.v2.http.post(
        f"/v2/{target}/app/blobs/uploads/", params={"mount": sha256(layer), "from": f"{source}/lib"}
    )
    assert r.status_code == 201, r.text


def test_over_quota_takes_no_new_manifest_but_tags_what_it_holds(
    world: World, fresh: Callable[[], str]
) -> None:
    ns = fresh()
    name = f"{ns}/app"
    layer = os.urandom(1500)
    image = world.push.image(name, [layer], tags=("v1",))
    _quota(world, ns, 1000)  # lowered below what it holds

    new = _manifest(image.config, image.config_size, [layer])  # same blobs, new manifest
    _denied(world.v2.put_manifest(name, "v2", new), "over its storage quota")
    assert world.v2.http.get(f"/v2/{name}/manifests/v2").status_code == 404
    payload = world.v2.http.get(
        f"/v2/{name}/manifests/v1", headers={"Accept": OCI_MANIFEST}
    ).content
    assert world.v2.put_manifest(name, "latest", payload).status_code == 201  # a re-tag
    assert world.v2.http.delete(f"/v2/{name}/manifests/v1").status_code == 202  # deletes work
    usage.set_quota(world.ctx, OPERATOR, None, ns, 1 << 20)
    assert world.v2.put_manifest(name, "v2", new).status_code == 201


def test_concurrent_commits_never_take_a_namespace_over(
    world: World, fresh: Callable[[], str]
) -> None:
    ns = fresh()
    world.push.image(f"{ns}/app", [os.urandom(100)], tags=("v1",))
    used = _used(world, ns)
    _quota(world, ns, used + 10_000)
    results: list[int] = []

    def push_one(i: int) -> None:
        with httpx.Client(
            base_url=world.server.url, auth=(world.server.username, world.server.password)
        ) as http:
            data = os.urandom(1500)
            r = http.post(
                f"/v2/{ns}/r{i % 3}/blobs/uploads/", params={"digest": sha256(data)}, content=data
            )
            results.append(r.status_code)

    threads = [threading.Thread(target=push_one, args=(i,)) for i in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(set(results)) == [201, 403]
    assert results.count(201) == 6  # 6 of 1500 bytes fit in 10,000, a 7th does not
    assert _used(world, ns) == used + 9000


def test_sizes_are_read_as_people_write_them() -> None:
    from dockyard.registry.sizes import format_size, parse_size

    assert parse_size("10GiB") == parse_size("10 Gi") == 10 << 30
    assert parse_size("2GB") == 2_000_000_000
    assert parse_size("1.5MiB") == 1_572_864
    assert parse_size("123") == parse_size("123B") == 123
    for bad in ("", "ten", "-1GiB", "10 parsecs", "1e3"):
        with pytest.raises(ValueError, match="not a size"):
            parse_size(bad)
    assert format_size(1288490189) == "1.2 GiB"
    assert format_size(512) == "512 B"


# -- garbage collection gives the room back ------------------------------------------------


def test_delete_and_gc_give_the_room_back(dockyard_factory: StartServer) -> None:
    server = dockyard_factory(
        extra_env={"DOCKYARD_GC_INTERVAL_MINUTES": "0", "DOCKYARD_GC_IN_FLIGHT_SECONDS": "0"}
    )
    for world in _world(server):
        ctx = dataclasses.replace(
            world.ctx,
            gc=GcSettings(grace_seconds=0, in_flight_seconds=0, untagged=True, interval_seconds=0),
        )
        shared = os.urandom(5000)
        old: Pushed = world.push.image("team/app", [shared, os.urandom(4000)], tags=("old",))
        world.push.image("team/web", [shared], tags=("v1",))
        used = _used(world, "team")
        _quota(world, "team", used)
        _denied(world.v2.http.post("/v2/team/app/blobs/uploads/"))

        assert world.v2.http.delete(f"/v2/team/app/manifests/{old.digest}").status_code == 202
        assert _used(world, "team") == used  # a delete frees nothing until GC runs
        run = gc.run(ctx, GcMode.COLLECT, grace=0, actor="tester")
        assert run.status == "done", run.error
        freed = old.config_size + 4000  # the shared layer stays: team/web uses it
        assert _used(world, "team") == used - freed
        assert usage.repository_usage(ctx, OPERATOR, "team/web").usage.shared_bytes == 0
        data = os.urandom(freed)
        r = world.v2.http.post(
            "/v2/team/app/blobs/uploads/", params={"digest": sha256(data)}, content=data
        )
        assert r.status_code == 201, r.text
        assert _used(world, "team") == used


def test_recount_rebuilds_the_counters(world: World, fresh: Callable[[], str]) -> None:
    ns = fresh()
    world.push.image(f"{ns}/app", [os.urandom(700)], tags=("v1",))
    used = _used(world, ns)
    with world.db.write() as conn:
        conn.execute(text("UPDATE namespace SET stored_bytes = 0 WHERE name = :n"), {"n": ns})
    with pytest.raises(Forbidden):
        usage.recount(world.ctx, world.rita, None)
    usage.recount(world.ctx, OPERATOR, None)
    assert _used(world, ns) == used
