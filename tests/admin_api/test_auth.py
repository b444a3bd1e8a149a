"""Who may call: Basic and Bearer credentials, the challenge, backoff, registry-admin
routes, the operator mode of the CLI, and the documentation."""

from __future__ import annotations

import re

import httpx
import pytest

from dockyard.metadata.db import Database
from fixtures.manage import PASSWORD, add_user


def _errors(response: httpx.Response) -> list[dict[str, str]]:
    body = response.json()
    assert isinstance(body, dict)
    assert set(body) == {"errors"}
    errors: list[dict[str, str]] = body["errors"]
    return errors


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Basic !!!"},
        {"Authorization": "Basic amFuZQ=="},  # "jane" without a colon
        {"Authorization": "Bearer "},
        {"Authorization": "Bearer dkyp_1_" + "A" * 43},
        {"Authorization": "Negotiate abc"},
    ],
)
def test_no_or_bad_credentials_get_the_challenge(
    client: httpx.Client, db: Database, headers: dict[str, str]
) -> None:
    add_user(db, "jane")
    response = client.get("/api/v1/me", headers=headers)
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == 'Basic realm="dockyard"'
    assert _errors(response)[0]["code"] == "UNAUTHORIZED"


def test_basic_password(client: httpx.Client, db: Database) -> None:
    add_user(db, "jane")
    response = client.get("/api/v1/me", auth=("jane", PASSWORD))
    assert response.status_code == 200
    assert response.json() == {"name": "jane", "kind": "user", "admin": False, "source": "local"}
    assert client.get("/api/v1/me", auth=("jane", "wrong-password")).status_code == 401


def test_personal_token_as_bearer_and_as_password(client: httpx.Client, db: Database) -> None:
    add_user(db, "jane")
    created = client.post("/api/v1/tokens", json={"name": "cli"}, auth=("jane", PASSWORD))
    secret = created.json()["secret"]
    bearer = {"Authorization": f"Bearer {secret}"}
    assert client.get("/api/v1/me", headers=bearer).json()["name"] == "jane"
    assert client.get("/api/v1/me", auth=("jane", secret)).status_code == 200
    token_id = created.json()["id"]
    assert client.delete(f"/api/v1/tokens/{token_id}", headers=bearer).status_code == 204
    assert client.get("/api/v1/me", headers=bearer).status_code == 401


def test_repeated_failures_back_off(client: httpx.Client, db: Database, failure_limit: int) -> None:
    add_user(db, "jane")
    for _ in range(failure_limit):
        assert client.get("/api/v1/me", auth=("jane", "wrong-password")).status_code == 401
    response = client.get("/api/v1/me", auth=("jane", PASSWORD))
    assert response.status_code == 429
    assert int(response.headers["retry-after"]) > 0
    assert _errors(response)[0]["code"] == "TOOMANYREQUESTS"


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/api/v1/users"),
        ("POST", "/api/v1/users"),
        ("PATCH", "/api/v1/users/x"),
        ("DELETE", "/api/v1/users/x"),
        ("GET", "/api/v1/groups"),
        ("POST", "/api/v1/groups"),
        ("GET", "/api/v1/groups/qa"),
        ("DELETE", "/api/v1/groups/qa"),
        ("PUT", "/api/v1/groups/qa/members/x"),
        ("DELETE", "/api/v1/groups/qa/members/x"),
        ("GET", "/api/v1/audit"),
    ],
)
def test_registry_admin_routes_refuse_others(
    client: httpx.Client, db: Database, method: str, path: str
) -> None:
    add_user(db, "jane")
    # The permission is checked before the body: nothing about the request leaks.
    response = client.request(method, path, auth=("jane", PASSWORD), json={})
    assert response.status_code == 403
    assert _errors(response)[0]["code"] == "DENIED"
    assert client.request(method, path, json={}).status_code == 401


def test_operator_needs_no_credentials(operator_client: httpx.Client) -> None:
    response = operator_client.get("/api/v1/me")
    assert response.json() == {
        "name": "cli:tester",
        "kind": "operator",
        "admin": True,
        "source": None,
    }
    assert operator_client.get("/api/v1/users").status_code == 200


def test_documentation_and_unknown_paths(client: httpx.Client) -> None:
    docs = client.get("/api/docs")
    assert docs.status_code == 200
    # served offline: every script and stylesheet comes from this server
    assets = re.findall(r'(?:src|href)="([^"]+\.(?:js|css))"', docs.text)
    assert assets
    for asset in assets:
        assert asset.startswith("/api/docs/assets/"), asset
        assert client.get(asset).status_code == 200
    spec = client.get("/api/openapi.json").json()
    assert "/api/v1/grants" in spec["paths"]
    assert "/api/v1/repositories/{name}" in spec["paths"]
    response = client.get("/api/v1/nothing-here")
    assert response.status_code == 404
    assert _errors(response)[0]["code"] == "NOT_FOUND"
    assert client.put("/api/v1/me").status_code == 405
