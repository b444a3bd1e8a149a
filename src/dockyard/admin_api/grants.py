"""`/grants`: roles of users, groups and robots on namespaces and repositories, managed by
whoever administers the target."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response, status

from dockyard.admin_api.dependencies import Address, Caller, Context
from dockyard.admin_api.schemas import GrantIn, GrantOut
from dockyard.auth.manage import grants

router = APIRouter(prefix="/api/v1", tags=["grants"])
_TO = "user:NAME, group:NAME or robot:NAME"
_ON = "NAMESPACE, NAMESPACE/REPO, namespace:NAME or repository:NAME"


@router.get("/grants", summary="Grants on what the caller administers")
def list_grants(
    caller: Caller,
    ctx: Context,
    to: Annotated[str | None, Query(description=_TO)] = None,
    on: Annotated[str | None, Query(description=_ON)] = None,
) -> list[GrantOut]:
    return [GrantOut.of(view) for view in grants.list_grants(ctx, caller, to, on)]


@router.post("/grants", status_code=status.HTTP_201_CREATED, summary="Set (or replace) a role")
def set_grant(body: GrantIn, caller: Caller, ctx: Context, address: Address) -> GrantOut:
    view = grants.set_grant(ctx, caller, address, body.role.value, body.to, body.on)
    return GrantOut.of(view)


@router.delete("/grants", status_code=status.HTTP_204_NO_CONTENT, summary="Revoke a role")
def revoke_grant(
    caller: Caller,
    ctx: Context,
    address: Address,
    to: Annotated[str, Query(description=_TO)],
    on: Annotated[str, Query(description=_ON)],
) -> Response:
    grants.revoke_grant(ctx, caller, address, to, on)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
