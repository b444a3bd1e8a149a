"""The Docker token-auth handshake as clients see it, on the wire.

Client quirks this protects (see the reference notes on clients): containers/image reads the
challenge only from `GET /v2/`; crane accepts a realm on a loopback IP only when it is the
registry's own host:port; containerd POSTs the OAuth2 password grant first.
"""

from __future__ import annotations

import base64
import re
import urllib.parse

import pytest

from fixtures.http import request
from fixtures.servers import Registry

pytestmark = pytest.mark.clients

SCOPE = "repository:e2e/token-auth:pull"


def basic(username: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode()


def challenge(registry: Registry) -> dict[str, str]:
    resp = request(registry, "GET", "/v2/", auth=False)
    assert resp.status == 401, resp.describe("GET", "/v2/")
    header = resp.headers.get("www-authenticate", "")
    assert header.startswith("Bearer "), f"expected a Bearer challenge, got {header!r}"
    return dict(re.findall(r'(\w+)="([^"]*)"', header))


def test_v2_challenges_with_a_realm_on_the_registry_itself(dockyard_server: Registry) -> None:
    params = challenge(dockyard_server)
    assert params["realm"] == f"{dockyard_server.url}/auth/token"
    assert params["service"] == "dockyard"
    assert resp_json_errors(dockyard_server) == ["UNAUTHORIZED"]


def resp_json_errors(registry: Registry) -> list[str]:
    body = request(registry, "GET", "/v2/", auth=False).json()
    return [error["code"] for error in body["errors"]]


def test_token_by_get_with_basic_then_bearer(dockyard_server: Registry) -> None:
    reg = dockyard_server
    params = challenge(reg)
    realm_path = urllib.parse.urlsplit(params["realm"]).path
    query = urllib.parse.urlencode({"service": params["service"], "scope": SCOPE})
    path = f"{realm_path}?{query}"

    wrong = request(reg, "GET", path, headers={"Authorization": basic(reg.username, "nope")})
    assert wrong.status == 401, wrong.describe("GET", path)

    resp = request(reg, "GET", path)
    assert resp.status == 200, resp.describe("GET", path)
    body = resp.json()
    assert body["token"]
    assert body.get("access_token", body["token"]) == body["token"]
    assert body.get("expires_in", 60) >= 60

    bearer = {"Authorization": f"Bearer {body['token']}"}
    ping = request(reg, "GET", "/v2/", headers=bearer)
    assert ping.status == 200, ping.describe("GET", "/v2/")


def test_token_by_oauth2_password_grant(dockyard_server: Registry) -> None:
    """containerd's way: POST form with grant_type=password."""
    reg = dockyard_server
    realm_path = urllib.parse.urlsplit(challenge(reg)["realm"]).path
    form = urllib.parse.urlencode(
        {
            "grant_type": "password",
            "service": "dockyard",
            "client_id": "dockyard-tests",
            "scope": SCOPE,
            "username": reg.username,
            "password": reg.password,
        }
    ).encode()
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    resp = request(reg, "POST", realm_path, headers=headers, data=form, auth=False)
    assert resp.status == 200, resp.describe("POST", realm_path)
    token = resp.json()["access_token"]
    ping = request(reg, "GET", "/v2/", headers={"Authorization": f"Bearer {token}"})
    assert ping.status == 200, ping.describe("GET", "/v2/")


def test_basic_auth_directly_on_v2(dockyard_server: Registry) -> None:
    resp = request(dockyard_server, "GET", "/v2/")
    assert resp.status == 200, resp.describe("GET", "/v2/")
    bad = request(
        dockyard_server,
        "GET",
        "/v2/",
        headers={"Authorization": basic(dockyard_server.username, "nope")},
    )
    assert bad.status == 401, bad.describe("GET", "/v2/")
