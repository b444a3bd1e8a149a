"""Deleting images: tags, manifests, whole repositories, and a layer from everywhere (the
leaked-secret clean-up). Shared by the console, the admin API and the CLI.

Each kind has a `plan_*` (what would go, how many bytes become reclaimable) and an executing
function that works the plan out again inside its one write transaction: the preview is
advice, the transaction decides, and the result says what actually went. Deletes need the
admin role on the repository (a layer purge: on every repository holding the layer); a
caller who cannot read a repository is told it does not exist (pitfalls §27). Each delete
writes audit events naming the actor and address. Registry caches follow the database
generation, so nothing is invalidated by hand.

Deleting a tag removes only that tag. Deleting a manifest removes it with every tag on it,
its accessories (signatures, SBOMs, attestations: by `subject` or by cosign's tag scheme),
recursively, and, for an index, the children that only it lists and no tag names. Tag and
manifest deletes may be undone for `undo_seconds` (`undo`, from registry.undo).
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from enum import StrEnum

from sqlalchemy import Connection

from dockyard.auth.errors import Forbidden, InvalidRequest, NotFound
from dockyard.auth.maintenance import refuse_if_read_only
from dockyard.auth.manage._checks import record, require_active
from dockyard.auth.manage.context import ManageContext
from dockyard.auth.permissions import role_on
from dockyard.auth.principals import Principal
from dockyard.auth.roles import Role
from dockyard.auth.snapshot import AccessSnapshot
from dockyard.metadata.locks import lock_digests
from dockyard.metadata.queries import deletes as q
from dockyard.metadata.queries import gc_queue
from dockyard.metadata.queries import tags as tag_queries
from dockyard.metadata.queries.access import bump_generation
from dockyard.registry.delete_plans import (
    ManifestRole,
    Member,
    TagRef,
    admin_repository,
    grow,
    reclaimable_bytes,
    role_of,
    settle,
)
from dockyard.registry.digests import parse_digest
from dockyard.registry.errors import DigestInvalid
from dockyard.registry.immutability import (
    ImmutableHit,
    protected_tags,
    refuse_unless_overridden,
)
from dockyard.registry.undo import UndoResult, undo

__all__ = [
    "DeleteKind",
    "DeletePlan",
    "DeleteResult",
    "ManifestRef",
    "ManifestRole",
    "TagRef",
    "UndoResult",
    "delete_manifests",
    "delete_repository",
    "delete_tags",
    "plan_layer_purge",
    "plan_manifest_delete",
    "plan_repository_delete",
    "plan_tag_delete",
    "purge_layer",
    "undo",
]


class DeleteKind(StrEnum):
    TAG = "tag"
    """Only the named tags; their manifests stay."""
    MANIFEST = "manifest"
    """Manifests with their tags, accessories and the children only they list."""
    REPOSITORY = "repository"
    """Everything in a repository, and the repository."""
    LAYER = "layer"
    """Every image using a blob, in every repository, then the blob itself."""


@dataclass(frozen=True, slots=True)
class ManifestRef:
    repository: str
    digest: str
    media_type: str
    tags: tuple[str, ...]
    role: ManifestRole


@dataclass(frozen=True, slots=True)
class DeletePlan:
    """What a delete takes. `reclaimable_bytes`: the blobs that no manifest anywhere would use
    afterwards, each counted once (for a tag delete, 0: the manifest stays). For a layer,
    `hidden` counts images in repositories the caller does not administer, and
    `hidden_repositories` those repositories (they are not named); either stops the purge.
    `immutable`: the tags it would remove that a rule protects; they stop it unless a
    registry admin overrides."""

    kind: DeleteKind
    target: str
    tags: tuple[TagRef, ...]
    manifests: tuple[ManifestRef, ...]
    reclaimable_bytes: int
    repositories: tuple[str, ...] = ()
    hidden: int = 0
    hidden_repositories: int = 0
    immutable: tuple[ImmutableHit, ...] = ()


@dataclass(frozen=True, slots=True)
class DeleteResult:
    """The plan as executed; `undo` is the handle to pass to `undo`, valid until
    `undo_until` (both None unless an undoable tag or manifest delete)."""

    plan: DeletePlan
    undo: str | None = None
    undo_until: int | None = None


@dataclass
class _Work:
    plan: DeletePlan
    repo_id: int = 0  # the repository (all kinds but a layer)
    going: dict[int, Member] = field(default_factory=dict)  # manifest id -> why it goes
    tags: dict[str, tuple[int, str]] = field(default_factory=dict)  # name -> manifest, digest


# -- input -------------------------------------------------------------------------------


def _digest(value: str) -> str:
    try:
        return parse_digest(value)
    except DigestInvalid as err:
        raise InvalidRequest(f"{value!r}: {err.message}") from None


# -- working out plans -------------------------------------------------------------------


def _manifest_refs(
    conn: Connection, going: dict[int, Member], visible: set[int] | None = None
) -> tuple[tuple[ManifestRef, ...], tuple[TagRef, ...]]:
    """What goes, by repository, then role (what was named, or uses the layer, before
    children and accessories), then digest; only repositories in `visible`, when given."""
    members = [m for m in going.values() if visible is None or m.info.repository_id in visible]
    names = q.repository_names(conn, {m.info.repository_id for m in members})
    tags = q.tags_on(conn, [m.info.id for m in members])
    order = list(ManifestRole)
    members.sort(key=lambda m: (names[m.info.repository_id], order.index(m.role), m.info.digest))
    manifests = tuple(
        ManifestRef(
            names[m.info.repository_id],
            m.info.digest,
            m.info.media_type,
            tuple(tags.get(m.info.id, ())),
            m.role,
        )
        for m in members
    )
    tag_refs = tuple(
        TagRef(ref.repository, tag, ref.digest) for ref in manifests for tag in ref.tags
    )
    return manifests, tag_refs


def _immutable(conn: Connection, refs: tuple[TagRef, ...]) -> tuple[ImmutableHit, ...]:
    return tuple(protected_tags(conn, ((ref.repository, ref.tag) for ref in refs)))


def _tag_work(
    conn: Connection,
    snapshot: AccessSnapshot,
    caller: Principal,
    repository: str,
    tags: list[str],
    *,
    lock: bool = False,
) -> _Work:
    if not tags:
        raise InvalidRequest("name at least one tag")
    repo_id = admin_repository(conn, snapshot, caller, repository)
    names = list(dict.fromkeys(tags))
    found = q.tags_by_name(conn, repo_id, names, lock=lock)
    for name in names:
        if name not in found:
            raise NotFound(f"tag {repository}:{name} not found")
    refs = tuple(TagRef(repository, name, found[name][1]) for name in names)
    target = f"{repository}:{names[0]}" if len(names) == 1 else f"{repository} ({len(names)} tags)"
    plan = DeletePlan(
        DeleteKind.TAG, target, refs, (), 0, (repository,), immutable=_immutable(conn, refs)
    )
    return _Work(plan, repo_id, tags=found)


def _manifest_work(
    conn: Connection,
    snapshot: AccessSnapshot,
    caller: Principal,
    repository: str,
    digests: list[str],
) -> _Work:
    if not digests:
        raise InvalidRequest("name at least one manifest digest")
    named_digests = list(dict.fromkeys(_digest(d) for d in digests))
    repo_id = admin_repository(conn, snapshot, caller, repository)
    infos = {info.digest: info for info in q.manifests_by_digests(conn, repo_id, named_digests)}
    for digest in named_digests:
        if digest not in infos:
            raise NotFound(f"manifest {repository}@{digest} not found")
    going = {info.id: Member(info, role_of(info)) for info in infos.values()}
    grow(conn, going, upward=False)
    settle(conn, going, {info.id for info in infos.values()})
    manifests, tag_refs = _manifest_refs(conn, going)
    target = (
        f"{repository}@{named_digests[0]}"
        if len(named_digests) == 1
        else f"{repository} ({len(named_digests)} manifests)"
    )
    plan = DeletePlan(
        DeleteKind.MANIFEST,
        target,
        tag_refs,
        manifests,
        reclaimable_bytes(conn, set(going)),
        (repository,),
        immutable=_immutable(conn, tag_refs),
    )
    return _Work(plan, repo_id, going)


def _repository_work(
    conn: Connection, snapshot: AccessSnapshot, caller: Principal, repository: str
) -> _Work:
    repo_id = admin_repository(conn, snapshot, caller, repository)
    going = {i.id: Member(i, role_of(i)) for i in q.manifests_in_repository(conn, repo_id)}
    manifests, tag_refs = _manifest_refs(conn, going)
    plan = DeletePlan(
        DeleteKind.REPOSITORY,
        repository,
        tag_refs,
        manifests,
        reclaimable_bytes(conn, set(going)),
        (repository,),
        immutable=_immutable(conn, tag_refs),
    )
    return _Work(plan, repo_id, going)


def _layer_work(
    conn: Connection, snapshot: AccessSnapshot, caller: Principal, digest: str
) -> _Work:
    require_active(snapshot, caller)
    digest = _digest(digest)
    going = {info.id: Member(info, role_of(info)) for info in q.manifests_using_blob(conn, digest)}
    linking = q.repositories_linking(conn, digest)
    grow(conn, going, upward=True)
    names = linking | q.repository_names(conn, {m.info.repository_id for m in going.values()})
    roles = {repo_id: role_on(snapshot, caller, name) for repo_id, name in names.items()}
    if not any(role is not None for role in roles.values()):
        raise NotFound(f"layer {digest} not found")
    administered = {repo_id for repo_id, role in roles.items() if role is Role.ADMIN}
    if not administered:
        raise Forbidden("purging a layer needs the admin role on every repository holding it")
    manifests, tag_refs = _manifest_refs(conn, going, administered)
    plan = DeletePlan(
        DeleteKind.LAYER,
        digest,
        tag_refs,
        manifests,
        reclaimable_bytes(conn, set(going), {digest}),
        tuple(sorted(names[repo_id] for repo_id in administered)),
        hidden=sum(1 for m in going.values() if m.info.repository_id not in administered),
        hidden_repositories=len(names.keys() - administered),
        immutable=_immutable(conn, tag_refs),
    )
    return _Work(plan, going=going)


# -- plans -------------------------------------------------------------------------------


def plan_tag_delete(
    ctx: ManageContext, caller: Principal, repository: str, tags: list[str]
) -> DeletePlan:
    snapshot = ctx.snapshot()
    with ctx.db.read() as conn:
        return _tag_work(conn, snapshot, caller, repository, tags).plan


def plan_manifest_delete(
    ctx: ManageContext, caller: Principal, repository: str, digests: list[str]
) -> DeletePlan:
    snapshot = ctx.snapshot()
    with ctx.db.read() as conn:
        return _manifest_work(conn, snapshot, caller, repository, digests).plan


def plan_repository_delete(ctx: ManageContext, caller: Principal, repository: str) -> DeletePlan:
    snapshot = ctx.snapshot()
    with ctx.db.read() as conn:
        return _repository_work(conn, snapshot, caller, repository).plan


def plan_layer_purge(ctx: ManageContext, caller: Principal, digest: str) -> DeletePlan:
    snapshot = ctx.snapshot()
    with ctx.db.read() as conn:
        return _layer_work(conn, snapshot, caller, digest).plan


# -- executing ---------------------------------------------------------------------------


def _new_batch(ctx: ManageContext, conn: Connection, at: int, undoable: bool) -> str | None:
    q.prune_deleted(conn, at - ctx.undo_seconds, at)
    return secrets.token_hex(16) if undoable and ctx.undo_seconds > 0 else None


def _remove_manifests(
    ctx: ManageContext,
    conn: Connection,
    caller: Principal,
    going: dict[int, Member],
    at: int,
    batch: str | None,
) -> None:
    """Delete the manifests with their tags, recording tag history and (with a batch) what
    an undo needs."""
    tags = q.tags_on(conn, going)
    if batch is not None:
        payloads = q.payloads(conn, going)
        rows = [
            q.DeletedRow(
                m.info.repository_id, m.info.digest, tags.get(m.info.id, []),
                m.info.media_type, payloads[m.info.id], at, caller.subject,
            )
            for m in going.values()
        ]  # fmt: skip
        q.add_deleted(conn, batch, rows)
    gc_queue.manifests_going(conn, going, at)
    q.delete_manifests(conn, list(going))
    for m in going.values():
        names = tags.get(m.info.id, [])
        tag_queries.record_events(
            conn, m.info.repository_id, names, m.info.digest, "delete", at, caller.name
        )


def _overridden(
    ctx: ManageContext, caller: Principal, plan: DeletePlan, override: bool
) -> list[str]:
    return refuse_unless_overridden(ctx, caller, list(plan.immutable), override)


def _detail(detail: dict[str, object], overridden: list[str]) -> dict[str, object]:
    """The audit detail, naming the immutable tags a registry admin's override removed."""
    return {**detail, "immutable_override": overridden} if overridden else detail


