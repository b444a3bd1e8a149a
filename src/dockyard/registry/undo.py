"""Undoing a tag or manifest delete, for `undo_seconds` after it, by whoever made it (or a
registry admin who still may): manifests are put back from their stored bytes (the children
before the indexes listing them) and tags point again where they pointed. All or nothing:
a tag pushed again since, or a blob purged since, refuses the whole undo."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Connection

from dockyard.auth.errors import Conflict, Forbidden, NotFound
from dockyard.auth.maintenance import refuse_if_read_only
from dockyard.auth.manage._checks import record, require_active
from dockyard.auth.manage.context import ManageContext
from dockyard.auth.permissions import is_registry_admin
from dockyard.auth.principals import Principal
from dockyard.metadata.queries import deletes as q
from dockyard.metadata.queries import gc_queue
from dockyard.metadata.queries import manifests as manifest_queries
from dockyard.metadata.queries import tags as tag_queries
from dockyard.registry.delete_plans import TagRef, admin_repository
from dockyard.registry.errors import RegistryError
from dockyard.registry.manifest_parser import parse_manifest
from dockyard.registry.manifest_rows import insert_manifest
from dockyard.registry.types import ParsedManifest, ReferenceKind

__all__ = ["UndoResult", "undo"]


@dataclass(frozen=True, slots=True)
class UndoResult:
    batch: str
    repository: str
    tags: tuple[TagRef, ...]
    manifests: tuple[str, ...]  # digests put back


def _children(parsed: ParsedManifest) -> set[str]:
    return {d.digest for kind, d in parsed.references() if kind is ReferenceKind.CHILD}


def _restore_manifests(
    conn: Connection, repo_id: int, rows: list[q.DeletedRow], at: int, actor: str
) -> list[str]:
    pending = {row.digest: row for row in rows if row.payload is not None}
    parsed = {d: parse_manifest(row.payload or b"", row.media_type) for d, row in pending.items()}
    restored: list[str] = []
    while pending:
        wanted = sorted({c for d in pending for c in _children(parsed[d])})
        present = {info.digest for info in q.manifests_by_digests(conn, repo_id, wanted)}
        ready = [d for d in sorted(pending) if _children(parsed[d]) <= present]
        if not ready:
            raise Conflict("cannot undo: an index lists a manifest that is gone since")
        for digest in ready:
            row = pending.pop(digest)
            try:
                manifest_id = insert_manifest(
                    conn, repo_id, digest, row.payload or b"", parsed[digest], at, actor
                )
            except RegistryError as err:
                raise Conflict(
                    f"cannot undo: {digest} needs {err.detail}, which is gone since "
                    "(deleted, purged or garbage-collected)"
                ) from None
            # Reviewed like any push: the tags put back keep it, else GC may take it.
            gc_queue.enqueue_manifests(conn, [manifest_id], at)
            restored.append(digest)
    return restored


def _restore_tags(
    conn: Connection, repo_id: int, repository: str, rows: list[q.DeletedRow], at: int, actor: str
) -> list[TagRef]:
    restored: list[TagRef] = []
    for row in rows:
        if not row.tags:
            continue
        manifest = manifest_queries.manifest_by_digest(conn, repo_id, row.digest)
        if manifest is None:
            raise Conflict(f"cannot undo: {repository}@{row.digest} is gone since")
        existing = q.tags_by_name(conn, repo_id, row.tags, lock=True)
        for name in row.tags:
            now_at = existing.get(name)
            if now_at is not None and now_at[1] != row.digest:
                raise Conflict(
                    f"cannot undo: {repository}:{name} was pushed again since "
                    f"(it now points at {now_at[1]})"
                )
            tag_queries.set_tag(conn, repo_id, name, manifest.id, row.digest, at, actor)
            restored.append(TagRef(repository, name, row.digest))
    return restored


def undo(ctx: ManageContext, caller: Principal, address: str | None, batch: str) -> UndoResult:
    """Put back what the delete with handle `batch` removed."""
    snapshot = ctx.snapshot()
    require_active(snapshot, caller)
    refuse_if_read_only(snapshot, ctx.read_only)
    at = ctx.now()
    with ctx.db.write() as conn:
        rows = q.deleted_batch(conn, batch)
        if not rows:
            raise NotFound("nothing to undo: unknown, expired or already undone")
        first = rows[0]
        if first.deleted_by != caller.subject and not is_registry_admin(snapshot, caller):
            raise Forbidden("only whoever deleted (or a registry admin) may undo it")
        if first.deleted_at < at - ctx.undo_seconds:
            raise Conflict(f"too late to undo: deletes may be undone for {ctx.undo_seconds} s")
        repository = q.repository_names(conn, [first.repository_id])[first.repository_id]
        repo_id = admin_repository(conn, snapshot, caller, repository)
        manifests = _restore_manifests(conn, repo_id, rows, at, caller.name)
        tags = _restore_tags(conn, repo_id, repository, rows, at, caller.name)
        q.forget_batch(conn, batch)
        record(
            conn, ctx, caller, address, "delete.undo", repository,
            {"batch": batch, "manifests": manifests, "tags": [t.tag for t in tags]},
        )  # fmt: skip
    return UndoResult(batch, repository, tuple(tags), tuple(manifests))
