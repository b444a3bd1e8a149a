"""The real client address behind a reverse proxy, for sign-in backoff and the audit log.

Behind a proxy every request comes from the proxy's address: one person's failed sign-ins
would then back off everyone, and the audit log would name the proxy. When the peer is a
configured trusted proxy, the client is the right-most `X-Forwarded-For` entry that is not
itself a trusted proxy (entries further left are whatever the client claimed). Without
trusted proxies the header is ignored: anyone could write it.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence

from starlette.types import ASGIApp, Receive, Scope, Send

__all__ = ["ForwardedClient"]

_Network = ipaddress.IPv4Network | ipaddress.IPv6Network


class ForwardedClient:
    def __init__(self, app: ASGIApp, trusted_proxies: Sequence[str]) -> None:
        self.app = app
        self._trusted: list[_Network] = [
            ipaddress.ip_network(n, strict=False) for n in trusted_proxies
        ]

    def _is_trusted(self, address: str) -> bool:
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return False
        return any(ip in network for network in self._trusted)

    def _client(self, scope: Scope) -> str | None:
        hops: list[str] = []
        for name, value in scope.get("headers", []):
            if name == b"x-forwarded-for":
                hops.extend(h.strip() for h in value.decode("latin-1").split(","))
        for hop in reversed([h for h in hops if h]):
            if not self._is_trusted(hop):
                return hop
        return None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        peer = scope.get("client")
        if self._trusted and scope["type"] == "http" and peer and self._is_trusted(peer[0]):
            client = self._client(scope)
            if client is not None:
                scope = {**scope, "client": (client, 0)}
        await self.app(scope, receive, send)
