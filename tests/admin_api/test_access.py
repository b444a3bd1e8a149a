"""Namespaces, repositories and grants through the API: the story's setup, pages, names
with slashes, and 404 for what the caller may not see."""

from __future__ import annotations

import httpx
import pytest

from dockyard.metadata.db import Database
from fixtures.manage import PASSWORD, add_user

SARAH = ("sarah", PASSWORD)
JANE = ("jane", PASSWORD)
GREG = ("greg", PASSWORD)


@pytest.fixture(autouse=True)
def _people(db: Database) -> None:
    add_user(db, "sarah", admin=True)
    add_user(db, "jane")
    add_user(db, "greg")


def test_story_setup(client: httpx.Client) -> None:
    created = client.post("/api/v1/repositories", json={"name": "skyfield"}, auth=SARAH)
    assert created.status_code == 201
    assert created.json() == {
        "name": "skyfield",
        "namespace": "skyfield",
        "policy": None,
        "effective_policy": "private",
        "created_at": created.json()["created_at"],
        "pushed_at": None,
        "size": 0,
    }
    grant = {"role": "write", "to": "user:jane", "on": "repository:skyfield"}
    answer = client.post("/api/v1/grants", json=grant, auth=SARAH)
    assert answer.status_code == 201
    assert {k: answer.json()[k] for k in ("to", "on", "role", "created_by")} == {
        "to": "user:jane",
        "on": "repository:skyfield",
        "role": "write",
        "created_by": "sarah",
    }
    assert client.get("/api/v1/repositories/skyfield", auth=JANE).status_code == 200
    assert client.get("/api/v1/repositories/skyfield", auth=GREG).status_code == 404
    listed = client.get("/api/v1/grants", params={"on": "repository:skyfield"}, auth=SARAH)
    assert [g["to"] for g in listed.json()] == ["user:jane"]
    revoked = client.delete(
        "/api/v1/grants", params={"to": "user:jane", "on": "repository:skyfield"}, auth=SARAH
    )
    assert revoked.status_code == 204
    assert client.get("/api/v1/repositories/skyfield", auth=JANE).status_code == 404


def test_namespaces(client: httpx.Client) -> None:
    created = client.post("/api/v1/namespaces", json={"name": "team"}, auth=JANE)
    assert created.status_code == 201
    assert set(created.json()) == {"name", "policy", "created_at", "created_by"}
    assert [n["name"] for n in client.get("/api/v1/namespaces", auth=JANE).json()] == ["team"]
    assert client.get("/api/v1/namespaces", auth=GREG).json() == []
    assert client.get("/api/v1/namespaces/team", auth=GREG).status_code == 404
    assert (
        client.patch("/api/v1/namespaces/team", json={"policy": "shared"}, auth=GREG).status_code
        == 404
    )
    patched = client.patch("/api/v1/namespaces/team", json={"policy": "shared"}, auth=JANE)
    assert patched.json()["policy"] == "shared"
    bad = client.patch("/api/v1/namespaces/team", json={"policy": "public"}, auth=JANE)
    assert bad.status_code == 400
    for name in ("a/b", "Team", "-x", ""):
        response = client.post("/api/v1/namespaces", json={"name": name}, auth=JANE)
        assert response.status_code == 400, name


def test_repositories_with_slashes_pages_and_policies(client: httpx.Client) -> None:
    for name in ("team/a", "team/b/c", "team/d"):
        response = client.post("/api/v1/repositories", json={"name": name}, auth=JANE)
        assert response.status_code == 201, response.text
    assert client.get("/api/v1/repositories/team/b/c", auth=JANE).json()["name"] == "team/b/c"
    page = client.get("/api/v1/repositories", params={"n": 2}, auth=JANE).json()
    assert [r["name"] for r in page["repositories"]] == ["team/a", "team/b/c"]
    assert page["next"] == "team/b/c"
    rest = client.get("/api/v1/repositories", params={"n": 2, "last": page["next"]}, auth=JANE)
    assert [r["name"] for r in rest.json()["repositories"]] == ["team/d"]
    assert rest.json()["next"] is None
    assert client.get("/api/v1/repositories", auth=GREG).json() == {
        "repositories": [],
        "next": None,
    }
    opened = client.patch("/api/v1/repositories/team/d", json={"policy": "anonymous"}, auth=JANE)
    assert (opened.json()["policy"], opened.json()["effective_policy"]) == ("anonymous",) * 2
    seen = client.get("/api/v1/repositories", auth=GREG).json()["repositories"]
    assert [r["name"] for r in seen] == ["team/d"]
    refused = client.patch("/api/v1/repositories/team/d", json={"policy": None}, auth=GREG)
    assert refused.status_code == 403
    assert client.get("/api/v1/repositories", params={"n": 0}, auth=JANE).status_code == 400


@pytest.mark.parametrize("name", ["Team/app", "team//app", "team/app/", "-team", "a" * 256])
def test_repository_names_follow_the_oci_grammar(client: httpx.Client, name: str) -> None:
    response = client.post("/api/v1/repositories", json={"name": name}, auth=SARAH)
    assert response.status_code == 400


def test_grant_errors(client: httpx.Client) -> None:
    client.post("/api/v1/namespaces", json={"name": "team"}, auth=JANE)
    for grant, status in [
        ({"role": "read", "to": "user:greg", "on": "team/later"}, 404),  # create it first
        ({"role": "read", "to": "user:nobody", "on": "team"}, 404),
        ({"role": "read", "to": "greg", "on": "team"}, 400),
        ({"role": "owner", "to": "user:greg", "on": "team"}, 400),
    ]:
        response = client.post("/api/v1/grants", json=grant, auth=JANE)
        assert response.status_code == status, grant
    own = {"role": "admin", "to": "user:greg", "on": "team"}
    assert client.post("/api/v1/grants", json=own, auth=GREG).status_code == 404
    missing = client.delete("/api/v1/grants", params={"to": "user:greg", "on": "team"}, auth=JANE)
    assert missing.status_code == 404
    assert client.delete("/api/v1/grants", params={"to": "user:greg"}, auth=JANE).status_code == 400
