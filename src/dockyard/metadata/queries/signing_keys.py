"""The token signing key every worker and replica shares (one row; see migration 0011)."""

from __future__ import annotations

from sqlalchemy import Connection, select

from dockyard.metadata.models import TokenSigningKey, table_of
from dockyard.metadata.queries._upsert import insert_ignore

__all__ = ["KEY_IN_USE", "offer_key", "signing_key"]

KEY_IN_USE = 1
_key = table_of(TokenSigningKey)


def signing_key(conn: Connection) -> str | None:
    """The PEM of the key in use, or None before any was made."""
    return conn.execute(select(_key.c.pem).where(_key.c.id == KEY_IN_USE)).scalar()


def offer_key(conn: Connection, pem: str, now: int) -> str:
    """Store `pem` as the key in use unless another worker or replica stored one first;
    returns whichever is stored (the primary key makes the race harmless)."""
    insert_ignore(conn, _key, {"id": KEY_IN_USE, "pem": pem, "created_at": now}, ["id"])
    stored = signing_key(conn)
    if stored is None:  # pragma: no cover - inserted or found just above
        raise RuntimeError("the token signing key vanished while being stored")
    return stored
