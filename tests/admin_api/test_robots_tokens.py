"""Robots and personal tokens through the API: the secret once, with no-store; robots
signing in with it; revocation that takes effect at once."""

from __future__ import annotations

import httpx

from dockyard.metadata.db import Database
from fixtures.manage import PASSWORD, add_user

JANE = ("jane", PASSWORD)


def test_robot_lifecycle(client: httpx.Client, db: Database) -> None:
    add_user(db, "jane")
    add_user(db, "greg")
    client.post("/api/v1/repositories", json={"name": "team/app"}, auth=JANE)
    body = {
        "name": "ci",
        "description": "builds",
        "expires_in_days": 30,
        "grants": [{"role": "write", "on": "team"}],
    }
    created = client.post("/api/v1/robots", json=body, auth=JANE)
    assert created.status_code == 201
    assert created.headers["cache-control"] == "no-store"
    robot = created.json()
    assert (robot["name"], robot["username"], robot["grants"]) == (
        "ci",
        "robot$ci",
        [{"role": "write", "on": "team"}],
    )
    secret = robot["secret"]
    assert secret.startswith("dkyr_")
    bearer = {"Authorization": f"Bearer {secret}"}
    assert client.get("/api/v1/me", headers=bearer).json() == {
        "name": "robot$ci",
        "kind": "robot",
        "admin": False,
        "source": None,
    }
    assert client.get("/api/v1/me", auth=("robot$ci", secret)).status_code == 200
    # The robot sees what it may read, and may not mint tokens or robots.
    seen = client.get("/api/v1/repositories", headers=bearer).json()["repositories"]
    assert [r["name"] for r in seen] == ["team/app"]
    assert client.post("/api/v1/tokens", json={"name": "x"}, headers=bearer).status_code == 403
    assert "secret" not in client.get("/api/v1/robots/ci", auth=JANE).json()
    assert [r["name"] for r in client.get("/api/v1/robots", auth=JANE).json()] == ["ci"]
    assert client.get("/api/v1/robots", auth=("greg", PASSWORD)).json() == []
    assert client.get("/api/v1/robots/ci", auth=("greg", PASSWORD)).status_code == 404
    assert client.delete("/api/v1/robots/ci", auth=("greg", PASSWORD)).status_code == 404
    assert client.delete("/api/v1/robots/ci", auth=JANE).status_code == 204
    assert client.get("/api/v1/me", headers=bearer).status_code == 401
    assert client.get("/api/v1/robots/ci", auth=JANE).json()["revoked_at"] is not None


def test_robot_validation(client: httpx.Client, db: Database) -> None:
    add_user(db, "jane")
    client.post("/api/v1/namespaces", json={"name": "team"}, auth=JANE)
    for body in (
        {"name": "CI", "grants": [{"role": "read", "on": "team"}]},
        {"name": "ci", "grants": [{"role": "read", "on": "team"}], "expires_in_days": 0},
        {"name": "ci", "grants": [{"role": "boss", "on": "team"}]},
    ):
        assert client.post("/api/v1/robots", json=body, auth=JANE).status_code == 400, body
    # no grants: a registry admin's call, so a refusal rather than bad input
    no_grants = {"name": "ci", "grants": []}
    assert client.post("/api/v1/robots", json=no_grants, auth=JANE).status_code == 403


def test_tokens(client: httpx.Client, db: Database) -> None:
    add_user(db, "jane")
    created = client.post(
        "/api/v1/tokens", json={"name": "laptop", "expires_in_days": 90}, auth=JANE
    )
    assert created.status_code == 201
    assert created.headers["cache-control"] == "no-store"
    body = created.json()
    assert set(body) == {"id", "name", "secret", "created_at", "expires_at", "last_used_at"}
    assert body["secret"].startswith(f"dkyp_{body['id']}_")
    listed = client.get("/api/v1/tokens", auth=JANE).json()
    assert [(t["id"], t["name"]) for t in listed] == [(body["id"], "laptop")]
    assert "secret" not in listed[0]
    again = client.post("/api/v1/tokens", json={"name": "laptop"}, auth=JANE)
    assert again.status_code == 409
    assert client.delete("/api/v1/tokens/999", auth=JANE).status_code == 404
    assert client.delete(f"/api/v1/tokens/{body['id']}", auth=JANE).status_code == 204
    assert client.get("/api/v1/tokens", auth=JANE).json() == []
