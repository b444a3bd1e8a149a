"""Where a webhook may be sent (pitfalls §30): the host is resolved here, every address it
resolves to is checked, and the request then goes to the checked address itself, with the
name kept for `Host` and TLS (SNI and certificate checks), so DNS cannot answer one
address to the check and another to the connection. Redirects are never followed.

Refused unless inside `webhook_allowed_networks`: loopback, private (RFC 1918, unique
local), link-local (cloud metadata services live at 169.254.169.254), multicast, reserved
and unspecified addresses, IPv4 ones also when mapped into IPv6.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

import anyio

__all__ = ["Network", "Resolved", "TargetRefused", "check_url", "networks", "resolve"]

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
_Address = ipaddress.IPv4Address | ipaddress.IPv6Address


class TargetRefused(Exception):
    """The URL may not be sent to (its message says why; it holds no secret)."""


@dataclass(frozen=True, slots=True)
class Resolved:
    """The URL to connect to (its host an address literal) and the name it stands for."""

    url: str
    host_header: str
    server_name: str


def networks(cidrs: Sequence[str]) -> tuple[Network, ...]:
    return tuple(ipaddress.ip_network(cidr, strict=False) for cidr in cidrs)


def check_url(url: str) -> None:
    """An http(s) URL with a host and no credentials; TargetRefused otherwise."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError for a bad port
    except ValueError as exc:
        raise TargetRefused(f"not a URL: {exc}") from None
    if parts.scheme not in ("http", "https"):
        raise TargetRefused("the URL must start with http:// or https://")
    if not parts.hostname:
        raise TargetRefused("the URL has no host")
    if parts.username is not None or parts.password is not None:
        raise TargetRefused("credentials in the URL are not allowed: the secret signs requests")
    if parts.fragment:
        raise TargetRefused("the URL may not have a #fragment")


def _blocked(address: _Address) -> bool:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return (
        address.is_loopback or address.is_private or address.is_link_local
        or address.is_multicast or address.is_reserved or address.is_unspecified
    )  # fmt: skip


def _allowed(address: _Address, allowed: Sequence[Network]) -> bool:
    return not _blocked(address) or any(address in network for network in allowed)


async def resolve(url: str, allowed: Sequence[Network]) -> Resolved:
    """The checked address to send `url` to (TargetRefused: not allowed, or no address)."""
    check_url(url)
    parts = urlsplit(url)
    host = parts.hostname or ""
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        literal: _Address | None = ipaddress.ip_address(host)
    except ValueError:
        literal = None
    if literal is not None:
        addresses: list[_Address] = [literal]
    else:
        try:
            infos = await anyio.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except OSError as exc:
            raise TargetRefused(f"cannot resolve {host}: {exc}") from None
        addresses = [ipaddress.ip_address(info[4][0]) for info in infos]
    if not addresses:
        raise TargetRefused(f"{host} has no address")
    refused = [a for a in addresses if not _allowed(a, allowed)]
    if refused:  # every address must pass: DNS may hand any of them out next time
        raise TargetRefused(
            f"{host} resolves to {refused[0]}, a private or local address; "
            "allow its network in webhook_allowed_networks to send there"
        )
    chosen = addresses[0]
    netloc = f"[{chosen}]:{port}" if chosen.version == 6 else f"{chosen}:{port}"
    target = urlunsplit((parts.scheme, netloc, parts.path or "/", parts.query, ""))
    host_header = parts.netloc.rpartition("@")[2]
    return Resolved(target, host_header, host)
