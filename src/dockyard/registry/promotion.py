"""Promotion: an image moves from one environment's repository to the next one's
(`dev/shop/api` → `test/shop/api`), by digest and server-side — its manifest, the
children of an index and its accessories (referrers, cosign-tagged signatures) are stored
again in the target with the very bytes, and its blobs are linked there; no byte of a blob
is copied. The environments and their gates come from Settings.environments.

Permission: read on the source (else it does not exist, pitfalls §27), write on the target,
and the next environment only unless the caller administers the target. The gates of the
target environment are decided first; a refusal names every gate that failed and is
audited. Each promotion is recorded (`promotion` rows, audit action `image.promote`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import Connection

from dockyard.auth.errors import Conflict, Forbidden, InvalidRequest, NotFound
from dockyard.auth.maintenance import refuse_if_read_only
from dockyard.auth.manage._checks import at_least, record, require_active
from dockyard.auth.manage.context import ManageContext
from dockyard.auth.permissions import role_on
from dockyard.auth.principals import Principal, PrincipalKind
from dockyard.auth.roles import Role
from dockyard.auth.snapshot import AccessSnapshot
from dockyard.config import EnvironmentConfig
from dockyard.metadata.queries import deletes as dq
from dockyard.metadata.queries import gc_queue, groups, repositories
from dockyard.metadata.queries import manifests as manifest_queries
from dockyard.metadata.queries import promotions as q
from dockyard.registry import mediatypes as mt
from dockyard.registry import tag_follows
from dockyard.registry.delete_plans import cosign_tags
from dockyard.registry.errors import Denied, RegistryError
from dockyard.registry.image_config import MAX_CONFIG_BYTES, parse_image_config
from dockyard.registry.image_copy import copy_image
from dockyard.registry.manifest_parser import parse_manifest
from dockyard.registry.manifest_rows import point_tag
from dockyard.registry.names import validate_tag
from dockyard.registry.promotion_gates import GateFacts, GateResult, decide
from dockyard.registry.references import parse_reference
from dockyard.registry.types import ParsedManifest, ReferenceKind
from dockyard.storage.base import StorageError

__all__ = [
    "Approval",
    "PromotionRefused",
    "PromotionResult",
    "Stage",
    "approve",
    "history",
    "promote",
    "stage_of",
]

# What cosign's tag scheme stands for, as the artifact type a referrer gate names.
_COSIGN_TYPES = {
    ".sig": "application/vnd.dev.cosign.artifact.sig.v1+json",
    ".att": "application/vnd.dsse.envelope.v1+json",
    ".sbom": "application/vnd.dev.cosign.artifact.sbom.v1+json",
}
_REFERRER_LIMIT = 1000


@dataclass(frozen=True, slots=True)
class Stage:
    """Where a repository sits in the release flow."""

    index: int
    environment: EnvironmentConfig
    application: str  # the name below the environment: `shop/api` of `dev/shop/api`

    def repository(self) -> str:
        return f"{self.environment.name}/{self.application}"


@dataclass(frozen=True, slots=True)
class PromotionResult:
    id: int
    at: int
    actor: str | None
    digest: str
    application: str
    source_repository: str
    source_tag: str | None
    target_repository: str
    target_tag: str
    gates: tuple[GateResult, ...]
    manifests: int = 0  # stored in the target (the image, its children, its accessories)
    blobs: int = 0  # linked in the target


@dataclass(frozen=True, slots=True)
class Approval:
    digest: str
    environment: str
    approved_by: str
    at: int
    note: str | None


class PromotionRefused(Forbidden):
    """A gate failed: `gates` holds every gate, passed or not."""

    def __init__(self, message: str, gates: Sequence[GateResult]) -> None:
        super().__init__(message)
        self.gates = tuple(gates)


# -- names -------------------------------------------------------------------------------


def _environment(ctx: ManageContext, name: str) -> tuple[int, EnvironmentConfig]:
    for index, environment in enumerate(ctx.environments):
        if environment.name == name:
            return index, environment
    names = ", ".join(e.name for e in ctx.environments) or "none are configured"
    raise InvalidRequest(f"{name!r} is not an environment ({names})")


def stage_of(ctx: ManageContext, repository: str) -> Stage | None:
    namespace, _, application = repository.partition("/")
    if not application:
        return None
    for index, environment in enumerate(ctx.environments):
        if environment.name == namespace:
            return Stage(index, environment, application)
    return None


def _stage(ctx: ManageContext, repository: str) -> Stage:
    stage = stage_of(ctx, repository)
    if stage is None:
        names = ", ".join(e.name for e in ctx.environments)
        raise InvalidRequest(
            f"{repository} is not in an environment: promotion moves images between the "
            f"namespaces {names}"
        )
    return stage


def _check_may_promote(
    snapshot: AccessSnapshot, caller: Principal, source: Stage, target: Stage
) -> None:
    role = role_on(snapshot, caller, target.repository())
    if not at_least(role, Role.WRITE):
        raise Forbidden(f"promoting into {target.repository()} needs the write role on it")
    if target.index == source.index:
        raise InvalidRequest(f"{source.repository()} is in {target.environment.name} already")
    if target.index != source.index + 1 and role is not Role.ADMIN:
        raise Forbidden(
            f"{target.environment.name} does not come right after {source.environment.name}: "
            f"only an admin of {target.repository()} may promote there directly"
        )


# -- gate facts (read before the write: a config is read from the blob store) -------------


def _labels(ctx: ManageContext, configs: list[tuple[str, int]]) -> list[dict[str, str]]:
    found: list[dict[str, str]] = []
    for digest, size in configs:
        data = b""
        if ctx.store is not None and size <= MAX_CONFIG_BYTES:
            try:
                with ctx.store.open_blob(digest) as handle:
                    data = handle.read(MAX_CONFIG_BYTES + 1)
            except (OSError, StorageError):
                data = b""
        config = parse_image_config(data) if data else None
        found.append(dict(config.labels) if config is not None else {})
    return found


def _referrer_types(conn: Connection, repo_id: int, digest: str) -> frozenset[str]:
    rows = manifest_queries.referrers(conn, repo_id, digest, None, None, _REFERRER_LIMIT)
    types = {row.artifact_type or row.config_media_type or "" for row in rows}
    names = cosign_tags(digest)
    tagged = dq.tags_by_name(conn, repo_id, names)
    types |= {_COSIGN_TYPES[name[name.rindex(".") :]] for name in tagged}
    return frozenset(types - {""})


def _configs(conn: Connection, repo_id: int, parsed: ParsedManifest) -> list[tuple[str, int]]:
    """The image's config, or every platform image's of an index (attestations aside)."""
    if parsed.config is not None:
        return [(parsed.config.digest, parsed.config.size)]
    found: list[tuple[str, int]] = []
    for kind, descriptor in parsed.references():
        if kind is not ReferenceKind.CHILD or descriptor.media_type not in mt.MANIFEST_TYPES:
            continue
        child = manifest_queries.manifest_by_digest(conn, repo_id, descriptor.digest)
        if child is None:
            continue
        child_parsed = parse_manifest(child.payload, child.media_type)
        attestation = (child_parsed.annotations or {}).get("vnd.docker.reference.type")
        if child_parsed.config is not None and not attestation:
            found.append((child_parsed.config.digest, child_parsed.config.size))
    return found


def _named(
    conn: Connection, repository: str, tag: str | None, digest: str | None
) -> tuple[int, manifest_queries.ManifestRow]:
    """The repository's id and the manifest the tag (or digest) names, or NotFound."""
    repo_id = repositories.repository_id(conn, repository)
    row = None
    if repo_id is not None:
        row = (
            manifest_queries.manifest_by_tag(conn, repo_id, tag)
            if tag is not None
            else manifest_queries.manifest_by_digest(conn, repo_id, digest or "")
        )
    if repo_id is None or row is None:
        name = f"{repository}:{tag}" if tag is not None else f"{repository}@{digest}"
        raise NotFound(f"{name} not found")
    return repo_id, row


