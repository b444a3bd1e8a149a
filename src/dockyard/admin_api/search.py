"""`/search`: repositories, tags and manifests found from one text (registry.search says
what it understands); only what the caller may read."""

from __future__ import annotations

from typing import Annotated, Self

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from dockyard.admin_api.dependencies import Caller, Context
from dockyard.admin_api.errors import ApiRefusal
from dockyard.registry import search as service

__all__ = ["SearchOut", "router"]

router = APIRouter(prefix="/api/v1", tags=["search"])


class SearchRepositoryOut(BaseModel):
    name: str


class SearchTagOut(BaseModel):
    repository: str
    tag: str
    digest: str = Field(description="The manifest the tag points at.")


class SearchDigestOut(BaseModel):
    repository: str
    manifest: str = Field(description="The matching manifest's digest.")
    media_type: str
    match: str = Field(
        description='"manifest", "image config", "layer", "layer diff ID" (a layer\'s '
        'uncompressed digest, as `docker inspect` shows it) or "index child".'
    )
    matched_digest: str = Field(description="The digest that matched the search text.")
    tags: list[str] = Field(description="Tags pointing at this manifest.")
    index_tags: list[str] = Field(description="Tags of the indexes that list this manifest.")
    more_tags: int = Field(
        0, description="Tags left out of the two lists above (each shows at most 20)."
    )


class SearchOut(BaseModel):
    query: str
    interpreted_as: list[str] = Field(description='"name", "tag" and/or "digest".')
    repositories: list[SearchRepositoryOut]
    tags: list[SearchTagOut]
    digests: list[SearchDigestOut]
    truncated: bool = Field(description="Some kind had more results than `limit`.")

    @classmethod
    def of(cls, result: service.SearchResult) -> Self:
        return cls(
            query=result.query,
            interpreted_as=list(result.interpreted_as),
            repositories=[SearchRepositoryOut(name=name) for name in result.repositories],
            tags=[
                SearchTagOut(repository=t.repository, tag=t.tag, digest=t.digest)
                for t in result.tags
            ],
            digests=[
                SearchDigestOut(
                    repository=d.repository,
                    manifest=d.manifest,
                    media_type=d.media_type,
                    match=d.match,
                    matched_digest=d.matched_digest,
                    tags=list(d.tags),
                    index_tags=list(d.index_tags),
                    more_tags=d.more_tags,
                )
                for d in result.digests
            ],
            truncated=result.truncated,
        )


@router.get("/search", summary="Find repositories, tags and manifests the caller may read")
def search(
    caller: Caller,
    ctx: Context,
    q: Annotated[
        str,
        Query(
            description="A name or part of one, `repository:tag` (or a tag's beginning), or "
            "a digest or digest prefix (≥ 6 hex, `sha256:` optional; an image ID)."
        ),
    ],
    limit: Annotated[
        int,
        Query(ge=1, le=service.MAX_LIMIT, description="At most this many of each kind."),
    ] = service.DEFAULT_LIMIT,
) -> SearchOut:
    try:
        result = service.search(ctx.db, ctx.snapshot(), caller, q, limit)
    except service.SearchInvalid as err:
        raise ApiRefusal(400, "INVALID", err.message) from None
    return SearchOut.of(result)
