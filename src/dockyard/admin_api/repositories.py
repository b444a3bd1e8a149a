"""`/repositories`: readable ones listed, created ahead of the first push, a policy of
their own set by their admins. Names follow the OCI grammar (checked in schemas.py)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, status

from dockyard.admin_api.dependencies import Address, Caller, Context
from dockyard.admin_api.schemas import (
    RepositoryCreate,
    RepositoryOut,
    RepositoryPageOut,
    RepositoryPatch,
)
from dockyard.auth.manage import repositories
from dockyard.auth.manage.repositories import RepositoryOrder

router = APIRouter(prefix="/api/v1", tags=["repositories"])


@router.get("/repositories", summary="Repositories the caller may read")
def list_repositories(
    caller: Caller,
    ctx: Context,
    namespace: str | None = None,
    last: Annotated[
        str | None, Query(description="Start after this position: the previous page's `next`.")
    ] = None,
    n: Annotated[int, Query(ge=1, le=repositories.MAX_PAGE)] = 100,
    sort: Annotated[
        RepositoryOrder,
        Query(description="name; pushed (newest first); size (largest first)"),
    ] = RepositoryOrder.NAME,
) -> RepositoryPageOut:
    page = repositories.list_repositories(ctx, caller, namespace, last, n, sort)
    return RepositoryPageOut(
        repositories=[RepositoryOut.of(view) for view in page.repositories], next=page.next
    )


@router.post(
    "/repositories", status_code=status.HTTP_201_CREATED, summary="Create ahead of the push"
)
def create_repository(
    body: RepositoryCreate, caller: Caller, ctx: Context, address: Address
) -> RepositoryOut:
    view = repositories.create_repository(ctx, caller, address, body.name, body.policy)
    return RepositoryOut.of(view)


@router.get("/repositories/{name:path}", summary="One repository")
def get_repository(name: str, caller: Caller, ctx: Context) -> RepositoryOut:
    return RepositoryOut.of(repositories.get_repository(ctx, caller, name))


@router.patch("/repositories/{name:path}", summary="Set its own policy (repository admins)")
def set_policy(
    name: str, body: RepositoryPatch, caller: Caller, ctx: Context, address: Address
) -> RepositoryOut:
    view = repositories.set_policy(ctx, caller, address, name, body.policy)
    return RepositoryOut.of(view)