def _facts(
    ctx: ManageContext, repository: str, tag: str | None, digest: str | None, target: Stage
) -> tuple[str, GateFacts]:
    """The digest the reference names now, and what the gates look at."""
    with ctx.db.read() as conn:
        repo_id, row = _named(conn, repository, tag, digest)
        parsed = parse_manifest(row.payload, row.media_type)
        configs = _configs(conn, repo_id, parsed) if target.environment.gates.labels else []
        types = _referrer_types(conn, repo_id, row.digest)
        arrived = q.arrived_at(conn, repo_id, row.digest) or ctx.now()
        approvers = [a.approved_by for a in q.approvals(conn, row.digest, target.environment.name)]
    facts = GateFacts(
        annotations=dict(parsed.annotations or {}),
        labels=_labels(ctx, configs),
        referrer_types=types,
        hours_in_source=max(0, ctx.now() - arrived) / 3600,
        approvers=approvers,
    )
    return row.digest, facts


# -- the copy (one write transaction) ------------------------------------------------------


def _copy(
    ctx: ManageContext,
    conn: Connection,
    caller: Principal,
    source: tuple[str, str | None, str],
    target: tuple[str, str],
    at: int,
) -> tuple[int, int]:
    repository, tag, digest = source
    source_id = repositories.repository_id(conn, repository)
    roots = dq.manifests_by_digests(conn, source_id, [digest]) if source_id else []
    if source_id is None or not roots:
        raise NotFound(f"{repository}@{digest} not found")
    if tag is not None:
        now_at = dq.tags_by_name(conn, source_id, [tag]).get(tag)
        if now_at is None or now_at[1] != digest:
            raise Conflict(f"{repository}:{tag} moved while promoting; promote again")
    target_repository, target_tag = target
    copied = copy_image(conn, source_id, roots[0], target_repository, at, caller.name)
    tags = {target_tag: (copied.root_id, digest), **copied.accessory_tags}
    for name, (manifest_id, manifest_digest) in tags.items():
        previous = point_tag(
            conn, copied.target_id, target_repository, name, manifest_id, manifest_digest,
            at, caller.name,
        )  # fmt: skip
        if previous is not None:
            gc_queue.enqueue_manifests(conn, [previous], at)
    tag_follows.propagate(conn, target_repository, target_tag, at, caller.name)
    repositories.mark_pushed(conn, copied.target_id, at)
    return copied.manifests, copied.blobs