def _result(ctx: ManageContext, plan: DeletePlan, batch: str | None, at: int) -> DeleteResult:
    return DeleteResult(plan, batch, at + ctx.undo_seconds if batch else None)


def delete_tags(
    ctx: ManageContext,
    caller: Principal,
    address: str | None,
    repository: str,
    tags: list[str],
    *,
    undoable: bool = False,
    override_immutable: bool = False,
) -> DeleteResult:
    """Remove the named tags only (never other tags on the same manifests)."""
    snapshot = ctx.snapshot()
    refuse_if_read_only(snapshot, ctx.read_only)
    at = ctx.now()
    with ctx.db.write() as conn:
        work = _tag_work(conn, snapshot, caller, repository, tags, lock=True)
        overridden = _overridden(ctx, caller, work.plan, override_immutable)
        batch = _new_batch(ctx, conn, at, undoable)
        by_digest: dict[str, list[str]] = {}
        for ref in work.plan.tags:
            by_digest.setdefault(ref.digest, []).append(ref.tag)
        if batch is not None:
            rows = [
                q.DeletedRow(work.repo_id, digest, names, None, None, at, caller.subject)
                for digest, names in by_digest.items()
            ]
            q.add_deleted(conn, batch, rows)
        q.delete_tags(conn, work.repo_id, list(work.tags))
        gc_queue.enqueue_manifests(conn, {m for m, _ in work.tags.values()}, at)
        for ref in work.plan.tags:
            tag_queries.record_events(
                conn, work.repo_id, [ref.tag], ref.digest, "delete", at, caller.name
            )
            record(
                conn, ctx, caller, address, "tag.delete", f"{repository}:{ref.tag}",
                _detail({"digest": ref.digest, "undo": batch}, overridden),
            )  # fmt: skip
    return _result(ctx, work.plan, batch, at)


