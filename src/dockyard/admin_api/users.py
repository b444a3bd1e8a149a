"""`/me` and `/users`: the caller, and accounts (registry admins; a user for themselves)."""

from __future__ import annotations

from fastapi import APIRouter, Response, status

from dockyard.admin_api.dependencies import Address, AdminCaller, Caller, Context
from dockyard.admin_api.schemas import MeOut, PasswordIn, UserCreate, UserOut, UserPatch
from dockyard.auth.manage import users

router = APIRouter(prefix="/api/v1", tags=["users"])


@router.get("/me", summary="Who the caller is")
def me(caller: Caller, ctx: Context) -> MeOut:
    identity = users.me(ctx, caller)
    return MeOut(
        name=identity.name, kind=identity.kind, admin=identity.admin, source=identity.source
    )


@router.get("/users", summary="Every user (registry admins)")
def list_users(caller: AdminCaller, ctx: Context) -> list[UserOut]:
    return [UserOut.of(view) for view in users.list_users(ctx, caller)]


@router.post("/users", status_code=status.HTTP_201_CREATED, summary="Create a local user")
def create_user(body: UserCreate, caller: AdminCaller, ctx: Context, address: Address) -> UserOut:
    view = users.create_user(
        ctx, caller, address, body.name, body.password.get_secret_value(), body.admin
    )
    return UserOut.of(view)


@router.get("/users/{ref}", summary="One user (registry admins, or the user)")
def get_user(ref: str, caller: Caller, ctx: Context) -> UserOut:
    return UserOut.of(users.get_user(ctx, caller, ref))


@router.patch("/users/{ref}", summary="Make admin or not, disable or enable")
def update_user(
    ref: str, body: UserPatch, caller: AdminCaller, ctx: Context, address: Address
) -> UserOut:
    view = users.update_user(ctx, caller, address, ref, admin=body.admin, disabled=body.disabled)
    return UserOut.of(view)


@router.delete("/users/{ref}", status_code=status.HTTP_204_NO_CONTENT, summary="Delete a user")
def delete_user(ref: str, caller: AdminCaller, ctx: Context, address: Address) -> Response:
    users.delete_user(ctx, caller, address, ref)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.put(
    "/users/{ref}/password",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Set a local user's password (registry admins, or the user)",
)
def set_password(
    ref: str, body: PasswordIn, caller: Caller, ctx: Context, address: Address
) -> Response:
    users.set_password(ctx, caller, address, ref, body.password.get_secret_value())
    return Response(status_code=status.HTTP_204_NO_CONTENT)
