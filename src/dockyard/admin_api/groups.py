"""`/groups`: local groups and their members, directory groups (registry admins)."""

from __future__ import annotations

from fastapi import APIRouter, Response, status

from dockyard.admin_api.dependencies import Address, AdminCaller, Context
from dockyard.admin_api.schemas import GroupCreate, GroupOut
from dockyard.auth.manage import groups

router = APIRouter(prefix="/api/v1", tags=["groups"])
_NO_CONTENT = status.HTTP_204_NO_CONTENT


@router.get("/groups", summary="Every group")
def list_groups(caller: AdminCaller, ctx: Context) -> list[GroupOut]:
    return [GroupOut.of(view) for view in groups.list_groups(ctx, caller)]


@router.post("/groups", status_code=status.HTTP_201_CREATED, summary="Create a local group")
def create_group(
    body: GroupCreate, caller: AdminCaller, ctx: Context, address: Address
) -> GroupOut:
    return GroupOut.of(groups.create_group(ctx, caller, address, body.name))


@router.get("/groups/{ref}", summary="One group with its members")
def get_group(ref: str, caller: AdminCaller, ctx: Context) -> GroupOut:
    return GroupOut.of(groups.get_group(ctx, caller, ref))


@router.delete("/groups/{ref}", status_code=_NO_CONTENT, summary="Delete a group")
def delete_group(ref: str, caller: AdminCaller, ctx: Context, address: Address) -> Response:
    groups.delete_group(ctx, caller, address, ref)
    return Response(status_code=_NO_CONTENT)


@router.put(
    "/groups/{ref}/members/{user_ref}",
    status_code=_NO_CONTENT,
    summary="Add a user to a local group",
)
def add_member(
    ref: str, user_ref: str, caller: AdminCaller, ctx: Context, address: Address
) -> Response:
    groups.add_member(ctx, caller, address, ref, user_ref)
    return Response(status_code=_NO_CONTENT)


@router.delete(
    "/groups/{ref}/members/{user_ref}",
    status_code=_NO_CONTENT,
    summary="Remove a user from a local group",
)
def remove_member(
    ref: str, user_ref: str, caller: AdminCaller, ctx: Context, address: Address
) -> Response:
    groups.remove_member(ctx, caller, address, ref, user_ref)
    return Response(status_code=_NO_CONTENT)
