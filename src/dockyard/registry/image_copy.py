"""Storing an image of one repository in another, by digest and without copying a byte:
the image with the children of an index and its accessories (referrers, cosign-tagged
signatures), recursively, stored again with the very bytes, and its blobs linked in the
target under their digest locks. Used by promotion and by tags that follow a tag of
another repository; runs inside the caller's write transaction (docs/design.md,
"Promotion")."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Connection

from dockyard.auth.errors import Conflict
from dockyard.metadata.locks import lock_digests
from dockyard.metadata.queries import blobs as blob_queries
from dockyard.metadata.queries import deletes as dq
from dockyard.metadata.queries import gc_queue, repositories
from dockyard.metadata.queries import promotions as q
from dockyard.metadata.queries.deletes import ManifestInfo
from dockyard.registry import quotas
from dockyard.registry.delete_plans import cosign_tags
from dockyard.registry.manifest_parser import parse_manifest
from dockyard.registry.manifest_rows import insert_manifest
from dockyard.registry.names import namespace_of
from dockyard.registry.types import ReferenceKind

__all__ = ["CopiedImage", "copy_image"]


@dataclass(frozen=True, slots=True)
class CopiedImage:
    target_id: int
    root_id: int  # the image's manifest in the target
    accessory_tags: dict[str, tuple[int, str]]  # cosign tag -> (target manifest id, digest)
    manifests: int
    blobs: int


def _closure(
    conn: Connection, repo_id: int, root: ManifestInfo
) -> tuple[dict[int, ManifestInfo], dict[str, int]]:
    """The image with the children of an index and its accessories, recursively (a
    signature's own signature too); and the cosign-scheme tags among them (name -> id)."""
    found = {root.id: root}
    accessory_tags: dict[str, int] = {}
    frontier = [root]
    while frontier:
        ids = [m.id for m in frontier]
        digests = [m.digest for m in frontier]
        added = dq.manifests_by_ids(conn, dq.children_of(conn, ids) - found.keys())
        added += dq.referrers_of(conn, repo_id, digests)
        names = [name for digest in digests for name in cosign_tags(digest)]
        tagged = dq.tags_by_name(conn, repo_id, names)
        accessory_tags.update({name: manifest_id for name, (manifest_id, _) in tagged.items()})
        added += dq.manifests_by_ids(conn, {i for i, _ in tagged.values()} - found.keys())
        frontier = []
        for info in added:
            if info.id not in found:
                found[info.id] = info
                frontier.append(info)
    return found, accessory_tags


def _store_manifests(
    conn: Connection,
    target_id: int,
    members: dict[int, ManifestInfo],
    at: int,
    actor: str | None,
) -> dict[int, int]:
    """Each member stored in the target, children before the indexes listing them; returns
    source id -> target id."""
    payloads = dq.payloads(conn, members)
    parsed = {i: parse_manifest(payloads[i], m.media_type) for i, m in members.items()}
    children = {
        i: {d.digest for kind, d in p.references() if kind is ReferenceKind.CHILD}
        for i, p in parsed.items()
    }
    stored: dict[int, int] = {}
    done: set[str] = set()
    while len(stored) < len(members):
        ready = [i for i in members if i not in stored and children[i] <= done]
        if not ready:  # pragma: no cover - an index's children are in the closure
            raise Conflict("an index lists a manifest that is gone; promote again")
        for i in sorted(ready, key=lambda i: members[i].digest):
            info = members[i]
            stored[i] = insert_manifest(
                conn, target_id, info.digest, payloads[i], parsed[i], at, actor
            )
            done.add(info.digest)
    return stored


def _link_blobs(
    conn: Connection, source_id: int, target_id: int, target: str, digests: set[str], at: int
) -> None:
    """Link every blob in the target, under the digest locks (as a mount does, against GC
    deleting the same digest: docs/design.md, "Promotion")."""
    ordered = sorted(digests)
    lock_digests(conn, ordered)
    sizes = blob_queries.linked_sizes(conn, source_id, ordered)
    if len(sizes) < len(ordered):  # pragma: no cover - the source's manifests keep their links
        gone = sorted(set(ordered) - sizes.keys())[0]
        raise Conflict(f"blob {gone} left the source while promoting; promote again")
    quotas.check_blobs(conn, target, sizes)
    blob_queries.link_blobs(conn, target_id, ordered, at)


def copy_image(
    conn: Connection,
    source_id: int,
    root: ManifestInfo,
    target: str,
    at: int,
    actor: str | None,
) -> CopiedImage:
    """Store `root` (a manifest of the source repository) with everything it brings along
    in the repository `target` (created if needed). Tags are the caller's to set."""
    members, accessory_tags = _closure(conn, source_id, root)
    target_id = repositories.ensure_repository(conn, target, namespace_of(target), at)
    blobs = q.linked_blobs(conn, members)
    _link_blobs(conn, source_id, target_id, target, blobs, at)
    stored = _store_manifests(conn, target_id, members, at, actor)
    # Reviewed like a push by digest: what the tags the caller sets reach stays.
    gc_queue.enqueue_manifests(conn, stored.values(), at, touched_at=at)
    tags = {name: (stored[i], members[i].digest) for name, i in accessory_tags.items()}
    return CopiedImage(target_id, stored[root.id], tags, len(stored), len(blobs))
