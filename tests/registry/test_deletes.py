"""The delete service against a real server: content pushed through /v2, deletes made by
the service on the same database (as the console and the admin API make them), and /v2
checked right after — its caches follow the database, nothing is invalidated by hand."""

from __future__ import annotations

import dataclasses
import os
import secrets
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import httpx
import pytest

from dockyard.auth.errors import Conflict, Forbidden, InvalidRequest, NotFound
from dockyard.auth.manage import ManageContext
from dockyard.auth.manage.grants import set_grant
from dockyard.auth.manage.repositories import create_repository
from dockyard.auth.principals import Principal
from dockyard.config import Settings
from dockyard.metadata.db import Database
from dockyard.metadata.queries import audit, users
from dockyard.metadata.queries import deletes as q
from dockyard.registry import deletes
from dockyard.registry.deletes import DeleteKind, ManifestRole
from fixtures.deletes import Pusher, blob_file
from fixtures.manage import OPERATOR, add_user
from fixtures.servers import DockyardServer
from fixtures.sql import run_sql
from fixtures.v2api import V2, sha256

ADDRESS = "10.9.8.7"


@dataclass
class World:
    server: DockyardServer
    db: Database
    ctx: ManageContext
    v2: V2
    push: Pusher
    admin: Principal  # the server's registry admin
    alice: Principal  # admin on namespace dl
    walt: Principal  # write on dl
    rita: Principal  # read on dl
    nora: Principal  # nothing
    olga: Principal  # admin on dm only


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    server = DockyardServer.create(tmp_path_factory.mktemp("deletes"))
    server.start()
    settings = Settings(data_dir=server.data_dir, database_url=server.database_url, direct_io=False)
    db = Database(settings.sqlalchemy_url)
    http = httpx.Client(base_url=server.url, auth=(server.username, server.password), timeout=60)
    try:
        ctx = ManageContext.from_settings(db, settings)
        people = {name: add_user(db, name) for name in ("alice", "walt", "rita", "nora", "olga")}
        for namespace in ("dl", "dm"):
            create_repository(ctx, OPERATOR, None, f"{namespace}/seed")
        for role, who, on in (("admin", "alice", "dl"), ("write", "walt", "dl"),
                              ("read", "rita", "dl"), ("admin", "olga", "dm")):  # fmt: skip
            set_grant(ctx, OPERATOR, None, role, f"user:{who}", on)
        with db.read() as conn:
            row = users.user_by_name(conn, server.username)
        assert row is not None
        admin = Principal.user(row.id, server.username, True)
        v2 = V2(http)
        yield World(server, db, ctx, v2, Pusher(v2), admin, **people)
    finally:
        http.close()
        db.close()
        server.stop()


@pytest.fixture
def fresh(request: pytest.FixtureRequest) -> Callable[[str], str]:
    """`fresh("dl")` -> a repository name in that namespace unique to this test."""
    test = request.node.name.replace("_", "-")[5:30].strip("-")
    return lambda namespace: f"{namespace}/{test}-{secrets.token_hex(3)}"


def _status(world: World, path: str) -> int:
    return world.v2.http.get(path).status_code


def _events(world: World, action: str, target: str) -> list[audit.AuditRow]:
    with world.db.read() as conn:
        return audit.list_events(conn, action=action, target=target)


def _blob_row(world: World, digest: str) -> bool:
    with world.db.read() as conn:
        return digest in q.blob_sizes(conn, [digest])


# -- tags --------------------------------------------------------------------------------


def test_tag_delete_keeps_the_sibling_tag(world: World, fresh: Callable[[str], str]) -> None:
    name = fresh("dl")
    image = world.push.image(name, [os.urandom(64)], tags=("one", "two"))
    plan = deletes.plan_tag_delete(world.ctx, world.alice, name, ["one"])
    assert plan.kind is DeleteKind.TAG
    assert [(t.tag, t.digest) for t in plan.tags] == [("one", image.digest)]
    assert (plan.manifests, plan.reclaimable_bytes) == ((), 0)
    assert _status(world, f"/v2/{name}/manifests/one") == 200  # now in the server's cache
    result = deletes.delete_tags(world.ctx, world.alice, ADDRESS, name, ["one"])
    assert result.undo is None
    assert _status(world, f"/v2/{name}/manifests/one") == 404  # at once: no stale cache
    assert _status(world, f"/v2/{name}/manifests/two") == 200
    assert _status(world, f"/v2/{name}/manifests/{image.digest}") == 200
    [event] = _events(world, "tag.delete", f"{name}:one")
    assert (event.actor, event.address) == ("alice", ADDRESS)


