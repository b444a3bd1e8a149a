"""`/webhooks`: endpoints told about pushes, deletes, promotions and tag moves, and their
delivery log (registry admins). A secret is in the answer that created (or rotated) it and
in no other answer. The envelope, the signature header and the actions: README,
"Webhooks"."""

from __future__ import annotations

from typing import Annotated, Literal, Self

from fastapi import APIRouter, Query, Response
from pydantic import BaseModel, Field

from dockyard.admin_api.dependencies import Address, AdminCaller, Context
from dockyard.registry import webhooks
from dockyard.registry.webhooks import EndpointSpec

__all__ = ["router"]

router = APIRouter(prefix="/api/v1/webhooks", tags=["webhooks"])

Action = Literal["push", "delete", "promote", "tag-move"]
Status = Literal["pending", "delivered", "failed"]


class EndpointIn(BaseModel):
    name: str = Field(description="Short name: lower-case letters, digits, '.', '_', '-'.")
    url: str = Field(description="http(s) URL the envelopes are POSTed to.")
    secret: str | None = Field(
        None,
        min_length=16,
        max_length=256,
        description="HMAC-SHA256 key of the signature; generated (and returned once) if absent.",
    )
    actions: list[Action] | None = Field(None, description="What to send; default: all four.")
    repositories: list[str] = Field(
        default_factory=list,
        description="Only events of repositories matching one of these (dev/api, prod/*); "
        "empty: every repository.",
    )
    enabled: bool = True
    verify_tls: bool = Field(True, description="Check the receiver's TLS certificate.")


class EndpointPatch(BaseModel):
    url: str | None = None
    actions: list[Action] | None = None
    repositories: list[str] | None = None
    enabled: bool | None = None
    verify_tls: bool | None = None
    rotate_secret: bool = Field(False, description="Make a new secret (returned once).")
    secret: str | None = Field(None, min_length=16, max_length=256, description="Set this one.")


class EndpointOut(BaseModel):
    name: str
    url: str
    actions: list[str]
    repositories: list[str]
    enabled: bool
    verify_tls: bool
    created_at: int
    created_by: str | None
    updated_at: int
    deliveries: dict[str, int] = Field(description="Deliveries in the log, by status.")

    @classmethod
    def of(cls, endpoint: webhooks.Endpoint) -> Self:
        row = endpoint.row
        return cls(
            name=row.name, url=row.url, actions=list(row.actions),
            repositories=list(row.repositories), enabled=row.enabled,
            verify_tls=row.verify_tls, created_at=row.created_at, created_by=row.created_by,
            updated_at=row.updated_at, deliveries=dict(endpoint.counts),
        )  # fmt: skip


class CreatedOut(BaseModel):
    endpoint: EndpointOut
    secret: str | None = Field(description="Shown now and never again (None: unchanged).")


class DeliveryOut(BaseModel):
    id: int
    endpoint: str
    event_id: str = Field(description="The first event's id (receivers dedupe on ids).")
    actions: list[str]
    target: str | None
    status: str = Field(description="pending, delivered or failed (gave up).")
    attempts: int
    created_at: int
    next_attempt_at: int | None = Field(description="When pending: the next attempt.")
    last_attempt_at: int | None
    last_status: int | None = Field(description="The HTTP status of the last attempt.")
    last_error: str | None
    delivered_at: int | None


def _spec(body: EndpointIn | EndpointPatch) -> EndpointSpec:
    return EndpointSpec(
        url=body.url, actions=body.actions, repositories=body.repositories,
        enabled=body.enabled, verify_tls=body.verify_tls,
    )  # fmt: skip


@router.get("", summary="The webhook endpoints")
def list_endpoints(caller: AdminCaller, ctx: Context) -> list[EndpointOut]:
    return [EndpointOut.of(e) for e in webhooks.list_endpoints(ctx, caller)]


@router.post("", status_code=201, summary="Add an endpoint (its secret is returned once)")
def create_endpoint(
    body: EndpointIn, caller: AdminCaller, ctx: Context, address: Address
) -> CreatedOut:
    made = webhooks.create_endpoint(ctx, caller, address, body.name, _spec(body), body.secret)
    return CreatedOut(endpoint=EndpointOut.of(made.endpoint), secret=made.secret)


@router.get("/deliveries", summary="The delivery log, newest first")
def deliveries(
    caller: AdminCaller,
    ctx: Context,
    endpoint: str | None = None,
    status: Status | None = None,
    before: Annotated[int | None, Query(description="Older than this delivery id.")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> list[DeliveryOut]:
    rows = webhooks.deliveries(
        ctx, caller, endpoint=endpoint, status=status, before=before, limit=limit
    )
    return [DeliveryOut.model_validate(row, from_attributes=True) for row in rows]


@router.post(
    "/deliveries/{delivery_id}/redeliver", status_code=204, summary="Send a delivery again"
)
def redeliver(delivery_id: int, caller: AdminCaller, ctx: Context, address: Address) -> Response:
    webhooks.redeliver(ctx, caller, address, delivery_id)
    return Response(status_code=204)


@router.get("/{name}", summary="One endpoint")
def get_endpoint(name: str, caller: AdminCaller, ctx: Context) -> EndpointOut:
    return EndpointOut.of(webhooks.get_endpoint(ctx, caller, name))


@router.patch("/{name}", summary="Change an endpoint, or rotate its secret")
def update_endpoint(
    name: str, body: EndpointPatch, caller: AdminCaller, ctx: Context, address: Address
) -> CreatedOut:
    made = webhooks.update_endpoint(
        ctx, caller, address, name, _spec(body), rotate_secret=body.rotate_secret,
        secret=body.secret,
    )  # fmt: skip
    return CreatedOut(endpoint=EndpointOut.of(made.endpoint), secret=made.secret or None)


@router.delete("/{name}", status_code=204, summary="Remove an endpoint and its delivery log")
def delete_endpoint(name: str, caller: AdminCaller, ctx: Context, address: Address) -> Response:
    webhooks.delete_endpoint(ctx, caller, address, name)
    return Response(status_code=204)
