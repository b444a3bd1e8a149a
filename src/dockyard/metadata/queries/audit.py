"""Queries on the audit log."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, insert, or_, select

from dockyard.metadata import outbox
from dockyard.metadata.models import AuditEvent, table_of

_audit = table_of(AuditEvent)


@dataclass(frozen=True, slots=True)
class AuditRow:
    id: int
    at: int
    actor: str | None
    action: str
    target: str | None
    address: str | None
    detail: dict[str, Any] | None


def record(
    conn: Connection,
    *,
    at: int,
    actor: str | None,
    action: str,
    target: str | None,
    address: str | None = None,
    detail: dict[str, Any] | None = None,
) -> None:
    conn.execute(
        insert(_audit).values(
            at=at,
            actor=actor,
            action=action,
            target=target,
            address=address,
            detail=json.dumps(detail, sort_keys=True) if detail else None,
        )
    )
    # The webhook deliveries this action owes, in the same transaction (metadata/outbox.py).
    outbox.enqueue(
        conn, at=at, actor=actor, action=action, target=target, address=address, detail=detail
    )


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def list_events(
    conn: Connection,
    *,
    actor: str | None = None,
    action: str | None = None,
    target: str | None = None,
    since: int | None = None,
    until: int | None = None,
    before_id: int | None = None,
    limit: int = 100,
) -> list[AuditRow]:
    """Events newest first (by id: ids grow with time). `action` matches exactly or as a
    dotted prefix (`grant` matches `grant.set` and `grant.revoke`); `since` is inclusive,
    `until` exclusive; `before_id` continues a previous page."""
    query = select(
        _audit.c.id, _audit.c.at, _audit.c.actor, _audit.c.action, _audit.c.target,
        _audit.c.address, _audit.c.detail,
    ).order_by(_audit.c.id.desc()).limit(limit)  # fmt: skip
    if actor is not None:
        query = query.where(_audit.c.actor == actor)
    if action is not None:
        prefix = _escape_like(action.rstrip(".")) + ".%"
        query = query.where(
            or_(_audit.c.action == action, _audit.c.action.like(prefix, escape="\\"))
        )
    if target is not None:
        query = query.where(_audit.c.target == target)
    if since is not None:
        query = query.where(_audit.c.at >= since)
    if until is not None:
        query = query.where(_audit.c.at < until)
    if before_id is not None:
        query = query.where(_audit.c.id < before_id)
    return [
        AuditRow(*row[:6], json.loads(row[6]) if row[6] else None) for row in conn.execute(query)
    ]