def test_multi_select_tags_and_missing_tag(world: World, fresh: Callable[[str], str]) -> None:
    name = fresh("dl")
    a = world.push.image(name, [os.urandom(32)], tags=("a", "b"))
    c = world.push.image(name, [os.urandom(32)], tags=("c",))
    with pytest.raises(NotFound, match="nope"):
        deletes.delete_tags(world.ctx, world.alice, ADDRESS, name, ["a", "nope"])
    assert _status(world, f"/v2/{name}/manifests/a") == 200  # all or nothing
    result = deletes.delete_tags(world.ctx, world.alice, ADDRESS, name, ["a", "c"])
    assert {(t.tag, t.digest) for t in result.plan.tags} == {("a", a.digest), ("c", c.digest)}
    assert world.v2.http.get(f"/v2/{name}/tags/list").json()["tags"] == ["b"]
    with pytest.raises(InvalidRequest):
        deletes.plan_tag_delete(world.ctx, world.alice, name, [])


# -- manifests ---------------------------------------------------------------------------


def test_manifest_delete_lists_every_tag_and_its_bytes(
    world: World, fresh: Callable[[str], str]
) -> None:
    name, other = fresh("dl"), fresh("dl")
    shared, own = os.urandom(300), os.urandom(500)
    image = world.push.image(name, [shared, own, own], tags=("x", "y"))  # `own` twice
    world.push.image(other, [shared], tags=("stays",))
    plan = deletes.plan_manifest_delete(world.ctx, world.alice, name, [image.digest])
    [ref] = plan.manifests
    assert (ref.digest, ref.tags, ref.role) == (image.digest, ("x", "y"), ManifestRole.IMAGE)
    assert {t.tag for t in plan.tags} == {"x", "y"}
    # the shared layer stays in use by the other repository; `own` counts once
    assert plan.reclaimable_bytes == len(own) + image.config_size
    deletes.delete_manifests(world.ctx, world.alice, ADDRESS, name, [image.digest])
    for reference in ("x", "y", image.digest):
        assert _status(world, f"/v2/{name}/manifests/{reference}") == 404
    assert _status(world, f"/v2/{other}/manifests/stays") == 200
    [event] = _events(world, "manifest.delete", f"{name}@{image.digest}")
    assert event.detail is not None
    assert event.detail["tags"] == ["x", "y"]


def test_index_takes_the_children_only_it_lists(world: World, fresh: Callable[[str], str]) -> None:
    name = fresh("dl")
    amd = world.push.image(name, [os.urandom(40)])
    arm = world.push.image(name, [os.urandom(40)], tags=("arm-only",))
    index = world.push.index(name, [amd, arm], tags=("multi",))
    with pytest.raises(Conflict, match=index.digest):
        deletes.plan_manifest_delete(world.ctx, world.alice, name, [amd.digest])
    plan = deletes.plan_manifest_delete(world.ctx, world.alice, name, [index.digest])
    roles = {m.digest: m.role for m in plan.manifests}
    assert roles == {index.digest: ManifestRole.INDEX, amd.digest: ManifestRole.INDEX_CHILD}
    assert plan.manifests[0].digest == index.digest  # what was named comes first
    deletes.delete_manifests(world.ctx, world.alice, ADDRESS, name, [index.digest])
    assert _status(world, f"/v2/{name}/manifests/{amd.digest}") == 404
    assert _status(world, f"/v2/{name}/manifests/arm-only") == 200  # tagged: it stays


def test_accessories_go_with_their_subject(world: World, fresh: Callable[[str], str]) -> None:
    name = fresh("dl")
    image = world.push.image(name, [os.urandom(50)], tags=("v1",))
    sbom = world.push.image(name, [b"sbom"], subject=image, artifact_type="application/spdx+json")
    sbom_sig = world.push.image(name, [b"sbom signature"], subject=sbom)
    cosign = world.push.cosign_signature(name, image)
    plan = deletes.plan_manifest_delete(world.ctx, world.alice, name, [image.digest])
    roles = {m.digest: m.role for m in plan.manifests}
    assert roles == {
        image.digest: ManifestRole.IMAGE,
        sbom.digest: ManifestRole.ACCESSORY,
        sbom_sig.digest: ManifestRole.ACCESSORY,  # an accessory of an accessory
        cosign.digest: ManifestRole.ACCESSORY,
    }
    algorithm, hexpart = image.digest.split(":")
    assert f"{algorithm}-{hexpart}.sig" in {t.tag for t in plan.tags}
    deletes.delete_manifests(world.ctx, world.alice, ADDRESS, name, [image.digest])
    for gone in (image, sbom, sbom_sig, cosign):
        assert _status(world, f"/v2/{name}/manifests/{gone.digest}") == 404
    assert world.v2.http.get(f"/v2/{name}/referrers/{image.digest}").json()["manifests"] == []


