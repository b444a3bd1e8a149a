"""The tag's time machine: point a tag back at any digest it pointed to before (its
history, `tag_event`), as long as that image is still in the repository. Needs write on
the repository, like a push; an immutable tag moves only by a registry admin's audited
override. The revert is recorded in the tag's history (action `revert`) and the audit log
(`tag.revert`)."""

from __future__ import annotations

from dataclasses import dataclass

from dockyard.auth.errors import Conflict, Forbidden, InvalidRequest, NotFound
from dockyard.auth.maintenance import refuse_if_read_only
from dockyard.auth.manage._checks import at_least, record, require_active
from dockyard.auth.manage.context import ManageContext
from dockyard.auth.permissions import role_on
from dockyard.auth.principals import Principal
from dockyard.auth.roles import Role
from dockyard.metadata.queries import gc_queue, repositories, tags
from dockyard.metadata.queries import manifests as manifest_queries
from dockyard.registry import tag_follows
from dockyard.registry.digests import parse_digest
from dockyard.registry.errors import RegistryError
from dockyard.registry.immutability import refuse_unless_overridden, rule_for
from dockyard.registry.names import validate_tag

__all__ = ["Revert", "revert_tag"]


@dataclass(frozen=True, slots=True)
class Revert:
    repository: str
    tag: str
    digest: str
    previous: str | None  # what the tag pointed to before (None: it had been deleted)
    at: int


def revert_tag(
    ctx: ManageContext,
    caller: Principal,
    address: str | None,
    repository: str,
    tag: str,
    digest: str,
    *,
    override_immutable: bool = False,
) -> Revert:
    """Point `repository:tag` back at `digest`, a digest its history holds."""
    snapshot = ctx.snapshot()
    refuse_if_read_only(snapshot, ctx.read_only)
    require_active(snapshot, caller)
    try:
        validate_tag(tag)
        digest = parse_digest(digest)
    except RegistryError as err:
        raise InvalidRequest(err.message) from None
    role = role_on(snapshot, caller, repository)
    if role is None:
        raise NotFound(f"repository {repository} not found")
    if not at_least(role, Role.WRITE):
        raise Forbidden(f"moving a tag needs the write role on {repository}")
    at = ctx.now()
    with ctx.db.write() as conn:
        repo_id = repositories.repository_id(conn, repository)
        if repo_id is None:
            raise NotFound(f"repository {repository} not found")
        if not tags.pointed_to(conn, repo_id, tag, digest):
            raise NotFound(f"{repository}:{tag} never pointed to {digest}")
        manifest = manifest_queries.manifest_by_digest(conn, repo_id, digest)
        if manifest is None:
            raise Conflict(f"{repository}@{digest} is gone (deleted or garbage-collected)")
        before = manifest_queries.manifest_by_tag(conn, repo_id, tag)
        overridden: list[str] = []
        hit = rule_for(conn, repository, tag)
        if hit is not None and before is not None and before.digest != digest:
            overridden = refuse_unless_overridden(ctx, caller, [hit], override_immutable)
        try:
            previous = tags.set_tag(
                conn, repo_id, tag, manifest.id, digest, at, caller.name,
                may_move=hit is None or bool(overridden), action="revert",
            )  # fmt: skip
        except tags.TagMoveRefused:  # created by a push since we looked
            raise Forbidden(hit.message if hit else f"{repository}:{tag} is immutable") from None
        if previous is not None:
            gc_queue.enqueue_manifests(conn, [previous], at)
        tag_follows.propagate(conn, repository, tag, at, caller.name)
        detail: dict[str, object] = {
            "digest": digest,
            "previous": before.digest if before else None,
        }
        if overridden:
            detail["immutable_override"] = overridden
        record(conn, ctx, caller, address, "tag.revert", f"{repository}:{tag}", detail)
    return Revert(repository, tag, digest, before.digest if before else None, at)
