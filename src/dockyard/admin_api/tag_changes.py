"""`/tags/revert`: the tag's time machine — point a tag back at a digest it pointed to
before; `/tags/follow`: a tag that follows another tag. The rules are registry.tag_history's
and registry.tag_follows'."""

from __future__ import annotations

from fastapi import APIRouter, Response
from pydantic import BaseModel, Field

from dockyard.admin_api.dependencies import Address, Caller, Context
from dockyard.registry import tag_follows, tag_history

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


class FollowIn(BaseModel):
    tag: str = Field(description="The follower, `repository:tag`.")
    follows: str = Field(description="The tag it follows, `repository:tag` (any repository).")


class FollowOut(BaseModel):
    repository: str
    tag: str
    source_repository: str
    source_tag: str
    created_at: int
    created_by: str | None


@router.put("/tags/follow", summary="Make a tag follow another tag (write on the follower)")
def follow(body: FollowIn, caller: Caller, ctx: Context, address: Address) -> FollowOut:
    row = tag_follows.follow(ctx, caller, address, body.tag, body.follows)
    return FollowOut.model_validate(row, from_attributes=True)


@router.delete("/tags/follow", status_code=204, summary="Stop following (the tag stays)")
def unfollow(tag: str, caller: Caller, ctx: Context, address: Address) -> Response:
    tag_follows.unfollow(ctx, caller, address, tag)
    return Response(status_code=204)
