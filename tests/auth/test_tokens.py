"""Bearer tokens: exactly the granted actions, and nothing forged, stale or foreign passes."""

from __future__ import annotations

import base64
import json
import time
from pathlib import Path

import jwt
import pytest

from dockyard.auth.scopes import Scope, parse_scopes
from dockyard.auth.tokens import TokenError, TokenService


@pytest.fixture
def tokens(tmp_path: Path) -> TokenService:
    return TokenService(tmp_path / "key.pem", "dockyard", "dockyard", 300)


def test_round_trip_keeps_exact_actions(tokens: TokenService) -> None:
    token, _, expires_in = tokens.issue(
        "user:1", "alice", False, [Scope("repository", "a/b", frozenset({"pull"}))]
    )
    claims = tokens.verify(token)
    assert expires_in >= 60
    assert claims.actions("repository", "a/b") == {"pull"}
    assert claims.actions("repository", "a/c") == frozenset()


def test_key_is_persisted_private(tmp_path: Path, tokens: TokenService) -> None:
    assert (tmp_path / "key.pem").stat().st_mode & 0o777 == 0o600
    again = TokenService(tmp_path / "key.pem", "dockyard", "dockyard", 300)
    token, _, _ = tokens.issue("user:1", "a", False, [])
    assert again.verify(token).subject == "user:1"


def _tamper(token: str, **changes: object) -> str:
    header, payload, signature = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=="))
    claims.update(changes)
    encoded = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    return f"{header}.{encoded}.{signature}"


def test_refused_tokens(tmp_path: Path, tokens: TokenService) -> None:
    token, _, _ = tokens.issue("user:1", "a", False, [])
    other_key = TokenService(tmp_path / "other.pem", "dockyard", "dockyard", 300)
    foreign, _, _ = other_key.issue("user:1", "a", True, [])
    other_audience = TokenService(tmp_path / "key.pem", "dockyard", "elsewhere", 300)
    now = int(time.time())
    key = tokens._key  # signing test tokens with the real key
    expired = jwt.encode({"iss": "dockyard", "aud": "dockyard", "sub": "user:1", "exp": now - 120,
                          "nbf": now - 600, "iat": now - 600}, key, "ES256",
                         headers={"kid": tokens.kid})  # fmt: skip
    not_yet = jwt.encode({"iss": "dockyard", "aud": "dockyard", "sub": "user:1", "exp": now + 900,
                          "nbf": now + 600, "iat": now}, key, "ES256",
                         headers={"kid": tokens.kid})  # fmt: skip
    strange_subject = jwt.encode({"iss": "dockyard", "aud": "dockyard", "sub": "local:1",
                                  "exp": now + 60, "nbf": now, "iat": now}, key, "ES256",
                                 headers={"kid": tokens.kid})  # fmt: skip
    unsigned = jwt.encode({"iss": "dockyard", "aud": "dockyard", "sub": "user:1", "exp": now + 60},
                          "", "none")  # fmt: skip
    for bad in [_tamper(token, access=[{"type": "repository", "name": "x", "actions": ["*"]}]),
                foreign, expired, not_yet, strange_subject, unsigned, "garbage", ""]:  # fmt: skip
        with pytest.raises(TokenError):
            tokens.verify(bad)
    good_elsewhere, _, _ = other_audience.issue("user:1", "a", False, [])
    with pytest.raises(TokenError):
        tokens.verify(good_elsewhere)


def test_scope_parsing() -> None:
    scopes = parse_scopes(
        [
            "repository:a/b:pull,push repository:127.0.0.1:5000/c:pull",
            "registry:catalog:*",
            "repository(plugin):d:pull",
            "bad",
            "",
        ]
    )
    assert [(s.type, s.name, sorted(s.actions)) for s in scopes] == [
        ("repository", "a/b", ["pull", "push"]),
        ("repository", "127.0.0.1:5000/c", ["pull"]),
        ("registry", "catalog", ["*"]),
        ("repository", "d", ["pull"]),
    ]
