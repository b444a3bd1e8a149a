"""`/audit`: the audit log, newest first (registry admins)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Query

from dockyard.admin_api.dependencies import AdminCaller, Context
from dockyard.admin_api.schemas import AuditPageOut
from dockyard.auth.manage import audit

router = APIRouter(prefix="/api/v1", tags=["audit"])


def _seconds(moment: datetime | None) -> int | None:
    if moment is None:
        return None
    return int((moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp())


@router.get("/audit", summary="Audit events, newest first")
def list_events(
    caller: AdminCaller,
    ctx: Context,
    actor: str | None = None,
    action: Annotated[
        str | None, Query(description="Exact, or a dotted prefix: `grant` is grant.*")
    ] = None,
    target: str | None = None,
    since: Annotated[
        datetime | None, Query(description="ISO 8601 (UTC if no zone) or Unix seconds.")
    ] = None,
    until: Annotated[datetime | None, Query(description="Exclusive.")] = None,
    before: Annotated[int | None, Query(description="The `next` of the previous page.")] = None,
    limit: Annotated[int, Query(ge=1, le=audit.MAX_PAGE)] = 100,
) -> AuditPageOut:
    page = audit.list_events(
        ctx,
        caller,
        by=actor,
        action=action,
        target=target,
        since=_seconds(since),
        until=_seconds(until),
        before=before,
        limit=limit,
    )
    return AuditPageOut.of(page)
