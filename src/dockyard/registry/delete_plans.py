"""What a delete takes, worked out on one connection: the manifests that go with the ones
named (their accessories, the children only they list, for a layer the indexes above), the
tags on them, and the bytes no manifest would use afterwards.

Run inside the transaction that deletes, so the answer is the one acted on.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from enum import StrEnum

from sqlalchemy import Connection

from dockyard.auth.errors import Conflict, Forbidden, NotFound
from dockyard.auth.manage._checks import require_active
from dockyard.auth.permissions import role_on
from dockyard.auth.principals import Principal
from dockyard.auth.roles import Role
from dockyard.auth.snapshot import AccessSnapshot
from dockyard.metadata.queries import deletes as q
from dockyard.metadata.queries import repositories
from dockyard.metadata.queries.deletes import ManifestInfo
from dockyard.registry import mediatypes as mt

__all__ = [
    "COSIGN_SUFFIXES",
    "ManifestRole",
    "Member",
    "TagRef",
    "admin_repository",
    "cosign_tags",
    "grow",
    "reclaimable_bytes",
    "role_of",
    "settle",
]

# cosign 2.x tags a subject's signature, attestation and SBOM `sha256-<hex>.<suffix>`
# (pitfalls §11): ordinary tags to the protocol, accessories to us.
COSIGN_SUFFIXES = (".sig", ".att", ".sbom")


class ManifestRole(StrEnum):
    """Why a manifest is in a delete."""

    IMAGE = "image"
    """Named by the caller, or (a layer purge) uses the layer."""
    INDEX = "index"
    """Named by the caller, or (a layer purge) lists an image that goes."""
    INDEX_CHILD = "index child"
    """Listed only by indexes that go, and untagged."""
    ACCESSORY = "accessory"
    """A signature, SBOM or attestation of one that goes (`subject`, or a cosign tag)."""


def admin_repository(
    conn: Connection, snapshot: AccessSnapshot, caller: Principal, name: str
) -> int:
    """The repository's id, if the caller may delete in it."""
    require_active(snapshot, caller)
    role = role_on(snapshot, caller, name)
    repo_id = repositories.repository_id(conn, name) if role is not None else None
    if repo_id is None:
        raise NotFound(f"repository {name} not found")
    if role is not Role.ADMIN:
        raise Forbidden(f"deleting needs the admin role on {name}")
    return repo_id


def role_of(info: ManifestInfo) -> ManifestRole:
    return ManifestRole.INDEX if info.media_type in mt.INDEX_TYPES else ManifestRole.IMAGE


@dataclass(frozen=True, slots=True)
class TagRef:
    repository: str
    tag: str
    digest: str


@dataclass(frozen=True, slots=True)
class Member:
    info: ManifestInfo
    role: ManifestRole


def cosign_tags(digest: str) -> list[str]:
    """The tags cosign's tag scheme gives the accessories of `digest`."""
    algorithm, _, hexpart = digest.partition(":")
    return [f"{algorithm}-{hexpart}{suffix}" for suffix in COSIGN_SUFFIXES]


def _accessories(conn: Connection, infos: list[ManifestInfo]) -> list[ManifestInfo]:
    by_repository: defaultdict[int, list[str]] = defaultdict(list)
    for info in infos:
        by_repository[info.repository_id].append(info.digest)
    found: list[ManifestInfo] = []
    for repo_id, digests in by_repository.items():
        found.extend(q.referrers_of(conn, repo_id, digests))
        names = [name for digest in digests for name in cosign_tags(digest)]
        tagged = q.tags_by_name(conn, repo_id, names)
        found.extend(q.manifests_by_ids(conn, {manifest_id for manifest_id, _ in tagged.values()}))
    return found


def _free_children(
    conn: Connection, going: dict[int, Member], waiting: set[int]
) -> dict[int, Member]:
    """Children no remaining index lists and no tag names."""
    parents = q.parents_of(conn, waiting)
    tagged = q.tags_on(conn, waiting)
    free = [
        child
        for child in waiting
        if parents.get(child, set()).issubset(going) and child not in tagged
    ]
    return {
        info.id: Member(info, ManifestRole.INDEX_CHILD) for info in q.manifests_by_ids(conn, free)
    }


def grow(conn: Connection, going: dict[int, Member], *, upward: bool) -> None:
    """Add to `going` what goes with it: accessories, recursively, and the children freed by
    indexes that go; with `upward`, also every index listing a manifest that goes (a layer
    purge: an index whose child is gone cannot be pulled)."""
    frontier = list(going.values())
    waiting: set[int] = set()
    while frontier:
        ids = [member.info.id for member in frontier]
        added: dict[int, Member] = {}
        if upward:
            parents = {p for listed in q.parents_of(conn, ids).values() for p in listed}
            for info in q.manifests_by_ids(conn, parents - going.keys()):
                added[info.id] = Member(info, ManifestRole.INDEX)
        for info in _accessories(conn, [member.info for member in frontier]):
            if info.id not in going and info.id not in added:
                added[info.id] = Member(info, ManifestRole.ACCESSORY)
        waiting |= q.children_of(conn, ids)
        going.update(added)
        waiting -= going.keys()
        if not added and waiting:
            added = _free_children(conn, going, waiting)
            going.update(added)
            waiting -= added.keys()
        frontier = list(added.values())


def settle(conn: Connection, going: dict[int, Member], named: set[int]) -> None:
    """Leave out what an index that stays still lists; refuse if that is a named manifest
    (as /v2 does: delete the index first)."""
    while True:
        parents = q.parents_of(conn, going)
        outside = {m: ps - going.keys() for m, ps in parents.items() if ps - going.keys()}
        if not outside:
            return
        for manifest_id, indexes in outside.items():
            if manifest_id in named:
                listed_by = q.manifests_by_ids(conn, indexes)
                digests = ", ".join(sorted(info.digest for info in listed_by))
                raise Conflict(
                    f"{going[manifest_id].info.digest} is listed by index {digests}, "
                    "which stays; delete the index first"
                )
            del going[manifest_id]


def reclaimable_bytes(conn: Connection, going: set[int], extra: set[str] | None = None) -> int:
    """Bytes of the blobs these manifests use (and `extra`) that no other manifest, in any
    repository, uses: each blob counted once (blobs are stored once, shared)."""
    candidates = q.blob_references(conn, going) | (extra or set())
    users = q.users_of_blobs(conn, candidates)
    unused = {digest for digest in candidates if users.get(digest, set()).issubset(going)}
    return sum(q.blob_sizes(conn, unused).values())