# -- repositories ------------------------------------------------------------------------


def test_repository_delete_takes_everything(world: World, fresh: Callable[[str], str]) -> None:
    name = fresh("dl")
    child = world.push.image(name, [os.urandom(70)])
    world.push.index(name, [child], tags=("latest",))
    world.push.image(name, [os.urandom(70)], tags=("old",))
    set_grant(world.ctx, OPERATOR, None, "read", "user:nora", name)
    deletes.delete_tags(world.ctx, world.alice, ADDRESS, name, ["old"], undoable=True)
    upload = world.v2.http.post(f"/v2/{name}/blobs/uploads/")
    assert upload.status_code == 202
    plan = deletes.plan_repository_delete(world.ctx, world.alice, name)
    assert (len(plan.manifests), {t.tag for t in plan.tags}) == (3, {"latest"})
    deletes.delete_repository(world.ctx, world.alice, ADDRESS, name)
    assert name not in world.v2.catalog()
    assert _status(world, f"/v2/{name}/tags/list") == 404
    assert world.v2.http.get(upload.headers["location"]).status_code == 404
    with world.db.read() as conn:
        assert q.repositories_linking(conn, child.config) == {}
    with pytest.raises(NotFound):  # its grant went with it: nora cannot see a trace
        deletes.plan_repository_delete(world.ctx, world.nora, name)
    assert _events(world, "repository.delete", f"repository:{name}")


# -- layers ------------------------------------------------------------------------------


def test_layer_purge_across_repositories(world: World, fresh: Callable[[str], str]) -> None:
    first, second = fresh("dl"), fresh("dl")
    secret, common = os.urandom(1000), os.urandom(200)
    leaky = world.push.image(first, [common, secret], tags=("leaky",))
    clean = world.push.image(first, [common], tags=("clean",))
    index = world.push.index(first, [leaky, clean], tags=("multi",))
    signature = world.push.cosign_signature(first, leaky)
    copy = world.push.image(second, [secret], tags=("copy",))
    digest = sha256(secret)
    plan = deletes.plan_layer_purge(world.ctx, world.admin, digest)
    roles = {(m.repository, m.digest): m.role for m in plan.manifests}
    assert roles == {
        (first, leaky.digest): ManifestRole.IMAGE,
        (first, index.digest): ManifestRole.INDEX,
        (first, signature.digest): ManifestRole.ACCESSORY,
        (second, copy.digest): ManifestRole.IMAGE,
    }
    assert set(plan.repositories) == {first, second}
    # the secret, the configs only the images used and the signature's own blobs;
    # `common` stays with `clean`
    signed = len(b"signature of " + leaky.digest.encode()) + signature.config_size
    assert plan.reclaimable_bytes == len(secret) + leaky.config_size + copy.config_size + signed
    assert plan.hidden == plan.hidden_repositories == 0
    for repository in (first, second):  # cached as present
        assert _status(world, f"/v2/{repository}/blobs/{digest}") == 200
    deletes.purge_layer(world.ctx, world.admin, ADDRESS, digest)
    for repository in (first, second):
        assert _status(world, f"/v2/{repository}/blobs/{digest}") == 404
    assert not blob_file(world.server.data_dir, digest).exists()
    assert not _blob_row(world, digest)
    assert _status(world, f"/v2/{first}/manifests/clean") == 200
    assert _status(world, f"/v2/{first}/manifests/multi") == 404
    # nothing can mount it back from anywhere; pushing the bytes again starts afresh
    mount = world.v2.http.post(
        f"/v2/{fresh('dl')}/blobs/uploads/", params={"mount": digest, "from": first}
    )
    assert mount.status_code == 202
    assert _events(world, "layer.purge", f"layer:{digest}")


def test_layer_purge_needs_admin_on_every_repository(
    world: World, fresh: Callable[[str], str]
) -> None:
    mine, theirs = fresh("dm"), fresh("dl")
    secret = os.urandom(100)
    world.push.image(mine, [secret], tags=("v1",))
    world.push.image(theirs, [secret], tags=("v1",))
    digest = sha256(secret)
    plan = deletes.plan_layer_purge(world.ctx, world.olga, digest)
    assert (plan.hidden, plan.hidden_repositories) == (1, 1)
    assert {m.repository for m in plan.manifests} == {mine}
    assert plan.repositories == (mine,)
    with pytest.raises(Forbidden, match="registry admin"):
        deletes.purge_layer(world.ctx, world.olga, ADDRESS, digest)
    assert _status(world, f"/v2/{mine}/blobs/{digest}") == 200
    with pytest.raises(Forbidden, match="admin"):  # reads, administers none
        deletes.plan_layer_purge(world.ctx, world.rita, digest)
    with pytest.raises(NotFound):  # sees none of it: no oracle
        deletes.plan_layer_purge(world.ctx, world.nora, digest)
    with pytest.raises(NotFound):
        deletes.plan_layer_purge(world.ctx, world.admin, sha256(b"never pushed"))


