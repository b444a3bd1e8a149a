"""Read-only maintenance mode: pulls, sign-ins, lists and search go on; pushes and deletes
(by clients, in the console, through the API, by retention and garbage collection) are
refused with one message.

The mode is on when the `read_only` setting says so (for the whole life of the process) or
when the switch stored in the database is on (`dockyard maintenance on|off`, the admin
API): the switch moves the access generation, so every worker of every replica carries it
in its next access snapshot, with no query of its own on the request path.
"""

from __future__ import annotations

from dataclasses import dataclass

from dockyard.auth.errors import ReadOnly
from dockyard.auth.snapshot import AccessSnapshot

__all__ = ["MAX_MESSAGE", "MaintenanceStatus", "read_only_message", "refuse_if_read_only"]

MAX_MESSAGE = 500
_PREFIX = "the registry is in read-only maintenance mode"


@dataclass(frozen=True, slots=True)
class MaintenanceStatus:
    read_only: bool
    forced_by_settings: bool  # the `read_only` setting: `maintenance off` cannot end it
    message: str | None
    changed_by: str | None
    changed_at: int | None

    @staticmethod
    def of(snapshot: AccessSnapshot, forced: bool) -> MaintenanceStatus:
        stored = snapshot.maintenance
        return MaintenanceStatus(
            read_only=forced or stored.read_only,
            forced_by_settings=forced,
            message=stored.message if stored.read_only else None,
            changed_by=stored.by,
            changed_at=stored.at,
        )


def read_only_message(snapshot: AccessSnapshot, forced: bool) -> str | None:
    """What a refused write is told, or None when writes are allowed."""
    stored = snapshot.maintenance
    if not (forced or stored.read_only):
        return None
    if stored.read_only and stored.message:
        return f"{_PREFIX}: {stored.message}"
    return f"{_PREFIX}: pushes and deletes are refused until it ends"


def refuse_if_read_only(snapshot: AccessSnapshot, forced: bool) -> None:
    message = read_only_message(snapshot, forced)
    if message is not None:
        raise ReadOnly(message)
