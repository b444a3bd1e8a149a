"""`/upstreams`: other registries that repositories may sync from (and the pull-through
cache may read), registry admins only. The password goes in and never comes out: answers
say only whether one is saved."""

from __future__ import annotations

from typing import Self

import anyio
from fastapi import APIRouter, Response
from pydantic import BaseModel, Field, SecretStr

from dockyard.admin_api.dependencies import Address, AdminCaller, Imports
from dockyard.registry.upstream import registries
from dockyard.registry.upstream.registries import UpstreamSpec

__all__ = ["UpstreamOut", "router"]

router = APIRouter(prefix="/api/v1/upstreams", tags=["imports"])


class UpstreamIn(BaseModel):
    name: str = Field(description="Short name: lower-case letters, digits, '.', '_', '-'.")
    url: str = Field(description="https://host[:port] (or http://) of the registry.")
    username: str | None = None
    password: SecretStr | None = Field(None, description="Stored encrypted; never returned.")
    verify_tls: bool = Field(True, description="Check the upstream's TLS certificate.")
    ca_file: str | None = Field(None, description="CA bundle (a path on the server) to trust.")


class UpstreamOut(BaseModel):
    name: str
    url: str
    username: str | None
    has_password: bool
    verify_tls: bool
    ca_file: str | None
    created_at: int
    created_by: str | None

    @classmethod
    def of(cls, row: registries.UpstreamRow) -> Self:
        return cls(
            name=row.name, url=row.url, username=row.username, has_password=row.has_password,
            verify_tls=row.verify_tls, ca_file=row.ca_file, created_at=row.created_at,
            created_by=row.created_by,
        )  # fmt: skip


@router.get("", summary="The upstream registries")
def list_upstreams(caller: AdminCaller, imp: Imports) -> list[UpstreamOut]:
    return [UpstreamOut.of(row) for row in registries.list_upstreams(imp.manage, caller)]


@router.post("", status_code=201, summary="Add an upstream registry")
async def add_upstream(
    body: UpstreamIn, caller: AdminCaller, imp: Imports, address: Address
) -> UpstreamOut:
    spec = UpstreamSpec(
        url=body.url, username=body.username,
        password=body.password.get_secret_value() if body.password else None,
        verify_tls=body.verify_tls, ca_file=body.ca_file,
    )  # fmt: skip
    row = await anyio.to_thread.run_sync(
        registries.add_upstream, imp.manage, imp.box, caller, address, body.name, spec
    )
    return UpstreamOut.of(row)


@router.delete("/{name}", status_code=204, summary="Remove an upstream no sync uses")
def remove_upstream(name: str, caller: AdminCaller, imp: Imports, address: Address) -> Response:
    registries.remove_upstream(imp.manage, caller, address, name)
    return Response(status_code=204)