def delete_manifests(
    ctx: ManageContext,
    caller: Principal,
    address: str | None,
    repository: str,
    digests: list[str],
    *,
    undoable: bool = False,
    override_immutable: bool = False,
) -> DeleteResult:
    """Remove manifests with every tag on them, their accessories and the index children
    only they list. A manifest an index that stays lists is refused (Conflict)."""
    snapshot = ctx.snapshot()
    refuse_if_read_only(snapshot, ctx.read_only)
    at = ctx.now()
    with ctx.db.write() as conn:
        work = _manifest_work(conn, snapshot, caller, repository, digests)
        overridden = _overridden(ctx, caller, work.plan, override_immutable)
        batch = _new_batch(ctx, conn, at, undoable)
        _remove_manifests(ctx, conn, caller, work.going, at, batch)
        also = [m.digest for m in work.plan.manifests if m.role in _SECONDARY]
        for ref in work.plan.manifests:
            if ref.role not in _SECONDARY:
                record(
                    conn, ctx, caller, address, "manifest.delete", f"{repository}@{ref.digest}",
                    _detail({"tags": list(ref.tags), "also": also, "undo": batch,
                             "reclaimable_bytes": work.plan.reclaimable_bytes}, overridden),
                )  # fmt: skip
    return _result(ctx, work.plan, batch, at)


