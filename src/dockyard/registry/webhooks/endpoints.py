"""Managing webhook endpoints and reading their delivery log: registry admins only.

Each service is blocking (faces run it in a worker thread), checks the caller on a fresh
snapshot, validates its input, and makes its change in one write transaction that also
bumps the access generation (every worker's endpoint cache then reloads: routing.py) and
records an audit row. A secret is returned once, by `create_endpoint` (or a rotation),
and never again: lists and audit rows leave it out.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from dockyard.auth.errors import AlreadyExists, InvalidRequest, NotFound
from dockyard.auth.manage._checks import record, require_registry_admin
from dockyard.auth.manage.context import ManageContext
from dockyard.auth.principals import Principal
from dockyard.metadata.outbox import ACTIONS
from dockyard.metadata.queries import webhooks as q
from dockyard.metadata.queries.access import bump_generation
from dockyard.metadata.queries.webhooks import DeliveryRow, EndpointRow
from dockyard.registry.webhooks.targets import TargetRefused, check_url

__all__ = [
    "STATUSES",
    "Created",
    "Endpoint",
    "EndpointSpec",
    "create_endpoint",
    "delete_endpoint",
    "deliveries",
    "get_endpoint",
    "list_endpoints",
    "redeliver",
    "update_endpoint",
]

STATUSES = (q.PENDING, q.DELIVERED, q.FAILED)
_NAME = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")
_PATTERN = re.compile(r"^[a-z0-9*?._/\[\]-]{1,255}$")
_MIN_SECRET = 16
_MAX_SECRET = 256
_MAX_URL = 2000
_MAX_PAGE = 500


@dataclass(frozen=True, slots=True)
class EndpointSpec:
    """What an admin says about an endpoint; `None` fields of an update stay as they are."""

    url: str | None = None
    actions: Sequence[str] | None = None
    repositories: Sequence[str] | None = None
    enabled: bool | None = None
    verify_tls: bool | None = None


@dataclass(frozen=True, slots=True)
class Endpoint:
    row: EndpointRow
    counts: dict[str, int] = field(default_factory=dict)  # deliveries kept, by status


@dataclass(frozen=True, slots=True)
class Created:
    endpoint: Endpoint
    secret: str  # shown once


def _name(name: str) -> str:
    name = name.strip()
    if not _NAME.match(name):
        raise InvalidRequest(
            "a webhook name is 1 to 64 lower-case letters, digits, '.', '_' or '-'"
        )
    return name


def _url(url: str) -> str:
    url = url.strip()
    if len(url) > _MAX_URL:
        raise InvalidRequest(f"the URL is longer than {_MAX_URL} characters")
    try:
        check_url(url)
    except TargetRefused as refused:
        raise InvalidRequest(str(refused)) from None
    return url


def _actions(actions: Sequence[str]) -> list[str]:
    chosen = list(dict.fromkeys(a.strip() for a in actions if a.strip()))
    unknown = [a for a in chosen if a not in ACTIONS]
    if unknown:
        raise InvalidRequest(f"unknown action {unknown[0]!r}; choose from {', '.join(ACTIONS)}")
    if not chosen:
        raise InvalidRequest(f"choose at least one action: {', '.join(ACTIONS)}")
    return chosen


def _repositories(patterns: Sequence[str]) -> list[str]:
    chosen = list(dict.fromkeys(p.strip() for p in patterns if p.strip()))
    for pattern in chosen:
        if not _PATTERN.match(pattern):
            raise InvalidRequest(
                f"{pattern!r} is not a repository pattern (a name like dev/api, or a glob "
                "like prod/*)"
            )
    return chosen


def _secret(secret: str | None) -> str:
    if secret is None:
        return secrets.token_urlsafe(32)
    if not _MIN_SECRET <= len(secret) <= _MAX_SECRET or secret != secret.strip():
        raise InvalidRequest(
            f"a secret is {_MIN_SECRET} to {_MAX_SECRET} characters without surrounding spaces"
        )
    return secret


def _described(row: EndpointRow) -> dict[str, Any]:
    return {"url": row.url, "actions": list(row.actions), "repositories": list(row.repositories),
            "enabled": row.enabled, "verify_tls": row.verify_tls}  # fmt: skip


def list_endpoints(ctx: ManageContext, caller: Principal) -> list[Endpoint]:
    require_registry_admin(ctx.snapshot(), caller)
    with ctx.db.read() as conn:
        counts = q.count_by_status(conn)
        return [Endpoint(row, counts.get(row.id, {})) for row in q.list_endpoints(conn)]


def get_endpoint(ctx: ManageContext, caller: Principal, name: str) -> Endpoint:
    require_registry_admin(ctx.snapshot(), caller)
    with ctx.db.read() as conn:
        row = q.endpoint_by_name(conn, name)
        if row is None:
            raise NotFound(f"webhook {name} not found")
        return Endpoint(row, q.count_by_status(conn).get(row.id, {}))


def create_endpoint(
    ctx: ManageContext,
    caller: Principal,
    address: str | None,
    name: str,
    spec: EndpointSpec,
    secret: str | None = None,
) -> Created:
    """A new endpoint (every action and repository unless the spec narrows them, enabled,
    TLS certificates checked); the secret is generated when not given."""
    require_registry_admin(ctx.snapshot(), caller)
    name = _name(name)
    if spec.url is None:
        raise InvalidRequest("a webhook needs a URL")
    url, chosen = _url(spec.url), _actions(spec.actions if spec.actions is not None else ACTIONS)
    patterns, key = _repositories(spec.repositories or ()), _secret(secret)
    at = ctx.now()
    with ctx.db.write() as conn:
        added = q.add_endpoint(
            conn, name=name, url=url, secret=key, actions=chosen, repositories=patterns,
            enabled=spec.enabled is not False, verify_tls=spec.verify_tls is not False,
            at=at, by=caller.name,
        )  # fmt: skip
        if not added:
            raise AlreadyExists(f"webhook {name} exists")
        bump_generation(conn)
        row = q.endpoint_by_name(conn, name)
        assert row is not None  # noqa: S101 - inserted just now, in this transaction
        record(conn, ctx, caller, address, "webhook.create", f"webhook:{name}", _described(row))
    return Created(Endpoint(row), key)


def update_endpoint(
    ctx: ManageContext,
    caller: Principal,
    address: str | None,
    name: str,
    spec: EndpointSpec,
    *,
    rotate_secret: bool = False,
    secret: str | None = None,
) -> Created:
    """Change what the spec names; with `rotate_secret` (or a `secret`), a new secret,
    returned once (`Created.secret`, empty when unchanged)."""
    require_registry_admin(ctx.snapshot(), caller)
    changes: dict[str, Any] = {}
    if spec.url is not None:
        changes["url"] = _url(spec.url)
    if spec.actions is not None:
        changes["actions"] = _actions(spec.actions)
    if spec.repositories is not None:
        changes["repositories"] = _repositories(spec.repositories)
    for flag in ("enabled", "verify_tls"):
        if getattr(spec, flag) is not None:
            changes[flag] = getattr(spec, flag)
    new_secret = _secret(secret) if rotate_secret or secret is not None else ""
    if new_secret:
        changes["secret"] = new_secret
    with ctx.db.write() as conn:
        if not q.update_endpoint(conn, name, ctx.now(), changes):
            raise NotFound(f"webhook {name} not found")
        bump_generation(conn)
        row = q.endpoint_by_name(conn, name)
        assert row is not None  # noqa: S101 - updated just now, in this transaction
        said = {k: v for k, v in changes.items() if k != "secret"}
        if new_secret:
            said["secret"] = "rotated"  # noqa: S105 - a word for the audit log, not a secret
        record(conn, ctx, caller, address, "webhook.update", f"webhook:{name}", said)
    return Created(Endpoint(row), new_secret)


def delete_endpoint(ctx: ManageContext, caller: Principal, address: str | None, name: str) -> None:
    """The endpoint and its delivery log; what was pending is not sent."""
    require_registry_admin(ctx.snapshot(), caller)
    with ctx.db.write() as conn:
        if not q.delete_endpoint(conn, name):
            raise NotFound(f"webhook {name} not found")
        bump_generation(conn)
        record(conn, ctx, caller, address, "webhook.delete", f"webhook:{name}")


def deliveries(
    ctx: ManageContext,
    caller: Principal,
    *,
    endpoint: str | None = None,
    status: str | None = None,
    before: int | None = None,
    limit: int = 100,
) -> list[DeliveryRow]:
    """The delivery log, newest first: what was sent where, how it went, what is next."""
    require_registry_admin(ctx.snapshot(), caller)
    if status is not None and status not in STATUSES:
        raise InvalidRequest(f"status is one of {', '.join(STATUSES)}")
    if not 1 <= limit <= _MAX_PAGE:
        raise InvalidRequest(f"limit is 1 to {_MAX_PAGE}")
    with ctx.db.read() as conn:
        return q.list_deliveries(
            conn, endpoint=endpoint, status=status, before_id=before, limit=limit
        )


def redeliver(ctx: ManageContext, caller: Principal, address: str | None, delivery: int) -> None:
    """Send a delivery again, the same bytes and event ids, as soon as a dispatcher looks
    (about a second), retried as a new one would be."""
    require_registry_admin(ctx.snapshot(), caller)
    with ctx.db.write() as conn:
        if not q.redeliver(conn, delivery, ctx.now(), ctx.webhook_retry_seconds):
            raise NotFound(f"delivery {delivery} not found, or being sent right now")
        record(conn, ctx, caller, address, "webhook.redeliver", f"delivery:{delivery}")