# -- permissions -------------------------------------------------------------------------


@pytest.mark.parametrize("who", ["rita", "walt"])
def test_readers_and_writers_may_not_delete(
    world: World, fresh: Callable[[str], str], who: str
) -> None:
    name = fresh("dl")
    image = world.push.image(name, [os.urandom(20)], tags=("v1",))
    caller = getattr(world, who)
    calls: list[Callable[[], object]] = [
        lambda: deletes.plan_tag_delete(world.ctx, caller, name, ["v1"]),
        lambda: deletes.delete_tags(world.ctx, caller, ADDRESS, name, ["v1"]),
        lambda: deletes.delete_manifests(world.ctx, caller, ADDRESS, name, [image.digest]),
        lambda: deletes.delete_repository(world.ctx, caller, ADDRESS, name),
    ]
    for call in calls:
        with pytest.raises(Forbidden, match="admin role"):
            call()
    assert _status(world, f"/v2/{name}/manifests/v1") == 200


def test_no_existence_oracle(world: World, fresh: Callable[[str], str]) -> None:
    name = fresh("dl")
    world.push.image(name, [os.urandom(20)], tags=("v1",))
    messages = []
    for repository in (name, fresh("dl")):  # existing, missing
        with pytest.raises(NotFound) as err:
            deletes.plan_repository_delete(world.ctx, world.nora, repository)
        messages.append(err.value.message.replace(repository, "R"))
    assert messages[0] == messages[1]
    with pytest.raises(NotFound):  # a missing tag in a repository alice administers
        deletes.plan_tag_delete(world.ctx, world.alice, name, ["v2"])


# -- undo --------------------------------------------------------------------------------


def test_undo_tag_and_manifest_deletes(world: World, fresh: Callable[[str], str]) -> None:
    name = fresh("dl")
    child = world.push.image(name, [os.urandom(30)])
    index = world.push.index(name, [child], tags=("multi", "latest"))
    signature = world.push.cosign_signature(name, index)
    tagged = deletes.delete_tags(world.ctx, world.alice, ADDRESS, name, ["latest"], undoable=True)
    assert tagged.undo is not None
    assert tagged.undo_until is not None
    deletes.undo(world.ctx, world.alice, ADDRESS, tagged.undo)
    assert _status(world, f"/v2/{name}/manifests/latest") == 200
    gone = deletes.delete_manifests(
        world.ctx, world.alice, ADDRESS, name, [index.digest], undoable=True
    )
    assert len(gone.plan.manifests) == 3
    assert gone.undo is not None
    assert _status(world, f"/v2/{name}/manifests/{child.digest}") == 404
    restored = deletes.undo(world.ctx, world.alice, ADDRESS, gone.undo)
    assert set(restored.manifests) == {index.digest, child.digest, signature.digest}
    for reference in ("multi", "latest", child.digest, signature.digest):
        assert _status(world, f"/v2/{name}/manifests/{reference}") == 200
    with pytest.raises(NotFound):  # once only
        deletes.undo(world.ctx, world.alice, ADDRESS, gone.undo)
    assert _events(world, "delete.undo", name)


def test_undo_only_in_time_and_by_whoever_deleted(
    world: World, fresh: Callable[[str], str]
) -> None:
    name = fresh("dl")
    world.push.image(name, [os.urandom(30)], tags=("v1", "v2"))
    handle = deletes.delete_tags(world.ctx, world.alice, ADDRESS, name, ["v1"], undoable=True).undo
    assert handle is not None
    later = dataclasses.replace(world.ctx, clock=lambda: world.ctx.clock() + 601)
    with pytest.raises(Conflict, match="too late"):
        deletes.undo(later, world.alice, ADDRESS, handle)
    set_grant(world.ctx, OPERATOR, None, "admin", "user:olga", name)
    with pytest.raises(Forbidden):  # an admin of the repository, but not who deleted
        deletes.undo(world.ctx, world.olga, ADDRESS, handle)
    deletes.undo(world.ctx, world.admin, ADDRESS, handle)  # a registry admin may
    assert _status(world, f"/v2/{name}/manifests/v1") == 200
    # a delete made later prunes undo records past the window
    old = deletes.delete_tags(world.ctx, world.alice, ADDRESS, name, ["v1"], undoable=True).undo
    assert old is not None
    deletes.delete_tags(later, world.alice, ADDRESS, name, ["v2"], undoable=True)
    with pytest.raises(NotFound):
        deletes.undo(world.ctx, world.alice, ADDRESS, old)


