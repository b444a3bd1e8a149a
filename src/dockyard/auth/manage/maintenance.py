"""Turning read-only maintenance mode on and off (registry admins), and reading it."""

from __future__ import annotations

from dockyard.auth.errors import InvalidRequest
from dockyard.auth.maintenance import MAX_MESSAGE, MaintenanceStatus
from dockyard.auth.manage._checks import require_registry_admin
from dockyard.auth.manage.context import ManageContext
from dockyard.auth.principals import Principal
from dockyard.metadata.queries import access as q
from dockyard.metadata.queries.audit import record

__all__ = ["maintenance_status", "set_maintenance"]


def maintenance_status(ctx: ManageContext, actor: Principal) -> MaintenanceStatus:
    snapshot = ctx.snapshot()
    require_registry_admin(snapshot, actor)
    return MaintenanceStatus.of(snapshot, ctx.read_only)


def set_maintenance(
    ctx: ManageContext,
    actor: Principal,
    address: str | None,
    read_only: bool,
    message: str | None = None,
) -> MaintenanceStatus:
    """Switch the stored mode for every worker and replica; audited as `maintenance.on|off`.
    Turning it off does not end a mode forced by the `read_only` setting (the status says)."""
    require_registry_admin(ctx.snapshot(), actor)
    message = (message or "").strip() or None
    if message is not None and len(message) > MAX_MESSAGE:
        raise InvalidRequest(f"the message is longer than {MAX_MESSAGE} characters")
    if not read_only:
        message = None
    now = ctx.now()
    with ctx.db.write() as conn:
        q.set_maintenance(conn, read_only, message, actor.name, now)
        record(conn, at=now, actor=actor.name, address=address,
               action="maintenance.on" if read_only else "maintenance.off", target=None,
               detail={"message": message} if message else None)  # fmt: skip
    return MaintenanceStatus.of(ctx.access.fresh(), ctx.read_only)
