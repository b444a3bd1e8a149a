"""The audit log, queried by registry admins: sign-ins, and every change to who may do
what."""

from __future__ import annotations

from dockyard.auth.manage._checks import require_registry_admin
from dockyard.auth.manage.context import ManageContext
from dockyard.auth.manage.views import AuditEntry, AuditPage
from dockyard.auth.principals import Principal
from dockyard.metadata.queries import audit

__all__ = ["MAX_PAGE", "list_events"]

MAX_PAGE = 1000


def list_events(
    ctx: ManageContext,
    actor: Principal,
    *,
    by: str | None = None,
    action: str | None = None,
    target: str | None = None,
    since: int | None = None,
    until: int | None = None,
    before: int | None = None,
    limit: int = 100,
) -> AuditPage:
    """Events newest first. `by` is the actor's name; `action` matches exactly or as a
    dotted prefix (`grant`); `since` (inclusive) and `until` (exclusive) are Unix seconds;
    `before` is the `next` of the previous page."""
    require_registry_admin(ctx.snapshot(), actor)
    limit = max(1, min(limit, MAX_PAGE))
    with ctx.db.read() as conn:
        rows = audit.list_events(
            conn,
            actor=by,
            action=action,
            target=target,
            since=since,
            until=until,
            before_id=before,
            limit=limit + 1,
        )
    more = len(rows) > limit
    events = [
        AuditEntry(r.id, r.at, r.actor, r.action, r.target, r.address, r.detail)
        for r in rows[:limit]
    ]
    return AuditPage(events, events[-1].id if more else None)
