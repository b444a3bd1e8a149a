"""`/promotions`, `/approvals`, `/environments`: the release flow. Promote an image into
the next environment (by digest, server-side), approve one for an environment whose gate
asks for it, and read the record. The rules are registry.promotion's."""

from __future__ import annotations

from typing import Annotated, Self

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from dockyard.admin_api.dependencies import Address, Caller, Context
from dockyard.auth.manage._checks import require_active
from dockyard.config import GateConfig
from dockyard.registry import promotion
from dockyard.registry.board import Board, environments_board

__all__ = ["router"]

router = APIRouter(prefix="/api/v1", tags=["promotion"])


class PromotionIn(BaseModel):
    source: str = Field(description="`repository:tag` or `repository@digest` to promote.")
    to: str = Field(description="The environment to promote into (`test`).")
    tag: str | None = Field(None, description="The tag in the target; default: the source's.")


class GateOut(BaseModel):
    gate: str = Field(description="label, referrer, time or approval.")
    passed: bool
    detail: str


class PromotionOut(BaseModel):
    id: int
    at: int
    actor: str | None
    digest: str
    application: str
    source_repository: str
    source_tag: str | None
    target_repository: str
    target_tag: str
    gates: list[GateOut]
    manifests: int = Field(0, description="Manifests stored in the target (this promotion).")
    blobs: int = Field(0, description="Blobs linked in the target (none copied).")

    @classmethod
    def of(cls, result: promotion.PromotionResult) -> Self:
        return cls(
            id=result.id, at=result.at, actor=result.actor, digest=result.digest,
            application=result.application, source_repository=result.source_repository,
            source_tag=result.source_tag, target_repository=result.target_repository,
            target_tag=result.target_tag,
            gates=[GateOut(gate=g.gate, passed=g.passed, detail=g.detail) for g in result.gates],
            manifests=result.manifests, blobs=result.blobs,
        )  # fmt: skip


class ApprovalIn(BaseModel):
    source: str = Field(description="`repository:tag` or `repository@digest` to approve.")
    environment: str = Field(description="The environment it is approved for.")
    note: str | None = Field(None, max_length=512)


class ApprovalOut(BaseModel):
    digest: str
    environment: str
    approved_by: str
    at: int
    note: str | None


class EnvironmentOut(BaseModel):
    name: str
    position: int
    gates: GateConfig


@router.get("/environments", summary="The release flow: environments in order, their gates")
def environments(caller: Caller, ctx: Context) -> list[EnvironmentOut]:
    require_active(ctx.snapshot(), caller)
    return [
        EnvironmentOut(name=e.name, position=i, gates=e.gates)
        for i, e in enumerate(ctx.environments)
    ]


@router.get("/environments/board", summary="Per application, what each environment holds")
def board(
    caller: Caller,
    ctx: Context,
    q: Annotated[str | None, Query(max_length=255, description="Names containing this")] = None,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
) -> Board:
    """A page of `BOARD_PAGE_SIZE` applications: each environment's most recent tag and
    digest, `waiting` where the next environment does not hold that digest yet."""
    return environments_board(ctx, caller, contains=q, offset=offset)


@router.post(
    "/promotions",
    status_code=201,
    summary="Promote an image (read on the source, write on the target)",
    responses={403: {"description": "Not allowed, or a gate failed (the message names it)."}},
)
def promote(body: PromotionIn, caller: Caller, ctx: Context, address: Address) -> PromotionOut:
    result = promotion.promote(ctx, caller, address, body.source, body.to, body.tag)
    return PromotionOut.of(result)


@router.get("/promotions", summary="Promotions, newest first")
def promotions(
    caller: Caller,
    ctx: Context,
    repository: str | None = None,
    application: str | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[PromotionOut]:
    found = promotion.history(
        ctx, caller, repository=repository, application=application, limit=limit
    )
    return [PromotionOut.of(result) for result in found]


@router.post("/approvals", status_code=201, summary="Approve an image for an environment")
def approve(body: ApprovalIn, caller: Caller, ctx: Context, address: Address) -> ApprovalOut:
    approval = promotion.approve(ctx, caller, address, body.source, body.environment, body.note)
    return ApprovalOut.model_validate(approval, from_attributes=True)
