"""Queries on upstream registries (registry/upstream/registries.py). The encrypted password
is read only by `upstream_secret`; the rows shown to people never carry it."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, delete, select
from sqlalchemy.exc import IntegrityError

from dockyard.metadata.models import RepositorySync, UpstreamRegistry, table_of
from dockyard.metadata.queries._upsert import insert_ignore

__all__ = [
    "InUse",
    "UpstreamRow",
    "add_upstream",
    "list_upstreams",
    "remove_upstream",
    "upstream_by_id",
    "upstream_by_name",
    "upstream_secret",
]

_upstream = table_of(UpstreamRegistry)
_sync = table_of(RepositorySync)


class InUse(Exception):
    """The upstream is still used (a sync, a pull-through cache): the foreign key refused."""


@dataclass(frozen=True, slots=True)
class UpstreamRow:
    """An upstream as shown: everything but the password (`has_password` says if one is set)."""

    id: int
    name: str
    url: str
    username: str | None
    has_password: bool
    verify_tls: bool
    ca_file: str | None
    created_at: int
    created_by: str | None


_COLUMNS = (
    _upstream.c.id, _upstream.c.name, _upstream.c.url, _upstream.c.username,
    _upstream.c.password_encrypted.is_not(None), _upstream.c.verify_tls, _upstream.c.ca_file,
    _upstream.c.created_at, _upstream.c.created_by,
)  # fmt: skip


def _row(row: Sequence[Any]) -> UpstreamRow:
    return UpstreamRow(
        row[0], row[1], row[2], row[3], bool(row[4]), bool(row[5]), row[6], row[7], row[8]
    )


def add_upstream(
    conn: Connection,
    *,
    name: str,
    url: str,
    username: str | None,
    password_encrypted: str | None,
    verify_tls: bool,
    ca_file: str | None,
    at: int,
    by: str | None,
) -> bool:
    """False when the name is taken (the unique name decides, on every back end)."""
    values = {
        "name": name, "url": url, "username": username, "password_encrypted": password_encrypted,
        "verify_tls": verify_tls, "ca_file": ca_file, "created_at": at, "created_by": by,
    }  # fmt: skip
    return insert_ignore(conn, _upstream, values, ["name"]) == 1


def list_upstreams(conn: Connection) -> list[UpstreamRow]:
    return [_row(r) for r in conn.execute(select(*_COLUMNS).order_by(_upstream.c.name))]


def upstream_by_name(conn: Connection, name: str) -> UpstreamRow | None:
    row = conn.execute(select(*_COLUMNS).where(_upstream.c.name == name)).first()
    return _row(row) if row is not None else None


def upstream_by_id(conn: Connection, upstream_id: int) -> UpstreamRow | None:
    row = conn.execute(select(*_COLUMNS).where(_upstream.c.id == upstream_id)).first()
    return _row(row) if row is not None else None


def upstream_secret(conn: Connection, upstream_id: int) -> str | None:
    """The encrypted password (a Fernet token), for the one caller that decrypts it."""
    return conn.execute(
        select(_upstream.c.password_encrypted).where(_upstream.c.id == upstream_id)
    ).scalar()


def remove_upstream(conn: Connection, name: str) -> bool:
    """False when there is none; InUse when a row still refers to it. The delete runs in a
    savepoint so that the caller's transaction survives the foreign key's refusal."""
    try:
        with conn.begin_nested():
            result = conn.execute(delete(_upstream).where(_upstream.c.name == name))
    except IntegrityError:
        raise InUse(name) from None
    return result.rowcount == 1
