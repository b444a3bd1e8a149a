"""The token flow as clients drive it, and refusals in the terms clients print."""

from __future__ import annotations

from collections.abc import Callable

import httpx

from fixtures.servers import Registry


def _token(registry: Registry, *scopes: str) -> str:
    params: list[tuple[str, str | int | float | bool | None]] = [("service", "dockyard")]
    params += [("scope", s) for s in scopes]
    auth = (registry.username, registry.password)
    r = httpx.get(f"{registry.url}/auth/token", params=params, auth=auth)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["token"] == body["access_token"]
    assert body["expires_in"] >= 60
    token: str = body["token"]
    return token


def test_ping_challenges_anonymous_callers(dockyard_server: Registry) -> None:
    r = httpx.get(f"{dockyard_server.url}/v2/")
    assert r.status_code == 401
    challenge = r.headers["www-authenticate"]
    assert challenge == (f'Bearer realm="{dockyard_server.url}/auth/token",service="dockyard"')
    assert r.json()["errors"][0]["code"] == "UNAUTHORIZED"


def test_repository_challenge_names_the_scope(
    dockyard_server: Registry, repo: Callable[[str], str]
) -> None:
    name = repo("scoped")
    r = httpx.post(f"{dockyard_server.url}/v2/{name}/blobs/uploads/")
    assert r.status_code == 401
    assert f'scope="repository:{name}:pull,push"' in r.headers["www-authenticate"]


def test_wrong_password_is_refused(dockyard_server: Registry) -> None:
    for url in (f"{dockyard_server.url}/v2/", f"{dockyard_server.url}/auth/token"):
        r = httpx.get(url, auth=(dockyard_server.username, "wrong"))
        assert r.status_code == 401, url


def test_pull_token_cannot_push(dockyard_server: Registry, repo: Callable[[str], str]) -> None:
    name = repo("pullonly")
    token = _token(dockyard_server, f"repository:{name}:pull")
    r = httpx.post(f"{dockyard_server.url}/v2/{name}/blobs/uploads/",
                   headers={"Authorization": f"Bearer {token}"})  # fmt: skip
    assert r.status_code == 401
    challenge = r.headers["www-authenticate"]
    assert 'error="insufficient_scope"' in challenge
    assert "push on repository:" in challenge
    other = httpx.get(f"{dockyard_server.url}/v2/{repo('other')}/tags/list",
                      headers={"Authorization": f"Bearer {token}"})  # fmt: skip
    assert other.status_code == 401  # a token for one repository opens no other


def test_star_and_oauth_post(dockyard_server: Registry, repo: Callable[[str], str]) -> None:
    name = repo("star")
    r = httpx.post(f"{dockyard_server.url}/auth/token", data={
        "grant_type": "password", "service": "dockyard", "client_id": "containerd-client",
        "username": dockyard_server.username, "password": dockyard_server.password,
        "scope": f"repository:{name}:* registry:catalog:*"})  # fmt: skip
    assert r.status_code == 200, r.text
    assert r.json()["scope"] == f"repository:{name}:* registry:catalog:*"
    headers = {"Authorization": f"Bearer {r.json()['access_token']}"}
    upload = httpx.post(f"{dockyard_server.url}/v2/{name}/blobs/uploads/", headers=headers)
    assert upload.status_code == 202
    assert httpx.get(f"{dockyard_server.url}/v2/_catalog", headers=headers).status_code == 200
    refused = httpx.post(f"{dockyard_server.url}/auth/token", data={
        "grant_type": "refresh_token", "refresh_token": "x", "service": "dockyard"})  # fmt: skip
    assert refused.status_code == 400


def test_tampered_bearer_is_invalid_token(dockyard_server: Registry) -> None:
    token = _token(dockyard_server, "registry:catalog:*")
    r = httpx.get(f"{dockyard_server.url}/v2/_catalog",
                  headers={"Authorization": f"Bearer {token[:-4]}AAAA"})  # fmt: skip
    assert r.status_code == 401
    assert 'error="invalid_token"' in r.headers["www-authenticate"]
