"""Usage and quotas through the API: figures with a layer shared across repositories and
namespaces, who may read them, and that only registry admins set a quota (audited)."""

from __future__ import annotations

import time

import httpx
import pytest

from dockyard.metadata.db import Database
from dockyard.metadata.queries import blobs, repositories
from fixtures.manage import PASSWORD, add_user
from fixtures.sql import run_sql

SARAH = ("sarah", PASSWORD)  # registry admin
JANE = ("jane", PASSWORD)  # admin of namespace team (she made it)
GREG = ("greg", PASSWORD)  # nothing
BASE, APP, WEB, OPS = (
    "sha256:" + "a" * 64,
    "sha256:" + "b" * 64,
    "sha256:" + "c" * 64,
    "sha256:" + "d" * 64,
)
SIZES = {BASE: 4000, APP: 1000, WEB: 500, OPS: 20}


def _link(db: Database, repository: str, digests: list[str]) -> None:
    """Blobs linked as a push links them (the counters follow every link)."""
    now = int(time.time())
    with db.write() as conn:
        repo_id = repositories.ensure_repository(conn, repository, repository.split("/")[0], now)
        for digest in digests:
            blobs.add_blob(conn, digest, SIZES[digest], now)
            blobs.link_blob(conn, repo_id, digest, now)


@pytest.fixture(autouse=True)
def _content(db: Database, client: httpx.Client) -> None:
    add_user(db, "sarah", admin=True)
    add_user(db, "jane")
    add_user(db, "greg")
    assert client.post("/api/v1/namespaces", json={"name": "team"}, auth=JANE).status_code == 201
    _link(db, "team/app", [BASE, APP])
    _link(db, "team/web", [BASE, WEB])
    _link(db, "ops/tool", [BASE, OPS])


def test_repository_and_namespace_usage(client: httpx.Client) -> None:
    r = client.get("/api/v1/usage/repositories/team/app", auth=JANE)
    assert r.status_code == 200, r.text
    assert r.json()["usage"] == {
        "total_bytes": 5000, "own_bytes": 1000, "shared_bytes": 4000, "blobs": 2,
        "shared_blobs": 1,
    }  # fmt: skip
    assert r.json()["namespace"] == {
        "name": "team", "used_bytes": 5500, "quota": None, "over_quota": False,
    }  # fmt: skip
    ns = client.get("/api/v1/usage/namespaces/team", auth=JANE).json()
    assert ns["usage"] == {
        "total_bytes": 5500, "own_bytes": 1500, "shared_bytes": 4000, "blobs": 3,
        "shared_blobs": 1,
    }  # fmt: skip
    assert [(x["name"], x["usage"]["own_bytes"]) for x in ns["largest"]] == [
        ("team/app", 1000), ("team/web", 500),
    ]  # fmt: skip
    top = client.get("/api/v1/usage/namespaces/team", params={"top": 1}, auth=JANE).json()
    assert len(top["largest"]) == 1
    summary = client.get("/api/v1/usage", auth=SARAH).json()
    assert [(n["name"], n["used_bytes"]) for n in summary["namespaces"]] == [
        ("ops", 4020), ("team", 5500),
    ]  # fmt: skip
    assert summary["largest"][0]["name"] == "team/app"
    assert client.get("/api/v1/usage", auth=JANE).json()["largest"][-1]["name"] == "team/web"


def test_who_may_read_usage(client: httpx.Client) -> None:
    assert client.get("/api/v1/usage/repositories/team/app", auth=GREG).status_code == 404
    assert client.get("/api/v1/usage/namespaces/team", auth=GREG).status_code == 404
    assert client.get("/api/v1/namespaces/team/quota", auth=GREG).status_code == 404
    assert client.get("/api/v1/usage/namespaces/ops", auth=JANE).status_code == 404
    assert client.get("/api/v1/usage", auth=GREG).json() == {"namespaces": [], "largest": []}
    assert client.get("/api/v1/usage/repositories/team/app").status_code == 401


def test_only_registry_admins_set_and_clear_quotas(client: httpx.Client) -> None:
    body = {"quota_bytes": 5000}
    refused = client.put("/api/v1/namespaces/team/quota", json=body, auth=JANE)
    assert refused.status_code == 403
    assert refused.json()["errors"][0]["code"] == "DENIED"
    assert client.put("/api/v1/namespaces/team/quota", json=body, auth=GREG).status_code == 404
    assert (
        client.put(
            "/api/v1/namespaces/team/quota", json={"quota_bytes": -1}, auth=SARAH
        ).status_code
        == 400
    )
    assert client.put("/api/v1/namespaces/nope/quota", json=body, auth=SARAH).status_code == 404

    r = client.put("/api/v1/namespaces/team/quota", json=body, auth=SARAH)
    assert r.status_code == 200, r.text
    assert r.json()["quota"]["quota_bytes"] == 5000
    assert r.json()["quota"]["set_by"] == "sarah"
    assert r.json()["over_quota"] is True  # 5500 used
    seen = client.get("/api/v1/namespaces/team/quota", auth=JANE).json()
    assert (seen["used_bytes"], seen["quota"]["quota_bytes"]) == (5500, 5000)
    assert client.get("/api/v1/usage/namespaces/team", auth=JANE).json()["over_quota"] is True

    assert client.delete("/api/v1/namespaces/team/quota", auth=JANE).status_code == 403
    assert client.delete("/api/v1/namespaces/team/quota", auth=SARAH).status_code == 204
    assert client.delete("/api/v1/namespaces/team/quota", auth=SARAH).status_code == 404
    assert client.get("/api/v1/namespaces/team/quota", auth=JANE).json()["quota"] is None

    events = client.get("/api/v1/audit", params={"target": "namespace:team"}, auth=SARAH).json()
    actions = [e["action"] for e in events["events"]]
    assert "namespace.quota.set" in actions
    assert "namespace.quota.clear" in actions


def test_recount_is_for_registry_admins(client: httpx.Client, db: Database) -> None:
    with db.write() as conn:
        run_sql(conn, "UPDATE namespace SET stored_bytes = 1 WHERE name = 'team'")
    assert client.post("/api/v1/usage/recount", auth=JANE).status_code == 403
    assert client.post("/api/v1/usage/recount", auth=SARAH).status_code == 204
    assert client.get("/api/v1/namespaces/team/quota", auth=JANE).json()["used_bytes"] == 5500
