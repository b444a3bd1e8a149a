"""Bearer tokens: short-lived ES256 JWTs in the Docker token format (distribution's jwt.md).

The signing key lives in the database (`shared_signing_key`), so every worker and replica
signs and verifies with the same one; its `kid` is the RFC 7638 thumbprint so a key
rotation can keep old tokens verifiable.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import json
import re
import secrets
import time
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from dockyard.auth.principals import Principal
from dockyard.auth.scopes import Scope
from dockyard.metadata.db import Database
from dockyard.metadata.queries import signing_keys

__all__ = ["TokenClaims", "TokenError", "TokenService", "shared_signing_key"]

_ALGORITHM = "ES256"
_LEEWAY_SECONDS = 30
_CACHE_SIZE = 4096
_SUBJECT = re.compile(r"^((user|robot):[1-9][0-9]{0,17})?$")  # empty: anonymous


class TokenError(Exception):
    """A token that is malformed, badly signed, expired, or meant for someone else."""


@dataclass(frozen=True)
class TokenClaims:
    subject: str
    name: str
    is_admin: bool
    access: dict[tuple[str, str], frozenset[str]]
    expires_at: int

    @functools.cached_property
    def principal(self) -> Principal:
        """Who the token was issued to (made once per verified token, not per request)."""
        return Principal(self.subject, self.name, self.is_admin)

    def actions(self, resource_type: str, name: str) -> frozenset[str]:
        return self.access.get((resource_type, name), frozenset())


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _parse_key(
    pem: bytes, source: str = "the stored token signing key"
) -> ec.EllipticCurvePrivateKey:
    try:
        key = serialization.load_pem_private_key(pem, password=None)
    except (ValueError, TypeError) as exc:
        raise TokenError(f"{source} is not a usable PEM private key: {exc}") from None
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise TokenError(f"{source} is not an EC private key")
    return key


def shared_signing_key(db: Database, legacy_file: Path) -> bytes:
    """The signing key every worker and replica uses, made at the first start.

    A data folder from before the key moved into the database holds it in `legacy_file`;
    that key is taken over, so tokens issued before the upgrade stay valid. Otherwise a
    fresh P-256 key is offered; when several workers or replicas start at once, the first
    stored wins and all use it.
    """
    with db.read() as conn:
        stored = signing_keys.signing_key(conn)
    if stored is None:
        if legacy_file.exists():
            pem = legacy_file.read_bytes()
            _parse_key(pem, str(legacy_file))  # refused before it becomes everyone's key
        else:
            pem = ec.generate_private_key(ec.SECP256R1()).private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        with db.write() as conn:
            stored = signing_keys.offer_key(conn, pem.decode(), int(time.time()))
    return stored.encode()


def _thumbprint(key: ec.EllipticCurvePublicKey) -> str:
    numbers = key.public_numbers()
    jwk = {
        "crv": "P-256",
        "kty": "EC",
        "x": _b64(numbers.x.to_bytes(32, "big")),
        "y": _b64(numbers.y.to_bytes(32, "big")),
    }
    canonical = json.dumps(jwk, separators=(",", ":"), sort_keys=True).encode()
    return _b64(hashlib.sha256(canonical).digest())


class TokenService:
    def __init__(self, key_pem: bytes, issuer: str, audience: str, ttl_seconds: int) -> None:
        self._key = _parse_key(key_pem)
        self._public = self._key.public_key()
        self.kid = _thumbprint(self._public)
        self.issuer = issuer
        self.audience = audience
        self.ttl_seconds = ttl_seconds
        # Verifying ES256 costs ~100 µs; clients reuse a token for many requests.
        self._verified: OrderedDict[str, TokenClaims] = OrderedDict()

    def issue(
        self, subject: str, name: str, is_admin: bool, granted: list[Scope]
    ) -> tuple[str, int, int]:
        """A signed token holding exactly `granted`; returns (token, issued_at, expires_in)."""
        now = int(time.time())
        claims: dict[str, Any] = {
            "iss": self.issuer,
            "sub": subject,
            "aud": self.audience,
            "exp": now + self.ttl_seconds,
            "nbf": now - 1,
            "iat": now,
            "jti": secrets.token_urlsafe(16),
            "access": [
                {"type": s.type, "name": s.name, "actions": sorted(s.actions)} for s in granted
            ],
            # Not in the Docker format; lets the registry name the caller without a lookup.
            "dky": {"name": name, "admin": is_admin},
        }
        token = jwt.encode(claims, self._key, algorithm=_ALGORITHM, headers={"kid": self.kid})
        return token, now, self.ttl_seconds

    def verify(self, token: str) -> TokenClaims:
        cached = self._verified.get(token)
        now = int(time.time())
        if cached is not None:
            if cached.expires_at + _LEEWAY_SECONDS >= now:
                return cached
            del self._verified[token]
        try:
            header = jwt.get_unverified_header(token)
            if header.get("kid") != self.kid:
                raise TokenError("token signed by an unknown key")
            raw = jwt.decode(
                token,
                self._public,
                algorithms=[_ALGORITHM],
                audience=self.audience,
                issuer=self.issuer,
                leeway=_LEEWAY_SECONDS,
                options={"require": ["exp", "nbf", "iat", "iss", "aud", "sub"]},
            )
        except jwt.PyJWTError as exc:
            raise TokenError(str(exc)) from exc
        claims = self._claims(raw)
        self._verified[token] = claims
        if len(self._verified) > _CACHE_SIZE:
            self._verified.popitem(last=False)
        return claims

    @staticmethod
    def _claims(raw: dict[str, Any]) -> TokenClaims:
        access: dict[tuple[str, str], frozenset[str]] = {}
        for entry in raw.get("access") or []:
            if not isinstance(entry, dict):
                raise TokenError("malformed access claim")
            key = (str(entry.get("type", "")), str(entry.get("name", "")))
            actions = frozenset(str(a) for a in entry.get("actions") or [])
            access[key] = access.get(key, frozenset()) | actions
        extra = raw.get("dky") or {}
        subject = str(raw["sub"])
        if _SUBJECT.match(subject) is None:  # issued to users, robots and anonymous callers
            raise TokenError("token subject is not a user, robot or anonymous")
        return TokenClaims(
            subject=subject,
            name=str(extra.get("name", "")),
            is_admin=bool(extra.get("admin", False)),
            access=access,
            expires_at=int(raw["exp"]),
        )
