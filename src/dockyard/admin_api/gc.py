"""`/gc`: garbage collection for registry admins. Start a run (a collection, a dry run
that changes nothing, or a verification of the store against the database), follow its
progress, read its figures and the list of what it removed (or would remove, or found
wrong). The rules are registry.gc's."""

from __future__ import annotations

from typing import Annotated, Self

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from dockyard.admin_api.dependencies import AdminCaller, Context
from dockyard.registry import gc
from dockyard.registry.gc import GcMode

__all__ = ["router"]

router = APIRouter(prefix="/api/v1/gc", tags=["garbage collection"])


class GcRunIn(BaseModel):
    mode: GcMode = Field(GcMode.COLLECT, description="collect, dry-run or verify.")
    grace_seconds: int | None = Field(
        None,
        ge=0,
        description="Remove only what became unreachable at least this long ago (default: "
        "the gc_grace_seconds setting). What a client touched within the in-flight window "
        "stays whatever this says.",
    )


class GcRunOut(BaseModel):
    id: int
    mode: str
    trigger: str = Field(description="schedule or api (the CLI and the console use the API).")
    actor: str | None
    grace_seconds: int
    status: str = Field(description="running, done, failed or interrupted.")
    phase: str
    started_at: int
    heartbeat_at: int
    finished_at: int | None
    figures: dict[str, int] = Field(
        description="manifests_removed, blobs_removed, links_removed, bytes_freed (bytes the "
        "store confirmed deleting; a dry run: the bytes it holds for what would go), "
        "uploads_removed, upload_bytes_freed, *_examined, kept_recent; a verification: "
        "blobs_checked, orphan_files, missing_files, corrupt_files."
    )
    error: str | None

    @classmethod
    def of(cls, row: gc.RunRow) -> Self:
        return cls(
            id=row.id, mode=row.mode, trigger=row.trigger, actor=row.actor,
            grace_seconds=row.grace_seconds, status=row.status, phase=row.phase,
            started_at=row.started_at, heartbeat_at=row.heartbeat_at,
            finished_at=row.finished_at, figures=row.figures, error=row.error,
        )  # fmt: skip


class GcSettingsOut(BaseModel):
    grace_seconds: int
    in_flight_seconds: int
    untagged: bool
    interval_seconds: int = Field(description="0: no scheduled runs.")
    upload_expiry_seconds: int


class GcOverviewOut(BaseModel):
    runs: list[GcRunOut] = Field(description="The last runs, newest first.")
    settings: GcSettingsOut
    queued_manifests: int = Field(description="Manifests waiting for review.")
    queued_blobs: int = Field(description="Blobs waiting for review.")


class GcItemOut(BaseModel):
    seq: int
    kind: str = Field(
        description="manifest, link, blob, upload; a verification: orphan, missing, corrupt."
    )
    repository: str | None
    digest: str | None = Field(description="The digest, or an upload's id.")
    size: int
    note: str | None


class GcItemsOut(BaseModel):
    items: list[GcItemOut]
    next_after: int | None = Field(description="Pass as `after` for the next page; None: done.")


@router.get("", summary="The last runs, the settings and the review queues")
def overview(
    caller: AdminCaller, ctx: Context, limit: Annotated[int, Query(ge=1, le=50)] = 20
) -> GcOverviewOut:
    manifests, blobs = gc.queue_sizes(ctx, caller)
    settings = ctx.gc
    return GcOverviewOut(
        runs=[GcRunOut.of(row) for row in gc.list_runs(ctx, caller, limit)],
        settings=GcSettingsOut(
            grace_seconds=settings.grace_seconds,
            in_flight_seconds=settings.in_flight_seconds,
            untagged=settings.untagged,
            interval_seconds=settings.interval_seconds,
            upload_expiry_seconds=settings.upload_expiry_seconds,
        ),
        queued_manifests=manifests,
        queued_blobs=blobs,
    )


@router.post("/runs", status_code=202, summary="Start a run (follow it with GET /gc/runs/{id})")
def start(body: GcRunIn, caller: AdminCaller, ctx: Context) -> GcRunOut:
    return GcRunOut.of(gc.start(ctx, caller, body.mode, body.grace_seconds))


@router.get("/runs/{run_id}", summary="A run's progress and figures")
def get_run(run_id: int, caller: AdminCaller, ctx: Context) -> GcRunOut:
    return GcRunOut.of(gc.get_run(ctx, caller, run_id))


@router.get("/runs/{run_id}/items", summary="What a run removed, would remove, or found")
def items(
    run_id: int,
    caller: AdminCaller,
    ctx: Context,
    after: Annotated[int, Query(ge=0)] = 0,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 1000,
    kind: str | None = None,
) -> GcItemsOut:
    found = gc.run_items(ctx, caller, run_id, after=after, limit=limit, kind=kind)
    out = [GcItemOut.model_validate(item, from_attributes=True) for item in found]
    return GcItemsOut(items=out, next_after=found[-1].seq if len(found) == limit else None)
