"""`/namespaces`: those the caller has a role on or can read in; created by people (who
become their admin), their policy set by their admins."""

from __future__ import annotations

from fastapi import APIRouter, status

from dockyard.admin_api.dependencies import Address, Caller, Context
from dockyard.admin_api.schemas import NamespaceCreate, NamespaceOut, NamespacePatch
from dockyard.auth.manage import namespaces

router = APIRouter(prefix="/api/v1", tags=["namespaces"])


@router.get("/namespaces", summary="Namespaces the caller may see")
def list_namespaces(caller: Caller, ctx: Context) -> list[NamespaceOut]:
    return [NamespaceOut.of(view) for view in namespaces.list_namespaces(ctx, caller)]


@router.post("/namespaces", status_code=status.HTTP_201_CREATED, summary="Create a namespace")
def create_namespace(
    body: NamespaceCreate, caller: Caller, ctx: Context, address: Address
) -> NamespaceOut:
    view = namespaces.create_namespace(ctx, caller, address, body.name, body.policy)
    return NamespaceOut.of(view)


@router.get("/namespaces/{name}", summary="One namespace")
def get_namespace(name: str, caller: Caller, ctx: Context) -> NamespaceOut:
    return NamespaceOut.of(namespaces.get_namespace(ctx, caller, name))


@router.patch("/namespaces/{name}", summary="Set a namespace's policy (namespace admins)")
def set_policy(
    name: str, body: NamespacePatch, caller: Caller, ctx: Context, address: Address
) -> NamespaceOut:
    view = namespaces.set_namespace_policy(ctx, caller, address, name, body.policy)
    return NamespaceOut.of(view)
