"""Queries on webhook endpoints and their deliveries (the outbox, metadata/outbox.py).

Claiming (`claim_due`) is what lets every worker of every replica dispatch at once without
sending a delivery twice at the same time: the due rows are read `FOR UPDATE SKIP LOCKED`
(PostgreSQL: a second dispatcher skips the rows the first is claiming; SQLite: the
writer's `BEGIN IMMEDIATE` already orders claimers) and marked with a fresh claim token and
a `next_attempt_at` a lease ahead, in one transaction. An outcome is recorded only by a
statement that re-checks that claim, so a dispatcher that outlived its lease cannot
overwrite the attempt that took over. Rows are found by status and due time, never by an
id cursor: ids are not commit order on PostgreSQL (docs/design.md, "Webhooks").
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, delete, func, select, update

from dockyard.metadata.models import Manifest, WebhookDelivery, WebhookEndpoint, table_of
from dockyard.metadata.queries._upsert import insert_ignore

__all__ = [
    "Claimed",
    "DeliveryRow",
    "EndpointRow",
    "add_endpoint",
    "claim_due",
    "count_by_status",
    "delete_endpoint",
    "due_exists",
    "endpoint_by_name",
    "list_deliveries",
    "list_endpoints",
    "manifest_digest",
    "prune_finished",
    "record_outcome",
    "redeliver",
    "update_endpoint",
]

PENDING, DELIVERED, FAILED = "pending", "delivered", "failed"

_endpoint = table_of(WebhookEndpoint)
_delivery = table_of(WebhookDelivery)
_manifest = table_of(Manifest)


def manifest_digest(conn: Connection, manifest_id: int) -> str | None:
    return conn.execute(select(_manifest.c.digest).where(_manifest.c.id == manifest_id)).scalar()


# --- endpoints ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class EndpointRow:
    """An endpoint as shown to admins: everything but its secret."""

    id: int
    name: str
    url: str
    actions: tuple[str, ...]
    repositories: tuple[str, ...]
    enabled: bool
    verify_tls: bool
    created_at: int
    created_by: str | None
    updated_at: int


_ENDPOINT_COLUMNS = (
    _endpoint.c.id, _endpoint.c.name, _endpoint.c.url, _endpoint.c.actions,
    _endpoint.c.repositories, _endpoint.c.enabled, _endpoint.c.verify_tls,
    _endpoint.c.created_at, _endpoint.c.created_by, _endpoint.c.updated_at,
)  # fmt: skip


def _split(text: str | None) -> tuple[str, ...]:
    return tuple(part for part in (text or "").split(",") if part)


def _endpoint_row(row: Sequence[Any]) -> EndpointRow:
    return EndpointRow(
        row[0], row[1], row[2], _split(row[3]), _split(row[4]), bool(row[5]), bool(row[6]),
        row[7], row[8], row[9],
    )  # fmt: skip


def add_endpoint(
    conn: Connection,
    *,
    name: str,
    url: str,
    secret: str,
    actions: Sequence[str],
    repositories: Sequence[str],
    enabled: bool,
    verify_tls: bool,
    at: int,
    by: str | None,
) -> bool:
    """False when the name is taken (the unique name decides, on every back end)."""
    values = {
        "name": name, "url": url, "secret": secret, "actions": ",".join(actions),
        "repositories": ",".join(repositories) or None, "enabled": enabled,
        "verify_tls": verify_tls, "created_at": at, "created_by": by, "updated_at": at,
    }  # fmt: skip
    return insert_ignore(conn, _endpoint, values, ["name"]) == 1


def update_endpoint(conn: Connection, name: str, at: int, changes: dict[str, Any]) -> bool:
    """Apply `changes` (url, secret, actions, repositories, enabled, verify_tls); False
    when there is no such endpoint."""
    values = dict(changes)
    for key in ("actions", "repositories"):
        if key in values:
            values[key] = ",".join(values[key]) or None
    result = conn.execute(
        update(_endpoint).where(_endpoint.c.name == name).values(updated_at=at, **values)
    )
    return result.rowcount == 1


def delete_endpoint(conn: Connection, name: str) -> bool:
    """Its deliveries go with it (ON DELETE CASCADE)."""
    endpoint_id = conn.execute(select(_endpoint.c.id).where(_endpoint.c.name == name)).scalar()
    if endpoint_id is None:
        return False
    conn.execute(delete(_delivery).where(_delivery.c.endpoint_id == endpoint_id))
    conn.execute(delete(_endpoint).where(_endpoint.c.id == endpoint_id))
    return True


def list_endpoints(conn: Connection) -> list[EndpointRow]:
    rows = conn.execute(select(*_ENDPOINT_COLUMNS).order_by(_endpoint.c.name))
    return [_endpoint_row(row) for row in rows]


def endpoint_by_name(conn: Connection, name: str) -> EndpointRow | None:
    row = conn.execute(select(*_ENDPOINT_COLUMNS).where(_endpoint.c.name == name)).first()
    return _endpoint_row(row) if row is not None else None


def count_by_status(conn: Connection) -> dict[int, dict[str, int]]:
    """endpoint id -> status -> number of deliveries kept."""
    counts: dict[int, dict[str, int]] = {}
    rows = conn.execute(
        select(_delivery.c.endpoint_id, _delivery.c.status, func.count()).group_by(
            _delivery.c.endpoint_id, _delivery.c.status
        )
    )
    for endpoint_id, status, count in rows:
        counts.setdefault(endpoint_id, {})[status] = int(count)
    return counts


# --- deliveries -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DeliveryRow:
    id: int
    endpoint: str
    event_id: str
    actions: tuple[str, ...]
    target: str | None
    status: str
    attempts: int
    created_at: int
    next_attempt_at: int | None  # None once it is delivered or failed
    last_attempt_at: int | None
    last_status: int | None
    last_error: str | None
    delivered_at: int | None


def list_deliveries(
    conn: Connection,
    *,
    endpoint: str | None = None,
    status: str | None = None,
    before_id: int | None = None,
    limit: int = 100,
) -> list[DeliveryRow]:
    """Newest first (by id: a display order only; nothing resumes from it)."""
    d = _delivery
    query = (
        select(
            d.c.id,
            _endpoint.c.name,
            d.c.event_id,
            d.c.actions,
            d.c.target,
            d.c.status,
            d.c.attempts,
            d.c.created_at,
            d.c.next_attempt_at,
            d.c.last_attempt_at,
            d.c.last_status,
            d.c.last_error,
            d.c.delivered_at,
        )
        .join(_endpoint, _endpoint.c.id == d.c.endpoint_id)
        .order_by(d.c.id.desc())
        .limit(limit)
    )
    if endpoint is not None:
        query = query.where(_endpoint.c.name == endpoint)
    if status is not None:
        query = query.where(d.c.status == status)
    if before_id is not None:
        query = query.where(d.c.id < before_id)
    return [
        DeliveryRow(
            r[0],
            r[1],
            r[2],
            _split(r[3]),
            r[4],
            r[5],
            r[6],
            r[7],
            r[8] if r[5] == PENDING else None,
            r[9],
            r[10],
            r[11],
            r[12],
        )
        for r in conn.execute(query)
    ]


def due_exists(conn: Connection, now: int) -> bool:
    """Whether a claim would find anything (a read: idle dispatchers take no write lock)."""
    query = select(_delivery.c.id).where(
        _delivery.c.status == PENDING, _delivery.c.next_attempt_at <= now
    )
    return conn.execute(query.limit(1)).first() is not None


@dataclass(frozen=True, slots=True)
class Claimed:
    """A delivery this dispatcher may attempt now, with what sending it needs."""

    id: int
    claim: str
    url: str
    secret: str
    verify_tls: bool
    body: bytes
    event_id: str
    attempts: int  # before this one
    retry_until: int


def claim_due(
    conn: Connection, now: int, limit: int, claim: str, lease_seconds: int
) -> list[Claimed]:
    """Claim up to `limit` due deliveries for `lease_seconds` (docstring above)."""
    due = conn.execute(
        select(_delivery.c.id)
        .where(_delivery.c.status == PENDING, _delivery.c.next_attempt_at <= now)
        .order_by(_delivery.c.next_attempt_at, _delivery.c.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    ).scalars()
    ids = list(due)
    if not ids:
        return []
    conn.execute(
        update(_delivery)
        .where(_delivery.c.id.in_(ids))
        .values(claim=claim, next_attempt_at=now + lease_seconds)
    )
    rows = conn.execute(
        select(
            _delivery.c.id,
            _endpoint.c.url,
            _endpoint.c.secret,
            _endpoint.c.verify_tls,
            _delivery.c.body,
            _delivery.c.event_id,
            _delivery.c.attempts,
            _delivery.c.retry_until,
        )
        .join(_endpoint, _endpoint.c.id == _delivery.c.endpoint_id)
        .where(_delivery.c.id.in_(ids))
        .order_by(_delivery.c.id)
    )
    return [
        Claimed(r[0], claim, r[1], r[2], bool(r[3]), bytes(r[4]), r[5], r[6], r[7]) for r in rows
    ]


def record_outcome(
    conn: Connection,
    delivery_id: int,
    claim: str,
    *,
    now: int,
    http_status: int | None,
    error: str | None,
    next_attempt_at: int | None,
) -> bool:
    """The attempt's outcome: delivered when `error` is None, else pending again at
    `next_attempt_at`, or failed when that is None. False when the claim is no longer ours
    (the lease ran out and another dispatcher took the delivery)."""
    values: dict[str, Any] = {
        "attempts": _delivery.c.attempts + 1, "last_attempt_at": now,
        "last_status": http_status, "last_error": error, "claim": None,
    }  # fmt: skip
    if error is None:
        values.update(status=DELIVERED, delivered_at=now)
    elif next_attempt_at is None:
        values.update(status=FAILED)
    else:
        values.update(next_attempt_at=next_attempt_at)
    result = conn.execute(
        update(_delivery)
        .where(
            _delivery.c.id == delivery_id,
            _delivery.c.claim == claim,
            _delivery.c.status == PENDING,
        )
        .values(**values)
    )
    return result.rowcount == 1


def redeliver(conn: Connection, delivery_id: int, now: int, retry_seconds: int) -> bool:
    """Send it again soon, with the same body and event ids, retried for `retry_seconds`
    from now; False if there is no such delivery or it is being attempted right now."""
    result = conn.execute(
        update(_delivery)
        .where(
            _delivery.c.id == delivery_id,
            (_delivery.c.status != PENDING) | _delivery.c.claim.is_(None),
        )
        .values(
            status=PENDING,
            next_attempt_at=now,
            retry_until=now + retry_seconds,
            attempts=0,
            claim=None,
        )
    )
    return result.rowcount == 1


def prune_finished(conn: Connection, before: int, batch: int = 1000) -> int:
    """Delete up to `batch` delivered or failed deliveries created before `before`."""
    ids = select(_delivery.c.id).where(
        _delivery.c.status.in_((DELIVERED, FAILED)), _delivery.c.created_at < before
    )
    chosen = list(conn.execute(ids.limit(batch)).scalars())
    if not chosen:
        return 0
    conn.execute(delete(_delivery).where(_delivery.c.id.in_(chosen)))
    return len(chosen)
