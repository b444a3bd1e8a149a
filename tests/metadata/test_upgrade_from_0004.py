"""A database made by the 0004 release upgrades in place when today's server starts on it,
on the suite's back end (DOCKYARD_TEST_DATABASE): every image, tag, user, group and grant
it held is served as before, and what later revisions derive (stored bytes per repository
and namespace, the GC review queues) is computed from the old rows."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from alembic import command
from alembic.config import Config

import dockyard.metadata.db as db_module
from dockyard.auth.passwords import hash_password
from dockyard.metadata.db import Database
from fixtures import postgres
from fixtures.deletes import blob_file
from fixtures.servers import DockyardServer
from fixtures.sql import run_sql
from fixtures.v2api import sha256

pytestmark = pytest.mark.slow

CONFIG = json.dumps({"architecture": "amd64", "os": "linux", "rootfs": {"type": "layers"}}).encode()
LAYER = b"layer bytes of the old release" * 40
LEFT_OVER = b"a layer no manifest uses any more" * 60  # linked, unreferenced: GC's to judge
SARAH_PASSWORD = "sarah-in-qa-1"  # noqa: S105 - a test account
MEDIA = "application/vnd.oci.image.manifest.v1+json"


def _manifest() -> bytes:
    def descriptor(media_type: str, data: bytes) -> dict[str, object]:
        return {"mediaType": media_type, "digest": sha256(data), "size": len(data)}

    return json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": MEDIA,
            "config": descriptor("application/vnd.oci.image.config.v1+json", CONFIG),
            "layers": [descriptor("application/vnd.oci.image.layer.v1.tar", LAYER)],
        }
    ).encode()


@pytest.fixture
def old_database(tmp_path: Path) -> Iterator[str]:
    """An empty database on the suite's back end, dropped after the test."""
    if postgres.BACKEND == "postgresql":
        url = postgres.cluster().create_database(migrated=False)
        yield url
        postgres.cluster().drop_database(url)
    else:
        yield f"sqlite:///{tmp_path / 'old.db'}"


def _populate_at_0004(url: str, admin_password: str) -> None:
    """What a 0004 registry held: one tagged image, a left-over layer, its admin, and a
    local user in a local group with read on the namespace. Rows are written as that
    release wrote them, its running stored_bytes included (no explicit ids, so
    PostgreSQL's sequences stay in step)."""
    config = Config()
    config.set_main_option("script_location", str(db_module._MIGRATIONS))
    db = Database(url)
    manifest = _manifest()
    try:
        with db.writer.connect() as conn:
            config.attributes["connection"] = conn
            command.upgrade(config, "0004")
            conn.commit()
        with db.write() as conn:

            def sql(statement: str, *params: object) -> object:
                result = run_sql(conn, statement, params)
                return result.scalar() if result.returns_rows else None

            everything = len(CONFIG) + len(LAYER) + len(LEFT_OVER)
            sql("INSERT INTO namespace (name, policy, created_at) VALUES ('shop', 'private', 10)")
            repo = sql(
                "INSERT INTO repository (name, namespace, created_at, pushed_at, stored_bytes) "
                "VALUES ('shop/api', 'shop', 10, 20, ?) RETURNING id",
                everything,
            )
            for data in (CONFIG, LAYER, LEFT_OVER):
                digest = sha256(data)
                sql(
                    "INSERT INTO blob (digest, size, created_at) VALUES (?, ?, 15)",
                    digest,
                    len(data),
                )
                sql(
                    "INSERT INTO repository_blob (repository_id, digest, linked_at) "
                    "VALUES (?, ?, 15)",
                    repo,
                    digest,
                )
            man = sql(
                "INSERT INTO manifest (repository_id, digest, media_type, payload, size, "
                "config_digest, created_at, pushed_by) VALUES (?, ?, ?, ?, ?, ?, 20, 'admin') "
                "RETURNING id",
                *(repo, sha256(manifest), MEDIA, manifest, len(manifest), sha256(CONFIG)),
            )
            references = [
                ("config", CONFIG, "application/vnd.oci.image.config.v1+json"),
                ("layer", LAYER, "application/vnd.oci.image.layer.v1.tar"),
            ]
            for position, (kind, data, media) in enumerate(references):
                sql(
                    "INSERT INTO manifest_reference (manifest_id, position, kind, digest, size, "
                    "media_type, repository_id) VALUES (?, ?, ?, ?, ?, ?, ?)",
                    *(man, position, kind, sha256(data), len(data), media, repo),
                )
            sql(
                "INSERT INTO tag (repository_id, name, manifest_id, updated_at, immutable) "
                "VALUES (?, 'v1', ?, 20, ?)",
                *(repo, man, False),
            )
            user = sql(
                'INSERT INTO "user" (source, name, password_hash, is_admin, disabled, '
                "created_at) VALUES ('local', 'sarah', ?, ?, ?, 10) RETURNING id",
                *(hash_password(SARAH_PASSWORD), False, False),
            )
            sql(
                'INSERT INTO "user" (source, name, password_hash, is_admin, disabled, '
                "created_at) VALUES ('local', 'admin', ?, ?, ?, 5)",
                *(hash_password(admin_password), True, False),
            )
            group = sql(
                "INSERT INTO user_group (source, name, created_at) "
                "VALUES ('local', 'qa', 10) RETURNING id"
            )
            sql("INSERT INTO group_member (group_id, user_id) VALUES (?, ?)", group, user)
            namespace = sql("SELECT id FROM namespace WHERE name = 'shop'")
            sql(
                "INSERT INTO access_grant (principal_key, target_key, group_id, namespace_id, "
                "role, created_at) VALUES (?, ?, ?, ?, 'read', 10)",
                *(f"g{group}", f"n{namespace}", group, namespace),
            )
    finally:
        db.close()


