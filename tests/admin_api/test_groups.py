"""`/groups`: local groups and members through the API."""

from __future__ import annotations

import httpx

from dockyard.metadata.db import Database
from fixtures.manage import PASSWORD, add_user

ADMIN = ("sarah", PASSWORD)


def test_groups_and_members(client: httpx.Client, db: Database) -> None:
    add_user(db, "sarah", admin=True)
    add_user(db, "greg")
    created = client.post("/api/v1/groups", json={"name": "qa"}, auth=ADMIN)
    assert created.status_code == 201
    assert created.json()["source"] == "local"
    assert client.post("/api/v1/groups", json={"name": "qa"}, auth=ADMIN).status_code == 409
    assert client.put("/api/v1/groups/qa/members/greg", auth=ADMIN).status_code == 204
    assert client.put("/api/v1/groups/qa/members/nobody", auth=ADMIN).status_code == 404
    detail = client.get("/api/v1/groups/qa", auth=ADMIN).json()
    assert (detail["members"], detail["member_count"]) == (["greg"], 1)
    listed = client.get("/api/v1/groups", auth=ADMIN).json()
    assert [(g["name"], g["member_count"], g["members"]) for g in listed] == [("qa", 1, None)]
    assert client.delete("/api/v1/groups/qa/members/greg", auth=ADMIN).status_code == 204
    assert client.delete("/api/v1/groups/qa/members/greg", auth=ADMIN).status_code == 404
    assert client.delete("/api/v1/groups/qa", auth=ADMIN).status_code == 204
    assert client.get("/api/v1/groups/qa", auth=ADMIN).status_code == 404
    assert client.post("/api/v1/groups", json={"name": "Q A"}, auth=ADMIN).status_code == 400