_SECONDARY = frozenset({ManifestRole.ACCESSORY, ManifestRole.INDEX_CHILD})


def delete_repository(
    ctx: ManageContext,
    caller: Principal,
    address: str | None,
    repository: str,
    *,
    override_immutable: bool = False,
) -> DeleteResult:
    """Remove a repository with everything in it: tags, manifests, blob links, tag
    history, undo records, upload sessions; grants on it go with it."""
    snapshot = ctx.snapshot()
    refuse_if_read_only(snapshot, ctx.read_only)
    with ctx.db.write() as conn:
        work = _repository_work(conn, snapshot, caller, repository)
        overridden = _overridden(ctx, caller, work.plan, override_immutable)
        gc_queue.enqueue_linked_in(conn, work.repo_id, ctx.now())  # its links go now
        uploads = q.delete_repository(conn, work.repo_id, repository)
        bump_generation(conn)  # its grants and policy are gone
        record(
            conn, ctx, caller, address, "repository.delete", f"repository:{repository}",
            _detail({"manifests": len(work.plan.manifests), "tags": len(work.plan.tags),
                     "reclaimable_bytes": work.plan.reclaimable_bytes}, overridden),
        )  # fmt: skip
    if ctx.store is not None:
        for upload_id in uploads:
            ctx.store.delete_upload(upload_id)
    return DeleteResult(work.plan)


