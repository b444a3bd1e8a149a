"""Queries on personal access tokens (their secrets are checked in identities.py)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Connection, delete, insert, select

from dockyard.metadata.models import AccessToken, table_of

__all__ = ["TokenRow", "add_token", "delete_token", "list_tokens", "token", "token_name_taken"]

_token = table_of(AccessToken)
_COLUMNS = (
    _token.c.id,
    _token.c.user_id,
    _token.c.name,
    _token.c.created_at,
    _token.c.expires_at,
    _token.c.revoked_at,
    _token.c.last_used_at,
)


@dataclass(frozen=True, slots=True)
class TokenRow:
    id: int
    user_id: int
    name: str
    created_at: int
    expires_at: int | None
    revoked_at: int | None
    last_used_at: int | None


def token(conn: Connection, token_id: int) -> TokenRow | None:
    row = conn.execute(select(*_COLUMNS).where(_token.c.id == token_id)).first()
    return TokenRow(*row) if row else None


def list_tokens(conn: Connection, user_id: int) -> list[TokenRow]:
    query = select(*_COLUMNS).where(_token.c.user_id == user_id).order_by(_token.c.name)
    return [TokenRow(*row) for row in conn.execute(query)]


def token_name_taken(conn: Connection, user_id: int, name: str) -> bool:
    query = select(_token.c.id).where(_token.c.user_id == user_id, _token.c.name == name)
    return conn.execute(query).first() is not None


def add_token(
    conn: Connection, user_id: int, name: str, secret_hash: str, expires_at: int | None, now: int
) -> int:
    result = conn.execute(
        insert(_token).values(
            user_id=user_id,
            name=name,
            secret_hash=secret_hash,
            created_at=now,
            expires_at=expires_at,
            revoked_at=None,
        )
    )
    key = result.inserted_primary_key
    if key is None:  # pragma: no cover - an INSERT always has a key here
        raise RuntimeError("token insert returned no key")
    return int(key[0])


def delete_token(conn: Connection, token_id: int) -> bool:
    """Whether the token existed. Revoking deletes the row: nothing else refers to it, and
    its name becomes free again (the audit log keeps the record)."""
    return conn.execute(delete(_token).where(_token.c.id == token_id)).rowcount > 0
