"""`/syncs`: repositories that follow a repository of an upstream registry. Adding or
removing one needs admin on the local repository, running one needs write, seeing one
needs read. `POST /syncs/{repository}/run` runs it now and answers when it is over."""

from __future__ import annotations

from typing import Self

from fastapi import APIRouter, Response
from pydantic import BaseModel, Field

from dockyard.admin_api.dependencies import Address, Caller, Imports
from dockyard.registry.upstream import imports
from dockyard.registry.upstream.imports import RunResult

__all__ = ["router"]

router = APIRouter(prefix="/api/v1/syncs", tags=["imports"])


class SyncIn(BaseModel):
    repository: str = Field(description="The local repository (created at the first import).")
    source: str = Field(description="UPSTREAM/REPOSITORY, e.g. `hub/library/alpine`.")
    tags: list[str] = Field(
        default_factory=list, description="Tags or globs (`1.*`) to import; empty: all tags."
    )
    every_minutes: int = Field(0, ge=0, description="Run this often; 0: on demand only.")


class SyncOut(BaseModel):
    repository: str
    upstream: str
    upstream_repository: str
    tags: list[str]
    every_minutes: int
    next_run_at: int | None = Field(description="Scheduled: the next run (or a run's claim).")
    last_run_at: int | None
    last_status: str | None = Field(description="ok, failed, running, or null (never run).")
    last_error: str | None
    last_imported: int | None = Field(description="Tags imported by the last run.")
    created_at: int
    created_by: str | None

    @classmethod
    def of(cls, row: imports.SyncRow) -> Self:
        return cls(
            repository=row.repository, upstream=row.upstream,
            upstream_repository=row.upstream_repository, tags=list(row.tags),
            every_minutes=row.interval_minutes, next_run_at=row.next_run_at,
            last_run_at=row.last_run_at, last_status=row.last_status,
            last_error=row.last_error, last_imported=row.last_imported,
            created_at=row.created_at, created_by=row.created_by,
        )  # fmt: skip


class RunOut(BaseModel):
    repository: str
    status: str = Field(description="ok, or failed (see errors).")
    tags_total: int = Field(description="Upstream tags chosen.")
    imported: int = Field(description="Tags imported or moved by this run.")
    unchanged: int = Field(description="Tags already at the upstream's digest (no write).")
    errors: list[str]

    @classmethod
    def of(cls, result: RunResult) -> Self:
        return cls(
            repository=result.repository, status=result.status, tags_total=result.tags_total,
            imported=result.imported, unchanged=result.unchanged, errors=list(result.errors),
        )  # fmt: skip


@router.get("", summary="The syncs of the repositories you may read")
def list_syncs(caller: Caller, imp: Imports) -> list[SyncOut]:
    return [SyncOut.of(row) for row in imports.list_syncs(imp, caller)]


@router.post("", status_code=201, summary="Make a repository follow an upstream repository")
def add_sync(body: SyncIn, caller: Caller, imp: Imports, address: Address) -> SyncOut:
    row = imports.add_sync(
        imp, caller, address, body.repository, body.source, body.tags, body.every_minutes
    )
    return SyncOut.of(row)


@router.post("/{repository:path}/run", summary="Run a sync now (answers when it is over)")
async def run_sync(repository: str, caller: Caller, imp: Imports, address: Address) -> RunOut:
    return RunOut.of(await imports.run_sync(imp, caller, address, repository))


@router.get("/{repository:path}", summary="One repository's sync")
def get_sync(repository: str, caller: Caller, imp: Imports) -> SyncOut:
    return SyncOut.of(imports.get_sync(imp, caller, repository))


@router.delete("/{repository:path}", status_code=204, summary="Stop following (imports stay)")
def remove_sync(repository: str, caller: Caller, imp: Imports, address: Address) -> Response:
    imports.remove_sync(imp, caller, address, repository)
    return Response(status_code=204)