def promote(
    ctx: ManageContext,
    caller: Principal,
    address: str | None,
    reference: str,
    to: str,
    tag: str | None = None,
) -> PromotionResult:
    """Promote `repo:tag` or `repo@digest` into the environment `to`, under the same tag
    (or `tag`)."""
    snapshot = ctx.snapshot()
    refuse_if_read_only(snapshot, ctx.read_only)
    require_active(snapshot, caller)
    repository, source_tag, digest = parse_reference(reference)
    if role_on(snapshot, caller, repository) is None:
        raise NotFound(f"{reference} not found")
    source = _stage(ctx, repository)
    index, environment = _environment(ctx, to)
    target = Stage(index, environment, source.application)
    target_tag = tag or source_tag
    if target_tag is None:
        raise InvalidRequest("promoting by digest needs the tag to give it in the target")
    try:
        validate_tag(target_tag)
    except RegistryError as err:
        raise InvalidRequest(err.message) from None
    _check_may_promote(snapshot, caller, source, target)
    digest, facts = _facts(ctx, repository, source_tag, digest, target)
    gates = decide(environment.gates, facts, source.environment.name)
    failed = [gate for gate in gates if not gate.passed]
    what = f"{repository}@{digest}"
    if failed:
        with ctx.db.write() as conn:
            record(
                conn, ctx, caller, address, "image.promote.refused",
                f"{target.repository()}:{target_tag}",
                {"digest": digest, "source": repository, "gates": [g.as_dict() for g in gates]},
            )  # fmt: skip
        reasons = "; ".join(gate.detail for gate in failed)
        raise PromotionRefused(f"promotion of {what} to {environment.name} refused: {reasons}",
                               gates)  # fmt: skip
    at = ctx.now()
    try:
        with ctx.db.write() as conn:
            manifests, blobs = _copy(
                ctx, conn, caller, (repository, source_tag, digest),
                (target.repository(), target_tag), at,
            )  # fmt: skip
            gate_rows = [gate.as_dict() for gate in gates]
            promotion_id = q.add_promotion(
                conn, at=at, actor=caller.name, application=source.application, digest=digest,
                source=(repository, source_tag), target=(target.repository(), target_tag),
                gates=gate_rows,
            )  # fmt: skip
            record(
                conn, ctx, caller, address, "image.promote",
                f"{target.repository()}:{target_tag}",
                {"digest": digest, "source": repository, "source_tag": source_tag,
                 "target": target.repository(), "tag": target_tag, "gates": gate_rows,
                 "promotion": promotion_id},
            )  # fmt: skip
    except Denied as err:  # an immutable tag in the target, its namespace's quota
        raise Forbidden(err.message) from None
    except RegistryError as err:  # pragma: no cover - the source's manifests are complete
        raise Conflict(err.message) from None
    return PromotionResult(
        promotion_id, at, caller.name, digest, source.application, repository, source_tag,
        target.repository(), target_tag, tuple(gates), manifests, blobs,
    )  # fmt: skip


