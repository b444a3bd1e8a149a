"""Tags that follow tags (the spec's nested tags; OpenShift's `oc tag --alias`):
`prod/shop/api:stable` may follow `prod/shop/api:1.4`, or a tag of another repository.
The follower is a real tag, moved in the transaction that moves its source (a push, a
promotion, a revert), so clients resolve it like any tag and it is never stale. Across
repositories the image is stored in the follower's repository as a promotion stores it
(blobs linked, no byte copied). Chains follow through (a tag may follow a follower), up
to eight deep; a follow that would close a loop is refused.

Declaring a follow needs write on the follower's repository and read on the source's. An
immutable follower is not moved: the move is skipped and audited (`tag.follow.blocked`),
so a push of the source never fails for a rule on another tag. Deleting the source tag
leaves the follower where it is.
"""

from __future__ import annotations

from sqlalchemy import Connection

from dockyard.auth.errors import Conflict, Forbidden, InvalidRequest, NotFound
from dockyard.auth.maintenance import refuse_if_read_only
from dockyard.auth.manage._checks import at_least, record, require_active
from dockyard.auth.manage.context import ManageContext
from dockyard.auth.permissions import role_on
from dockyard.auth.principals import Principal
from dockyard.auth.roles import Role
from dockyard.metadata.queries import audit, gc_queue, repositories
from dockyard.metadata.queries import deletes as dq
from dockyard.metadata.queries import manifests as manifest_queries
from dockyard.metadata.queries import tag_follows as q
from dockyard.metadata.queries.tag_follows import FollowRow
from dockyard.registry.errors import Denied
from dockyard.registry.image_copy import copy_image
from dockyard.registry.immutability import rule_for
from dockyard.registry.manifest_rows import point_tag
from dockyard.registry.names import namespace_of
from dockyard.registry.references import parse_tag_reference

__all__ = ["FollowRow", "follow", "propagate", "unfollow"]

_MAX_DEPTH = 8


def propagate(
    conn: Connection, repository: str, tag: str, at: int, actor: str | None, depth: int = 0
) -> None:
    """`repository:tag` moved (or was made) in this transaction: move its followers, and
    theirs. One indexed read when nothing follows it (every tagged push pays that)."""
    if depth >= _MAX_DEPTH:
        return
    rows = q.followers(conn, repository, tag)
    if not rows:
        return
    source_id = repositories.repository_id(conn, repository)
    current = manifest_queries.manifest_by_tag(conn, source_id, tag) if source_id else None
    if source_id is None or current is None:
        return
    for row in rows:
        _move(conn, row, source_id, current.digest, at, actor, depth)


def _move(
    conn: Connection,
    row: FollowRow,
    source_id: int,
    digest: str,
    at: int,
    actor: str | None,
    depth: int,
) -> None:
    if row.repository == row.source_repository:
        target_id = source_id
        manifest_id = dq.manifests_by_digests(conn, source_id, [digest])[0].id
    else:
        existing = repositories.repository_id(conn, row.repository)
        if existing is None:  # the follower's repository was deleted: so is the follow
            q.forget(conn, row.repository, row.tag)
            return
        root = dq.manifests_by_digests(conn, source_id, [digest])[0]
        copied = copy_image(conn, source_id, root, row.repository, at, actor)
        target_id, manifest_id = copied.target_id, copied.root_id
    try:
        previous = point_tag(
            conn, target_id, row.repository, row.tag, manifest_id, digest, at, actor,
            action="follow",
        )  # fmt: skip
    except Denied as err:  # an immutable follower stays where it is
        audit.record(
            conn, at=at, actor=actor, action="tag.follow.blocked",
            target=f"{row.repository}:{row.tag}",
            detail={"digest": digest, "source": f"{row.source_repository}:{row.source_tag}",
                    "reason": err.message},
        )  # fmt: skip
        return
    if previous is not None:
        gc_queue.enqueue_manifests(conn, [previous], at)
    propagate(conn, row.repository, row.tag, at, actor, depth + 1)


def _loops(conn: Connection, follower: tuple[str, str], source: tuple[str, str]) -> bool:
    """Whether following `source` would make `follower` follow itself."""
    seen = source
    for _ in range(_MAX_DEPTH + 1):
        if seen == follower:
            return True
        upstream = q.source_of(conn, *seen)
        if upstream is None:
            return False
        seen = (upstream.source_repository, upstream.source_tag)
    return True  # deeper than a chain may be


def follow(
    ctx: ManageContext, caller: Principal, address: str | None, follower: str, source: str
) -> FollowRow:
    """Make `follower` (`repo:tag`) follow `source` (`repo:tag`), and point it there now."""
    snapshot = ctx.snapshot()
    refuse_if_read_only(snapshot, ctx.read_only)
    require_active(snapshot, caller)
    repository, tag = parse_tag_reference(follower)
    source_repository, source_tag = parse_tag_reference(source)
    if (repository, tag) == (source_repository, source_tag):
        raise InvalidRequest("a tag cannot follow itself")
    if role_on(snapshot, caller, source_repository) is None:
        raise NotFound(f"{source} not found")
    role = role_on(snapshot, caller, repository)
    if role is None and repository != source_repository:
        raise NotFound(f"repository {repository} not found")
    if not at_least(role, Role.WRITE):
        raise Forbidden(f"a tag that follows needs the write role on {repository}")
    at = ctx.now()
    row = FollowRow(repository, tag, source_repository, source_tag, at, caller.name)
    with ctx.db.write() as conn:
        hit = rule_for(conn, repository, tag)
        if hit is not None:
            raise Forbidden(f"{hit.message}: it cannot follow another tag")
        if _loops(conn, (repository, tag), (source_repository, source_tag)):
            raise Conflict(f"{source} follows {follower} already (directly or not)")
        source_id = repositories.repository_id(conn, source_repository)
        current = (
            manifest_queries.manifest_by_tag(conn, source_id, source_tag) if source_id else None
        )
        if source_id is None or current is None:
            raise NotFound(f"{source} not found")
        if repositories.repository_id(conn, repository) is None:
            repositories.ensure_repository(conn, repository, namespace_of(repository), at)
        q.start(conn, row)
        _move(conn, row, source_id, current.digest, at, caller.name, 0)
        record(
            conn, ctx, caller, address, "tag.follow", f"{repository}:{tag}",
            {"source": source, "digest": current.digest},
        )  # fmt: skip
    return row


def unfollow(ctx: ManageContext, caller: Principal, address: str | None, follower: str) -> None:
    """Stop following; the tag stays at the digest it has."""
    snapshot = ctx.snapshot()
    require_active(snapshot, caller)
    repository, tag = parse_tag_reference(follower)
    role = role_on(snapshot, caller, repository)
    if role is None:
        raise NotFound(f"{follower} not found")
    if not at_least(role, Role.WRITE):
        raise Forbidden(f"changing a tag needs the write role on {repository}")
    with ctx.db.write() as conn:
        if not q.forget(conn, repository, tag):
            raise NotFound(f"{follower} follows no tag")
        record(conn, ctx, caller, address, "tag.unfollow", f"{repository}:{tag}")
