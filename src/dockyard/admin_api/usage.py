"""`/usage` and `/namespaces/{name}/quota`: storage used per namespace and repository (each
blob counted once; `own` linked nowhere else, `shared` linked elsewhere too), the largest
repositories, and the namespace quotas registry admins set. A push past a quota is refused
on /v2 with `DENIED`. The rules are registry.usage's and registry.quotas'."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Self

from fastapi import APIRouter, Query, Response, status
from pydantic import BaseModel, Field

from dockyard.admin_api.dependencies import Address, Caller, Context
from dockyard.admin_api.schemas import time_of
from dockyard.registry import usage as service
from dockyard.registry.sizes import MAX_BYTES

__all__ = ["router"]

router = APIRouter(prefix="/api/v1", tags=["usage and quotas"])

Top = Annotated[
    int, Query(ge=0, le=service.MAX_TOP, description="How many of the largest repositories.")
]


class UsageOut(BaseModel):
    total_bytes: int = Field(description="Bytes of its blobs, each blob counted once.")
    own_bytes: int = Field(
        description="Bytes of the blobs nothing else links: for a repository, no other "
        "repository; for a namespace, no other namespace."
    )
    shared_bytes: int = Field(description="total_bytes - own_bytes.")
    blobs: int
    shared_blobs: int

    @classmethod
    def of(cls, u: service.Usage) -> Self:
        return cls(
            total_bytes=u.total_bytes, own_bytes=u.own_bytes, shared_bytes=u.shared_bytes,
            blobs=u.blobs, shared_blobs=u.shared_blobs,
        )  # fmt: skip


class QuotaOut(BaseModel):
    quota_bytes: int
    set_by: str | None
    set_at: datetime | None


class NamespaceSizeOut(BaseModel):
    name: str
    used_bytes: int = Field(description="What its quota is checked against.")
    quota: QuotaOut | None = Field(description="None: no quota.")
    over_quota: bool = Field(description="It takes no new blob and no new manifest.")

    @classmethod
    def of(cls, size: service.NamespaceSize) -> Self:
        quota = None
        if size.quota is not None:
            quota = QuotaOut(
                quota_bytes=size.quota.bytes, set_by=size.quota.set_by,
                set_at=time_of(size.quota.set_at),
            )  # fmt: skip
        return cls(
            name=size.name, used_bytes=size.used_bytes, quota=quota, over_quota=size.over_quota
        )


class RepositorySizeOut(BaseModel):
    name: str
    usage: UsageOut

    @classmethod
    def of(cls, size: service.RepositorySize) -> Self:
        return cls(name=size.name, usage=UsageOut.of(size.usage))


class RepositoryUsageOut(BaseModel):
    name: str
    usage: UsageOut
    namespace: NamespaceSizeOut

    @classmethod
    def of(cls, found: service.RepositoryUsage) -> Self:
        return cls(
            name=found.name, usage=UsageOut.of(found.usage),
            namespace=NamespaceSizeOut.of(found.namespace),
        )  # fmt: skip


class NamespaceUsageOut(BaseModel):
    name: str
    usage: UsageOut | None = Field(description="Always given here (the console may skip it).")
    used_bytes: int = Field(description="What its quota is checked against (= usage.total_bytes).")
    quota: QuotaOut | None
    over_quota: bool
    largest: list[RepositorySizeOut] = Field(
        description="Its largest repositories the caller may read, largest first."
    )

    @classmethod
    def of(cls, found: service.NamespaceUsage) -> Self:
        size = NamespaceSizeOut.of(found.size)
        return cls(
            name=found.name, usage=UsageOut.of(found.usage) if found.usage else None,
            used_bytes=size.used_bytes,
            quota=size.quota, over_quota=size.over_quota,
            largest=[RepositorySizeOut.of(r) for r in found.largest],
        )  # fmt: skip


class UsageSummaryOut(BaseModel):
    namespaces: list[NamespaceSizeOut] = Field(description="Those the caller may see, by name.")
    largest: list[RepositorySizeOut] = Field(
        description="The largest repositories the caller may read, largest first."
    )


class QuotaIn(BaseModel):
    quota_bytes: int = Field(
        ge=0,
        le=MAX_BYTES,
        description="Bytes the namespace's blobs may take, each counted once. Below what it "
        "uses now: nothing new is taken until deletes and garbage collection free room.",
    )


@router.get("/usage", summary="Usage of every namespace the caller may see")
def summary(caller: Caller, ctx: Context, top: Top = 10) -> UsageSummaryOut:
    found = service.usage_summary(ctx, caller, top)
    return UsageSummaryOut(
        namespaces=[NamespaceSizeOut.of(n) for n in found.namespaces],
        largest=[RepositorySizeOut.of(r) for r in found.largest],
    )


@router.get("/usage/namespaces/{name}", summary="A namespace's usage, own and shared, and quota")
def namespace_usage(name: str, caller: Caller, ctx: Context, top: Top = 10) -> NamespaceUsageOut:
    return NamespaceUsageOut.of(service.namespace_usage(ctx, caller, name, top))


@router.get("/usage/repositories/{name:path}", summary="A repository's usage, own and shared")
def repository_usage(name: str, caller: Caller, ctx: Context) -> RepositoryUsageOut:
    return RepositoryUsageOut.of(service.repository_usage(ctx, caller, name))


@router.post(
    "/usage/recount",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Rebuild the namespace usage counters from the links (registry admins)",
)
def recount(caller: Caller, ctx: Context, address: Address) -> Response:
    service.recount(ctx, caller, address)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/namespaces/{name}/quota", summary="A namespace's usage counter and quota")
def get_quota(name: str, caller: Caller, ctx: Context) -> NamespaceSizeOut:
    return NamespaceSizeOut.of(service.namespace_size(ctx, caller, name))


@router.put("/namespaces/{name}/quota", summary="Set a namespace's quota (registry admins)")
def set_quota(
    name: str, body: QuotaIn, caller: Caller, ctx: Context, address: Address
) -> NamespaceSizeOut:
    return NamespaceSizeOut.of(service.set_quota(ctx, caller, address, name, body.quota_bytes))


@router.delete(
    "/namespaces/{name}/quota",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Remove a namespace's quota (registry admins)",
)
def clear_quota(name: str, caller: Caller, ctx: Context, address: Address) -> Response:
    service.clear_quota(ctx, caller, address, name)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