def test_a_populated_0004_database_upgrades_and_serves(old_database: str, tmp_path: Path) -> None:
    base = tmp_path / "server"
    env = {"DOCKYARD_DATABASE_URL": old_database, "DOCKYARD_GC_INTERVAL_MINUTES": "0"}
    server = DockyardServer.create(base, extra_env=env)
    _populate_at_0004(old_database, server.password)
    for data in (CONFIG, LAYER, LEFT_OVER):  # the blob store the old release filled
        path = blob_file(server.data_dir, sha256(data))
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    manifest = _manifest()
    server.start()  # migrates 0004 -> head
    try:
        db = Database(old_database)
        try:
            assert db.at_head()
            with db.read() as conn:
                repo_bytes = run_sql(
                    conn, "SELECT stored_bytes FROM repository WHERE name = 'shop/api'"
                ).scalar()
                ns_bytes = run_sql(
                    conn, "SELECT stored_bytes FROM namespace WHERE name = 'shop'"
                ).scalar()
                queued = {
                    row[0] for row in run_sql(conn, "SELECT digest FROM gc_blob_review").all()
                }
        finally:
            db.close()
        everything = len(CONFIG) + len(LAYER) + len(LEFT_OVER)
        assert (repo_bytes, ns_bytes) == (everything, everything)
        assert queued == {sha256(LEFT_OVER)}  # the only link no manifest references

        with httpx.Client(base_url=server.url, auth=("sarah", SARAH_PASSWORD)) as sarah:
            r = sarah.get("/v2/shop/api/manifests/v1", headers={"Accept": MEDIA})
            assert r.status_code == 200, r.text
            assert r.content == manifest
            assert r.headers["Docker-Content-Digest"] == sha256(manifest)
            layer = sarah.get(f"/v2/shop/api/blobs/{sha256(LAYER)}", follow_redirects=True)
            assert (layer.status_code, layer.content) == (200, LAYER)
            assert sarah.get("/v2/shop/api/tags/list").json()["tags"] == ["v1"]
            # read through the group, not write: a push is refused
            push = sarah.post("/v2/shop/api/blobs/uploads/")
            assert push.status_code in (401, 403), push.text
        with httpx.Client(base_url=server.url, auth=(server.username, server.password)) as admin:
            # new rows take ids after the old ones (sequences in step on PostgreSQL)
            started = admin.post("/v2/shop/web/blobs/uploads/")
            assert started.status_code == 202, started.text
            users = admin.get("/api/v1/users").json()
            assert {"sarah", "admin"} <= {u["name"] for u in users}
    finally:
        server.stop()
