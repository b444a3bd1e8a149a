"""`/audit`: events of the other routes, newest first, filters and pages."""

from __future__ import annotations

import httpx

from dockyard.metadata.db import Database
from fixtures.manage import PASSWORD, add_user

SARAH = ("sarah", PASSWORD)


def test_audit_records_and_pages(client: httpx.Client, db: Database) -> None:
    add_user(db, "sarah", admin=True)
    client.post("/api/v1/users", json={"name": "jane", "password": "jane-pass-1"}, auth=SARAH)
    client.post("/api/v1/repositories", json={"name": "dev/app"}, auth=SARAH)
    client.post("/api/v1/grants", json={"role": "read", "to": "user:jane", "on": "dev"}, auth=SARAH)
    page = client.get("/api/v1/audit", params={"actor": "sarah", "limit": 2}, auth=SARAH).json()
    first = page["events"]
    assert [e["action"] for e in first] == ["grant.set", "repository.create"]
    assert set(first[0]) == {"id", "at", "actor", "action", "target", "address", "detail"}
    assert first[0]["address"] == "10.1.2.3"
    assert first[0]["detail"] == {"to": "user:jane", "role": "read"}
    rest = client.get(
        "/api/v1/audit", params={"actor": "sarah", "before": page["next"]}, auth=SARAH
    ).json()
    assert [e["action"] for e in rest["events"]] == [
        "namespace.create",
        "user.create",
        "login.success",
    ]
    assert rest["next"] is None
    assert "jane-pass-1" not in str(rest)
    logins = client.get("/api/v1/audit", params={"action": "login"}, auth=SARAH).json()
    assert {e["action"] for e in logins["events"]} == {"login.success"}
    future = client.get("/api/v1/audit", params={"since": "2999-01-01T00:00:00Z"}, auth=SARAH)
    assert future.json()["events"] == []
    epoch = client.get("/api/v1/audit", params={"until": 0}, auth=SARAH)
    assert epoch.json()["events"] == []
