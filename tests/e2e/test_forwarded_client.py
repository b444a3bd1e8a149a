"""Behind a trusted reverse proxy, sign-in backoff and the audit log see the real client;
from anyone else, X-Forwarded-For is ignored (anyone could write it)."""

from __future__ import annotations

import json

import httpx

from fixtures.admin import AdminApi
from fixtures.servers import StartServer


def _fail_sign_in(url: str, forwarded_for: str) -> None:
    r = httpx.get(f"{url}/v2/", auth=("someone", "wrong-password"),
                  headers={"X-Forwarded-For": forwarded_for})  # fmt: skip
    assert r.status_code == 401


def _failure_addresses(url: str, auth: tuple[str, str]) -> list[str]:
    with AdminApi(url, auth) as admin:
        return [str(e["address"]) for e in admin.audit(action="login.failure")]


def test_trusted_proxy_names_the_client(dockyard_factory: StartServer) -> None:
    server = dockyard_factory(extra_env={"DOCKYARD_TRUSTED_PROXIES": json.dumps(["127.0.0.0/8"])})
    # a client's own claim (left) is not believed past the proxy that appended the real hop
    _fail_sign_in(server.url, "203.0.113.9, 198.51.100.7")
    assert _failure_addresses(server.url, (server.username, server.password)) == ["198.51.100.7"]


def test_forwarded_header_is_ignored_without_trusted_proxies(
    dockyard_factory: StartServer,
) -> None:
    server = dockyard_factory()
    _fail_sign_in(server.url, "198.51.100.7")
    assert _failure_addresses(server.url, (server.username, server.password)) == ["127.0.0.1"]
