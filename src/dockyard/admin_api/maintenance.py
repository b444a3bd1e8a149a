"""`/maintenance`: read-only maintenance mode for registry admins. While it is on, pulls,
sign-ins, lists and search work; pushes and deletes (by clients, in the console, through
this API, by retention and garbage collection) are refused with its message."""

from __future__ import annotations

from typing import Self

from fastapi import APIRouter
from pydantic import BaseModel, Field

from dockyard.admin_api.dependencies import Address, AdminCaller, Context
from dockyard.auth.maintenance import MAX_MESSAGE, MaintenanceStatus
from dockyard.auth.manage.maintenance import maintenance_status, set_maintenance

__all__ = ["router"]

router = APIRouter(prefix="/api/v1/maintenance", tags=["maintenance"])


class MaintenanceIn(BaseModel):
    read_only: bool = Field(description="true: refuse pushes and deletes from now on.")
    message: str | None = Field(
        None,
        max_length=MAX_MESSAGE,
        description="Shown to clients whose push or delete is refused, and in the console.",
    )


class MaintenanceOut(BaseModel):
    read_only: bool = Field(description="Whether pushes and deletes are refused now.")
    forced_by_settings: bool = Field(
        description="The `read_only` setting is on: turning the switch off does not end it."
    )
    message: str | None
    changed_by: str | None = Field(description="Who switched it last (on or off).")
    changed_at: int | None

    @classmethod
    def of(cls, status: MaintenanceStatus) -> Self:
        return cls(
            read_only=status.read_only, forced_by_settings=status.forced_by_settings,
            message=status.message, changed_by=status.changed_by, changed_at=status.changed_at,
        )  # fmt: skip


@router.get("", summary="Whether the registry is in read-only maintenance mode")
def get_mode(caller: AdminCaller, ctx: Context) -> MaintenanceOut:
    return MaintenanceOut.of(maintenance_status(ctx, caller))


@router.put("", summary="Turn read-only maintenance mode on or off, for every worker")
def put_mode(
    body: MaintenanceIn, caller: AdminCaller, ctx: Context, address: Address
) -> MaintenanceOut:
    return MaintenanceOut.of(set_maintenance(ctx, caller, address, body.read_only, body.message))
