"""`/tags/revert`: the tag's time machine — point a tag back at a digest it pointed to
before. The rules are registry.tag_history's."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel, Field

from dockyard.admin_api.dependencies import Address, Caller, Context
from dockyard.registry import tag_history

__all__ = ["router"]

router = APIRouter(prefix="/api/v1", tags=["images"])


class RevertIn(BaseModel):
    repository: str
    tag: str
    digest: str = Field(description="A digest the tag's history shows it pointing at.")
    override_immutable: bool = Field(
        False, description="Registry admins: move an immutable tag anyway (audited)."
    )


class RevertOut(BaseModel):
    repository: str
    tag: str
    digest: str
    previous: str | None = Field(description="What it pointed at before; null: it was gone.")
    at: int


@router.post("/tags/revert", summary="Point a tag back at an earlier digest (write role)")
def revert(body: RevertIn, caller: Caller, ctx: Context, address: Address) -> RevertOut:
    done = tag_history.revert_tag(
        ctx, caller, address, body.repository, body.tag, body.digest,
        override_immutable=body.override_immutable,
    )  # fmt: skip
    return RevertOut.model_validate(done, from_attributes=True)