# -- approvals and the record ----------------------------------------------------------------


def _group_id(conn: Connection, name: str) -> int | None:
    source, sep, group = name.partition("\\")
    row = groups.group_by_name(conn, source, group) if sep else groups.group_by_name(
        conn, "local", name
    )  # fmt: skip
    return None if row is None else row.id


def approve(
    ctx: ManageContext,
    caller: Principal,
    address: str | None,
    reference: str,
    environment: str,
    note: str | None = None,
) -> Approval:
    """Approve the image `reference` names for `environment`, as a member of its approval
    group. The approval is of the digest: a tag moved afterwards is not approved."""
    snapshot = ctx.snapshot()
    require_active(snapshot, caller)
    repository, tag, digest = parse_reference(reference)
    if role_on(snapshot, caller, repository) is None:
        raise NotFound(f"{reference} not found")
    _, target = _environment(ctx, environment)
    group = target.gates.approval_group
    if group is None:
        raise InvalidRequest(f"promotions into {environment} need no approval")
    at = ctx.now()
    with ctx.db.write() as conn:
        group_id = _group_id(conn, group)
        member = (
            caller.kind is PrincipalKind.USER
            and group_id is not None
            and group_id in snapshot.groups_of.get(caller.id, frozenset())
        )
        if not member:
            raise Forbidden(f"approving for {environment} is for members of {group}")
        _, row = _named(conn, repository, tag, digest)
        q.add_approval(conn, row.digest, environment, caller.name, at, note)
        record(
            conn, ctx, caller, address, "image.approve", f"{repository}@{row.digest}",
            {"environment": environment, "group": group, "note": note},
        )  # fmt: skip
    return Approval(row.digest, environment, caller.name, at, note)


def history(
    ctx: ManageContext,
    caller: Principal,
    *,
    repository: str | None = None,
    application: str | None = None,
    limit: int = 100,
) -> list[PromotionResult]:
    """Promotions newest first, those whose source or target the caller may read."""
    snapshot = ctx.snapshot()
    require_active(snapshot, caller)
    with ctx.db.read() as conn:
        rows = q.list_promotions(conn, repository=repository, application=application,
                                 limit=limit)  # fmt: skip
    return [_result(row) for row in rows if _sees(snapshot, caller, row)]


def _sees(snapshot: AccessSnapshot, caller: Principal, row: q.PromotionRow) -> bool:
    return (
        role_on(snapshot, caller, row.source_repository) is not None
        or role_on(snapshot, caller, row.target_repository) is not None
    )


def _result(row: q.PromotionRow) -> PromotionResult:
    gates = tuple(
        GateResult(str(g["gate"]), bool(g["passed"]), str(g["detail"])) for g in row.gates
    )
    return PromotionResult(
        row.id, row.at, row.actor, row.digest, row.application, row.source_repository,
        row.source_tag, row.target_repository, row.target_tag, gates,
    )  # fmt: skip
