"""Queries on the audit log."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import Connection, insert

from dockyard.metadata.models import AuditEvent, table_of

_audit = table_of(AuditEvent)


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
