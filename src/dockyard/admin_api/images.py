"""What the console's repository, tag, image, overview and status pages show, as JSON, so
that automation sees what people see: a repository's tags with their details, a tag's
history, one image (config, layers, platforms, accessories), the overview's cards and the
status of the parts Dockyard depends on. Names go in the query string (`?repository=`):
repository names hold slashes, and `/repositories/{name}` already takes the rest of the path.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse

from dockyard.admin_api.dependencies import AdminCaller, Caller, Context
from dockyard.registry import images, overview, status
from dockyard.registry.images import ImageDetail, RepositoryPage, TagDetail, TagSort

__all__ = ["router"]

router = APIRouter(prefix="/api/v1", tags=["images"])
_storage = overview.StorageCache()

Repository = Annotated[str, Query(description="The repository's name, e.g. team/app.")]


@router.get("/tags", summary="A repository's tags with digest, size, platforms, other tags")
def repository_tags(
    repository: Repository,
    caller: Caller,
    ctx: Context,
    sort: TagSort = TagSort.NAME,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
) -> RepositoryPage:
    """One page of `images.TAG_PAGE_SIZE` tags. cosign's `sha256-….sig/.att/.sbom` tags are
    left out: they are counted as accessories of their subject."""
    return images.repository_page(ctx, caller, repository, sort, offset)


@router.get("/tags/history", summary="Every digest a tag pointed to, when and by whom")
def tag_history(
    repository: Repository,
    tag: Annotated[str, Query(max_length=128)],
    caller: Caller,
    ctx: Context,
) -> TagDetail:
    return images.tag_detail(ctx, caller, repository, tag)


@router.get("/images", summary="One image: config, labels, layers, platforms, accessories")
def image(
    repository: Repository,
    digest: Annotated[str, Query(max_length=135, description="The manifest's digest.")],
    caller: Caller,
    ctx: Context,
) -> ImageDetail:
    return images.image_detail(ctx, caller, repository, digest)


@router.get("/overview", summary="Images by namespace, recent pushes, storage (admins)")
def overview_cards(caller: Caller, ctx: Context) -> overview.Overview:
    return overview.overview(ctx, caller, _storage)


@router.get(
    "/status",
    summary="Database, storage and directory servers: working or not (registry admins)",
    responses={503: {"description": "Something Dockyard depends on is down."}},
)
def dependency_status(caller: AdminCaller, ctx: Context) -> JSONResponse:
    report = status.check(ctx)
    checks = [report.database, report.storage, *report.directories]
    body = {
        "healthy": report.healthy,
        "free_bytes": report.free_bytes,
        "checks": [
            {"name": c.name, "ok": c.ok, "detail": c.detail, "milliseconds": c.milliseconds}
            for c in checks
        ],
    }
    return JSONResponse(body, 200 if report.healthy else 503)
