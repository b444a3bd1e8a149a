"""Manifest rows as a push writes them, shared by every path that stores a manifest or
points a tag (a push, an undone delete, a promotion, a tag that follows a tag): the
references checked against the repository (pitfalls §13) and the tag moved under the
immutable tag rules."""

from __future__ import annotations

import json

from sqlalchemy import Connection

from dockyard.metadata.queries import blobs as blob_queries
from dockyard.metadata.queries import manifests as manifest_queries
from dockyard.metadata.queries import tags
from dockyard.registry import immutability
from dockyard.registry.errors import ManifestBlobUnknown, ManifestInvalid, TagImmutable
from dockyard.registry.types import ParsedManifest, ReferenceKind

__all__ = ["insert_manifest", "point_tag", "resolve_references"]


def insert_manifest(
    conn: Connection,
    repo_id: int,
    digest: str,
    payload: bytes,
    parsed: ParsedManifest,
    at: int,
    actor: str | None,
) -> int:
    """Store a parsed manifest in the repository (a push, or an undone delete); returns its
    id. Raises ManifestBlobUnknown / ManifestInvalid when what it references is missing."""
    references = resolve_references(conn, repo_id, parsed)
    manifest_id = manifest_queries.add_manifest(
        conn,
        repo_id=repo_id,
        digest=digest,
        media_type=parsed.media_type,
        artifact_type=parsed.artifact_type,
        payload=payload,
        config_digest=parsed.config.digest if parsed.config else None,
        subject_digest=parsed.subject.digest if parsed.subject else None,
        annotations=json.dumps(parsed.annotations) if parsed.annotations else None,
        references=references,
        now=at,
        actor=actor,
    )
    blob_queries.refresh_links(conn, [(repo_id, r.digest) for r in references if r.linked], at)
    return manifest_id


def resolve_references(
    conn: Connection, repo_id: int, parsed: ParsedManifest
) -> list[manifest_queries.NewReference]:
    """Check that everything the manifest needs is in the repository (pitfalls §13)."""
    refs = parsed.references()
    child_ids = manifest_queries.manifest_ids(
        conn, repo_id, [d.digest for kind, d in refs if kind is ReferenceKind.CHILD]
    )
    sizes = blob_queries.linked_sizes(
        conn, repo_id, [d.digest for kind, d in refs if kind is not ReferenceKind.CHILD]
    )
    resolved: list[manifest_queries.NewReference] = []
    for kind, descriptor in refs:
        child_id = None
        linked = False
        if kind is ReferenceKind.CHILD:
            child_id = child_ids.get(descriptor.digest)
            if child_id is None:
                raise ManifestBlobUnknown(
                    "index lists a manifest unknown to this repository", descriptor.digest
                )
        else:
            size = sizes.get(descriptor.digest)
            if size is None and not descriptor.is_foreign:
                raise ManifestBlobUnknown(
                    f"{kind.value} blob unknown to this repository", descriptor.digest
                )
            if size is not None and size != descriptor.size:
                raise ManifestInvalid(
                    f"{kind.value} {descriptor.digest} is {size} bytes, "
                    f"the manifest says {descriptor.size}"
                )
            linked = size is not None
        resolved.append(
            manifest_queries.NewReference(
                kind=kind.value,
                digest=descriptor.digest,
                size=descriptor.size,
                media_type=descriptor.media_type,
                linked=linked,
                child_manifest_id=child_id,
            )
        )
    return resolved


def point_tag(
    conn: Connection,
    repo_id: int,
    name: str,
    tag: str,
    manifest_id: int,
    digest: str,
    at: int,
    actor: str | None,
    *,
    action: str = "push",
) -> int | None:
    """Point the tag at the pushed manifest (the manifest it replaced, if it moved). A tag an
    immutable tag rule protects may be created, or pushed again with its digest, never moved:
    decided on its locked row (docs/design.md, "Immutable tags")."""
    protected = immutability.rule_for(conn, name, tag)
    try:
        return tags.set_tag(
            conn, repo_id, tag, manifest_id, digest, at, actor, may_move=protected is None,
            action=action,
        )  # fmt: skip
    except tags.TagMoveRefused as refused:
        if protected is None:  # pragma: no cover - only raised when protected
            raise
        current = manifest_queries.digest_of(conn, refused.current_manifest_id)
        raise TagImmutable(
            f"{protected.message}; it points to {current}",
            {"tag": tag, "rule": protected.rule.id},
        ) from None
