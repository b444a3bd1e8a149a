"""`/deletions`: delete tags, manifests, repositories, or a layer from every repository,
after a preview that says what goes and how many bytes become reclaimable; undo a tag or
manifest delete for a short while. The rules are registry.deletes'."""

from __future__ import annotations

from fastapi import APIRouter

from dockyard.admin_api.dependencies import Address, Caller, Context
from dockyard.admin_api.schemas import DeletePlanOut, DeleteResultOut, DeletionIn, UndoOut
from dockyard.auth.manage import ManageContext
from dockyard.auth.principals import Principal
from dockyard.registry import deletes
from dockyard.registry.deletes import DeleteKind

__all__ = ["router"]

router = APIRouter(prefix="/api/v1", tags=["deletions"])


def _plan(ctx: ManageContext, caller: Principal, body: DeletionIn) -> deletes.DeletePlan:
    repository = body.repository or ""
    match body.kind:
        case DeleteKind.TAG:
            return deletes.plan_tag_delete(ctx, caller, repository, body.tags or [])
        case DeleteKind.MANIFEST:
            return deletes.plan_manifest_delete(ctx, caller, repository, body.digests or [])
        case DeleteKind.REPOSITORY:
            return deletes.plan_repository_delete(ctx, caller, repository)
        case DeleteKind.LAYER:
            return deletes.plan_layer_purge(ctx, caller, body.digest or "")


def _execute(
    ctx: ManageContext, caller: Principal, address: str | None, body: DeletionIn
) -> deletes.DeleteResult:
    repository = body.repository or ""
    override = body.override_immutable
    match body.kind:
        case DeleteKind.TAG:
            return deletes.delete_tags(
                ctx, caller, address, repository, body.tags or [], undoable=body.undoable,
                override_immutable=override,
            )  # fmt: skip
        case DeleteKind.MANIFEST:
            return deletes.delete_manifests(
                ctx, caller, address, repository, body.digests or [], undoable=body.undoable,
                override_immutable=override,
            )  # fmt: skip
        case DeleteKind.REPOSITORY:
            return deletes.delete_repository(
                ctx, caller, address, repository, override_immutable=override
            )
        case DeleteKind.LAYER:
            return deletes.purge_layer(
                ctx, caller, address, body.digest or "", override_immutable=override
            )


@router.post("/deletions/preview", summary="What a delete would take (nothing is deleted)")
def preview(body: DeletionIn, caller: Caller, ctx: Context) -> DeletePlanOut:
    return DeletePlanOut.of(_plan(ctx, caller, body))


@router.post("/deletions", summary="Delete (admin role on every repository it touches)")
def delete(body: DeletionIn, caller: Caller, ctx: Context, address: Address) -> DeleteResultOut:
    return DeleteResultOut.of(_execute(ctx, caller, address, body))


@router.post("/deletions/{batch}/undo", summary="Undo a tag or manifest delete, while allowed")
def undo(batch: str, caller: Caller, ctx: Context, address: Address) -> UndoOut:
    return UndoOut.of(deletes.undo(ctx, caller, address, batch))