def purge_layer(
    ctx: ManageContext,
    caller: Principal,
    address: str | None,
    digest: str,
    *,
    override_immutable: bool = False,
) -> DeleteResult:
    """Remove every image using the blob, in every repository (with the indexes listing
    them and their accessories), unlink it everywhere and delete its bytes, so that no
    repository can serve it. Refused unless the caller administers every repository
    holding it. Not undoable."""
    store = ctx.store
    if store is None:
        raise RuntimeError("purging a layer needs the blob store")
    snapshot = ctx.snapshot()
    refuse_if_read_only(snapshot, ctx.read_only)
    at = ctx.now()
    hidden = False
    try:
        with ctx.db.write() as conn:
            lock_digests(conn, [_digest(digest)])
            work = _layer_work(conn, snapshot, caller, digest)
            plan = work.plan
            if plan.hidden or plan.hidden_repositories:
                raise Forbidden(
                    f"{plan.hidden} images in {plan.hidden_repositories} repositories you do "
                    "not administer use this layer; a registry admin must purge it"
                )
            overridden = _overridden(ctx, caller, plan, override_immutable)
            _remove_manifests(ctx, conn, caller, work.going, at, None)
            q.purge_blob(conn, plan.target)
            record(
                conn, ctx, caller, address, "layer.purge", f"layer:{plan.target}",
                _detail({"repositories": list(plan.repositories),
                 "manifests": [f"{m.repository}@{m.digest}" for m in plan.manifests],
                 "reclaimable_bytes": plan.reclaimable_bytes}, overridden),
            )  # fmt: skip
            # Hidden inside the transaction, under the digest's lock, after the rows: an
            # upload of the same digest places its file under that lock too, so a blob row
            # never outlives its file (pitfalls §14). Dropped for good once the delete has
            # committed; a crash in between leaves hidden bytes the next GC run drops.
            hidden = store.hide_blob(plan.target)
    except BaseException:
        if hidden:
            store.restore_blob(_digest(digest))
        raise
    if hidden:
        store.drop_hidden([plan.target])
    return DeleteResult(plan)