def test_undo_refused_when_a_tag_moved_or_a_blob_was_purged(
    world: World, fresh: Callable[[str], str]
) -> None:
    name = fresh("dl")
    secret = os.urandom(60)
    image = world.push.image(name, [secret], tags=("v1",))
    handle = deletes.delete_tags(world.ctx, world.alice, ADDRESS, name, ["v1"], undoable=True).undo
    assert handle is not None
    world.push.image(name, [os.urandom(60)], tags=("v1",))
    with pytest.raises(Conflict, match="pushed again"):
        deletes.undo(world.ctx, world.alice, ADDRESS, handle)
    gone = deletes.delete_manifests(
        world.ctx, world.alice, ADDRESS, name, [image.digest], undoable=True
    )
    assert gone.undo is not None
    deletes.purge_layer(world.ctx, world.alice, ADDRESS, sha256(secret))
    with pytest.raises(Conflict, match="purged"):
        deletes.undo(world.ctx, world.alice, ADDRESS, gone.undo)
    assert _status(world, f"/v2/{name}/manifests/{image.digest}") == 404


# -- purge against a concurrent upload ---------------------------------------------------


def test_a_blob_row_never_outlives_its_file(world: World, fresh: Callable[[str], str]) -> None:
    """An upload of the digest being purged: whichever commits first, the blob's row and
    its file exist together or not at all (pitfalls §14)."""
    data = os.urandom(256 * 1024)
    digest = sha256(data)
    holder = fresh("dl")
    errors: list[BaseException] = []
    for round_ in range(8):
        world.v2.push_blob(holder, data)
        uploader = fresh("dl")

        def upload(target: str = uploader) -> None:
            try:
                world.v2.push_blob(target, data)
            except BaseException as exc:  # reported below
                errors.append(exc)

        thread = threading.Thread(target=upload)
        thread.start()
        deletes.purge_layer(world.ctx, world.admin, ADDRESS, digest)  # the holder has it
        thread.join()
        assert not errors, errors
        on_disk = blob_file(world.server.data_dir, digest).exists()
        assert _blob_row(world, digest) == on_disk, f"round {round_}"
        if on_disk:
            assert world.v2.http.head(f"/v2/{uploader}/blobs/{digest}").status_code == 200


def test_stored_bytes_follow_every_link_and_unlink(
    world: World, fresh: Callable[[str], str]
) -> None:
    """`repository.stored_bytes` (what the Images list sorts by size on) stays equal to the
    sizes of the blobs linked in each repository through pushes, a mount, a blob delete, a
    manifest delete and a layer purge."""

    def check(*names: str) -> None:
        with world.db.read() as conn:
            for name in names:
                kept, computed = run_sql(
                    conn,
                    "SELECT r.stored_bytes, COALESCE((SELECT SUM(b.size) FROM repository_blob rb"
                    " JOIN blob b ON b.digest = rb.digest WHERE rb.repository_id = r.id), 0)"
                    " FROM repository r WHERE r.name = ?",
                    (name,),
                ).one()
                assert kept == computed, name

    first, second = fresh("dl"), fresh("dl")
    shared, own, loose = os.urandom(300), os.urandom(200), os.urandom(100)
    image = world.push.image(first, [shared, own], tags=("v1",))
    world.v2.push_blob(first, shared)  # pushed again: no second count
    loose_digest = world.v2.push_blob(first, loose)
    check(first)
    mounted = world.v2.http.post(
        f"/v2/{second}/blobs/uploads/", params={"mount": sha256(shared), "from": first}
    )
    assert mounted.status_code == 201
    check(first, second)
    assert world.v2.http.delete(f"/v2/{first}/blobs/{loose_digest}").status_code == 202
    check(first)
    deletes.delete_manifests(world.ctx, world.alice, ADDRESS, first, [image.digest])
    check(first)
    deletes.purge_layer(world.ctx, world.alice, ADDRESS, sha256(shared))
    check(first, second)
    with world.db.read() as conn:
        sizes = run_sql(
            conn, "SELECT name, stored_bytes FROM repository WHERE name IN (?, ?)", (first, second)
        ).all()
    assert {name: size for name, size in sizes}[second] == 0
