"""Bearer tokens: exactly the granted actions, and nothing forged, stale or foreign passes."""

from __future__ import annotations

import base64
import json
import time
from pathlib import Path

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from dockyard.auth.scopes import Scope, parse_scopes
from dockyard.auth.tokens import TokenError, TokenService, shared_signing_key
from dockyard.metadata.db import Database


def _fresh_key(tmp_path: Path) -> bytes:
    return ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


@pytest.fixture
def tokens(db: Database, tmp_path: Path) -> TokenService:
    return TokenService(shared_signing_key(db, tmp_path / "none.pem"), "dockyard", "dockyard", 300)


def test_round_trip_keeps_exact_actions(tokens: TokenService) -> None:
    token, _, expires_in = tokens.issue(
        "user:1", "alice", False, [Scope("repository", "a/b", frozenset({"pull"}))]
    )
    claims = tokens.verify(token)
    assert expires_in >= 60
    assert claims.actions("repository", "a/b") == {"pull"}
    assert claims.actions("repository", "a/c") == frozenset()


def test_every_worker_and_replica_shares_the_stored_key(
    db: Database, tmp_path: Path, tokens: TokenService
) -> None:
    """A second service on the same database (another worker, another replica with its
    own data folder) verifies what the first issued."""
    again = TokenService(shared_signing_key(db, tmp_path / "elsewhere.pem"), "dockyard",
                         "dockyard", 300)  # fmt: skip
    token, _, _ = tokens.issue("user:1", "a", False, [])
    assert again.verify(token).subject == "user:1"
    assert again.kid == tokens.kid


def test_the_key_of_an_older_data_folder_is_taken_over(db: Database, tmp_path: Path) -> None:
    """Upgrading from a release that kept the key in the data folder: tokens it issued
    stay valid, because its key becomes the stored one."""
    legacy = tmp_path / "keys" / "token-signing.pem"
    legacy.parent.mkdir()
    legacy.write_bytes(_fresh_key(tmp_path))
    before = TokenService(legacy.read_bytes(), "dockyard", "dockyard", 300)
    token, _, _ = before.issue("user:7", "old", False, [])
    after = TokenService(shared_signing_key(db, legacy), "dockyard", "dockyard", 300)
    assert after.verify(token).subject == "user:7"
    legacy.unlink()  # once stored, the file is no longer needed
    assert TokenService(shared_signing_key(db, legacy), "dockyard", "dockyard", 300).kid == (
        before.kid
    )


def test_a_broken_legacy_key_is_refused_not_stored(db: Database, tmp_path: Path) -> None:
    legacy = tmp_path / "token-signing.pem"
    legacy.write_text("not a key\n")
    with pytest.raises(TokenError, match=r"token-signing\.pem is not a usable PEM private key"):
        shared_signing_key(db, legacy)
    legacy.unlink()
    assert shared_signing_key(db, legacy).startswith(b"-----BEGIN PRIVATE KEY-----")


def tokens_pem(tokens: TokenService) -> bytes:
    return tokens._key.private_bytes(  # the same key, for a service with another audience
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def _tamper(token: str, **changes: object) -> str:
    header, payload, signature = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=="))
    claims.update(changes)
    encoded = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    return f"{header}.{encoded}.{signature}"


def test_refused_tokens(tmp_path: Path, tokens: TokenService) -> None:
    token, _, _ = tokens.issue("user:1", "a", False, [])
    other_key = TokenService(_fresh_key(tmp_path), "dockyard", "dockyard", 300)
    foreign, _, _ = other_key.issue("user:1", "a", True, [])
    other_audience = TokenService(tokens_pem(tokens), "dockyard", "elsewhere", 300)
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
