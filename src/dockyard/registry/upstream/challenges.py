"""Parsing a registry's `WWW-Authenticate` challenge (RFC 7235 auth-params).

Docker token auth: `Bearer realm="https://auth/token",service="registry",scope="…"`; plain
registries (distribution with htpasswd) answer `Basic realm="…"`. Values may be quoted
strings with backslash escapes, or bare tokens.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["Challenge", "parse_challenge"]

_PARAM = re.compile(r'\s*([A-Za-z0-9_-]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,]*))\s*(?:,|$)')


@dataclass(frozen=True, slots=True)
class Challenge:
    scheme: str  # "basic" or "bearer", lower case
    realm: str
    service: str | None = None
    scope: str | None = None


def parse_challenge(header: str) -> Challenge | None:
    """The first challenge we can answer, or None (no header, another scheme, no realm
    for a bearer challenge)."""
    scheme, _, rest = header.strip().partition(" ")
    scheme = scheme.lower()
    if scheme not in ("basic", "bearer"):
        return None
    params: dict[str, str] = {}
    position = 0
    while position < len(rest):
        match = _PARAM.match(rest, position)
        if match is None or match.end() == position:
            break
        quoted, bare = match[2], match[3]
        value = re.sub(r"\\(.)", r"\1", quoted) if quoted is not None else bare
        params.setdefault(match[1].lower(), value)
        position = match.end()
    realm = params.get("realm", "")
    if scheme == "bearer" and not realm.startswith(("https://", "http://")):
        return None
    return Challenge(scheme, realm, params.get("service"), params.get("scope"))
