"""`/users`: the JSON the CLI reads, status codes, and validation that never echoes input."""

from __future__ import annotations

from datetime import datetime

import httpx
import pytest

from dockyard.metadata.db import Database
from fixtures.manage import PASSWORD, add_user

ADMIN = ("sarah", PASSWORD)
USER_FIELDS = {
    "id",
    "name",
    "source",
    "admin",
    "disabled",
    "display_name",
    "created_at",
    "last_login_at",
}


@pytest.fixture(autouse=True)
def _people(db: Database) -> None:
    add_user(db, "sarah", admin=True)
    add_user(db, "jane")


def test_create_list_get_patch_delete(client: httpx.Client) -> None:
    created = client.post(
        "/api/v1/users", json={"name": "josh", "password": "josh-pass-1"}, auth=ADMIN
    )
    assert created.status_code == 201
    body = created.json()
    assert set(body) == USER_FIELDS
    assert (body["name"], body["source"], body["admin"], body["disabled"]) == (
        "josh",
        "local",
        False,
        False,
    )
    assert datetime.fromisoformat(body["created_at"]).utcoffset() is not None
    assert client.get("/api/v1/me", auth=("josh", "josh-pass-1")).status_code == 200
    names = [u["name"] for u in client.get("/api/v1/users", auth=ADMIN).json()]
    assert names == ["jane", "josh", "sarah"]
    assert client.get("/api/v1/users/josh", auth=ADMIN).json()["id"] == body["id"]
    assert client.get("/api/v1/users/user:josh", auth=ADMIN).json()["id"] == body["id"]
    patched = client.patch("/api/v1/users/josh", json={"disabled": True}, auth=ADMIN)
    assert patched.json()["disabled"] is True
    assert client.get("/api/v1/me", auth=("josh", "josh-pass-1")).status_code == 401
    assert client.delete("/api/v1/users/josh", auth=ADMIN).status_code == 204
    assert client.get("/api/v1/users/josh", auth=ADMIN).status_code == 404
    conflict = client.post(
        "/api/v1/users", json={"name": "jane", "password": "long-enough"}, auth=ADMIN
    )
    assert conflict.status_code == 409
    assert conflict.json()["errors"][0]["code"] == "CONFLICT"


def test_yourself_and_the_last_admin(client: httpx.Client) -> None:
    assert client.delete("/api/v1/users/sarah", auth=ADMIN).status_code == 409
    demote = client.patch("/api/v1/users/sarah", json={"admin": False}, auth=ADMIN)
    assert demote.status_code == 409


def test_own_user_and_password(client: httpx.Client) -> None:
    jane = ("jane", PASSWORD)
    assert client.get("/api/v1/users/jane", auth=jane).json()["name"] == "jane"
    assert client.get("/api/v1/users/sarah", auth=jane).status_code == 403
    changed = client.put("/api/v1/users/jane/password", json={"password": "new-pass-1"}, auth=jane)
    assert changed.status_code == 204
    assert client.get("/api/v1/me", auth=jane).status_code == 401
    jane = ("jane", "new-pass-1")
    assert client.get("/api/v1/me", auth=jane).status_code == 200
    other = client.put("/api/v1/users/sarah/password", json={"password": "new-pass-2"}, auth=jane)
    assert other.status_code == 403
    by_admin = client.put(
        "/api/v1/users/jane/password", json={"password": "new-pass-3"}, auth=ADMIN
    )
    assert by_admin.status_code == 204


@pytest.mark.parametrize(
    ("path", "method", "body", "location"),
    [
        ("/api/v1/users", "POST", {"name": "eve", "password": "Sh0rt!"}, "body.password"),
        ("/api/v1/users", "POST", {"name": "Eve Sh0rt!", "password": "long-enough"}, "body.name"),
        (
            "/api/v1/users",
            "POST",
            {"name": "eve", "password": "long-enough", "pw": "Sh0rt!"},
            "body.pw",
        ),
        ("/api/v1/users", "POST", {"name": "eve", "password": ["Sh0rt!"]}, "body.password"),
        ("/api/v1/users/jane/password", "PUT", {"password": "Sh0rt!"}, "body.password"),
        ("/api/v1/users/jane", "PATCH", {"admin": "Sh0rt!"}, "body.admin"),
    ],
)
def test_validation_errors_do_not_echo_input(
    client: httpx.Client, path: str, method: str, body: dict[str, object], location: str
) -> None:
    response = client.request(method, path, json=body, auth=ADMIN)
    assert response.status_code == 400
    errors = response.json()["errors"]
    assert errors[0]["code"] == "INVALID"
    assert any(e["location"] == location for e in errors)
    assert "Sh0rt!" not in response.text


def test_malformed_json_is_invalid(client: httpx.Client) -> None:
    response = client.post(
        "/api/v1/users",
        content=b'{"name": "eve", "password": "Sh0rt!',
        headers={"content-type": "application/json"},
        auth=ADMIN,
    )
    assert response.status_code == 400
    assert "Sh0rt!" not in response.text
