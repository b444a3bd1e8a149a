"""Upstream registries: other registries a repository may follow (imports) or cache
(pull-through). Registry admins only; every change is audited (`upstream.add`,
`upstream.remove`). The password is encrypted with the secrets key before it reaches the
database (credentials.py) and is never returned, logged or audited.

Services are blocking (faces run them in a worker thread) and make each change in one
write transaction.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from dockyard.auth.errors import AlreadyExists, Conflict, InvalidRequest, NotFound
from dockyard.auth.manage._checks import record, require_registry_admin
from dockyard.auth.manage.context import ManageContext
from dockyard.auth.principals import Principal
from dockyard.metadata.db import Database
from dockyard.metadata.queries import syncs as sync_queries
from dockyard.metadata.queries import upstreams as q
from dockyard.metadata.queries.upstreams import UpstreamRow
from dockyard.registry.upstream.client import Upstream
from dockyard.registry.upstream.credentials import SecretBox, SecretsKeyInvalid

__all__ = [
    "UpstreamRow",
    "UpstreamSpec",
    "add_upstream",
    "list_upstreams",
    "load",
    "load_by_id",
    "remove_upstream",
]

_NAME = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")
_MAX_URL = 2000


@dataclass(frozen=True, slots=True)
class UpstreamSpec:
    url: str
    username: str | None = None
    password: str | None = None
    verify_tls: bool = True
    ca_file: str | None = None


def _name(name: str) -> str:
    name = name.strip()
    if not _NAME.match(name):
        raise InvalidRequest(
            "an upstream name is 1 to 64 lower-case letters, digits, '.', '_' or '-'"
        )
    return name


def _url(url: str) -> str:
    url = url.strip().rstrip("/")
    parts = urlsplit(url)
    if (
        len(url) > _MAX_URL
        or parts.scheme not in ("http", "https")
        or not parts.hostname
        or parts.query
        or parts.fragment
        or parts.username is not None
    ):
        raise InvalidRequest(
            "an upstream URL is https://host[:port] (or http://), without credentials in it"
        )
    return url


def _ca_file(ca_file: str | None) -> str | None:
    if not ca_file:
        return None
    if not Path(ca_file).is_file():
        raise InvalidRequest(f"no CA file at {ca_file} (the server reads it: give its path there)")
    return ca_file


def add_upstream(
    ctx: ManageContext,
    box: SecretBox,
    caller: Principal,
    address: str | None,
    name: str,
    spec: UpstreamSpec,
) -> UpstreamRow:
    require_registry_admin(ctx.snapshot(), caller)
    name, url, ca_file = _name(name), _url(spec.url), _ca_file(spec.ca_file)
    username = (spec.username or "").strip() or None
    if spec.password and username is None:
        raise InvalidRequest("a password needs a username")
    try:
        encrypted = box.encrypt(spec.password) if spec.password else None
    except SecretsKeyInvalid as err:
        raise Conflict(str(err)) from None
    with ctx.db.write() as conn:
        added = q.add_upstream(
            conn, name=name, url=url, username=username, password_encrypted=encrypted,
            verify_tls=spec.verify_tls, ca_file=ca_file, at=ctx.now(), by=caller.name,
        )  # fmt: skip
        if not added:
            raise AlreadyExists(f"upstream {name} exists")
        row = q.upstream_by_name(conn, name)
        assert row is not None  # noqa: S101 - inserted just now, in this transaction
        detail = {"url": url, "username": username, "password": bool(encrypted),
                  "verify_tls": spec.verify_tls, "ca_file": ca_file}  # fmt: skip
        record(conn, ctx, caller, address, "upstream.add", f"upstream:{name}", detail)
    return row


def list_upstreams(ctx: ManageContext, caller: Principal) -> list[UpstreamRow]:
    require_registry_admin(ctx.snapshot(), caller)
    with ctx.db.read() as conn:
        return q.list_upstreams(conn)


def remove_upstream(ctx: ManageContext, caller: Principal, address: str | None, name: str) -> None:
    """Refused (Conflict) while a sync or a pull-through cache uses it."""
    require_registry_admin(ctx.snapshot(), caller)
    with ctx.db.write() as conn:
        row = q.upstream_by_name(conn, name)
        if row is None:
            raise NotFound(f"upstream {name} not found")
        users = sync_queries.syncs_using(conn, row.id)
        if users:
            shown = ", ".join(users[:5]) + (" …" if len(users) > 5 else "")
            raise Conflict(f"upstream {name} is in use: {shown} sync from it; remove those first")
        try:
            q.remove_upstream(conn, name)
        except q.InUse:  # a pull-through cache (or a sync added meanwhile) refers to it
            raise Conflict(
                f"upstream {name} is in use (a sync or a pull-through cache); remove those first"
            ) from None
        record(conn, ctx, caller, address, "upstream.remove", f"upstream:{name}")


def _decrypted(db: Database, box: SecretBox, row: UpstreamRow) -> Upstream:
    password = None
    if row.has_password:
        with db.read() as conn:
            token = q.upstream_secret(conn, row.id)
        password = box.decrypt(token, f"upstream {row.name}") if token else None
    return Upstream(row.name, row.url, row.username, password, row.verify_tls, row.ca_file)


def load(db: Database, box: SecretBox, name: str) -> Upstream:
    """The upstream with its password decrypted (SecretsKeyChanged when the key changed)."""
    with db.read() as conn:
        row = q.upstream_by_name(conn, name)
    if row is None:
        raise NotFound(f"upstream {name} not found")
    return _decrypted(db, box, row)


def load_by_id(db: Database, box: SecretBox, upstream_id: int) -> Upstream:
    with db.read() as conn:
        row = q.upstream_by_id(conn, upstream_id)
    if row is None:
        raise NotFound(f"upstream {upstream_id} not found")
    return _decrypted(db, box, row)
