"""Queries on manifests and their references."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Connection, delete, func, insert, select

from dockyard.metadata.models import Manifest, ManifestReference, Tag, table_of
from dockyard.metadata.queries._upsert import insert_ignore

_man = table_of(Manifest)
_ref = table_of(ManifestReference)
_tag = table_of(Tag)


@dataclass(frozen=True, slots=True)
class ManifestRow:
    id: int
    digest: str
    media_type: str
    payload: bytes
    subject_digest: str | None


@dataclass(frozen=True, slots=True)
class NewReference:
    kind: str
    digest: str
    size: int
    media_type: str
    linked: bool  # blob kinds: linked in this repository (foreign layers are not)
    child_manifest_id: int | None


_COLUMNS = (_man.c.id, _man.c.digest, _man.c.media_type, _man.c.payload, _man.c.subject_digest)


def manifest_by_digest(conn: Connection, repo_id: int, digest: str) -> ManifestRow | None:
    row = conn.execute(
        select(*_COLUMNS).where(_man.c.repository_id == repo_id, _man.c.digest == digest)
    ).first()
    return ManifestRow(*row) if row else None


def manifest_by_tag(conn: Connection, repo_id: int, tag: str) -> ManifestRow | None:
    row = conn.execute(
        select(*_COLUMNS)
        .join(_tag, _tag.c.manifest_id == _man.c.id)
        .where(_tag.c.repository_id == repo_id, _tag.c.name == tag)
    ).first()
    return ManifestRow(*row) if row else None


def manifest_ids(conn: Connection, repo_id: int, digests: list[str]) -> dict[str, int]:
    if not digests:
        return {}
    rows = conn.execute(
        select(_man.c.digest, _man.c.id).where(
            _man.c.repository_id == repo_id, _man.c.digest.in_(digests)
        )
    )
    return {digest: manifest_id for digest, manifest_id in rows}


def add_manifest(
    conn: Connection,
    *,
    repo_id: int,
    digest: str,
    media_type: str,
    artifact_type: str | None,
    payload: bytes,
    config_digest: str | None,
    subject_digest: str | None,
    annotations: str | None,
    references: list[NewReference],
    now: int,
    actor: str | None,
) -> int:
    """Store a manifest and its references unless the repository already has it."""
    inserted = insert_ignore(
        conn,
        _man,
        {
            "repository_id": repo_id,
            "digest": digest,
            "media_type": media_type,
            "artifact_type": artifact_type,
            "payload": payload,
            "size": len(payload),
            "config_digest": config_digest,
            "subject_digest": subject_digest,
            "annotations": annotations,
            "created_at": now,
            "pushed_by": actor,
        },
        ["repository_id", "digest"],
    )
    manifest_id = int(
        conn.execute(
            select(_man.c.id).where(_man.c.repository_id == repo_id, _man.c.digest == digest)
        ).scalar_one()
    )
    if inserted and references:
        conn.execute(
            insert(_ref),
            [
                {
                    "manifest_id": manifest_id,
                    "position": position,
                    "kind": ref.kind,
                    "digest": ref.digest,
                    "size": ref.size,
                    "media_type": ref.media_type,
                    "repository_id": repo_id if ref.linked else None,
                    "child_manifest_id": ref.child_manifest_id,
                }
                for position, ref in enumerate(references)
            ],
        )
    return manifest_id


def digest_of(conn: Connection, manifest_id: int) -> str | None:
    return conn.execute(select(_man.c.digest).where(_man.c.id == manifest_id)).scalar()


def parents_of(conn: Connection, manifest_id: int) -> list[str]:
    """Digests of the indexes that list this manifest as a child."""
    query = (
        select(_man.c.digest)
        .join(_ref, _ref.c.manifest_id == _man.c.id)
        .where(_ref.c.child_manifest_id == manifest_id)
    )
    return list(conn.execute(query).scalars())


def delete_manifest(conn: Connection, manifest_id: int) -> list[str]:
    """Delete a manifest and every tag pointing at it; returns the names of those tags."""
    tags = list(
        conn.execute(
            delete(_tag).where(_tag.c.manifest_id == manifest_id).returning(_tag.c.name)
        ).scalars()
    )
    conn.execute(delete(_man).where(_man.c.id == manifest_id))
    return tags


@dataclass(frozen=True, slots=True)
class ReferrerRow:
    digest: str
    media_type: str
    artifact_type: str | None
    config_media_type: str | None
    size: int
    annotations: str | None


def referrers(
    conn: Connection,
    repo_id: int,
    subject: str,
    artifact_type: str | None,
    after: str | None,
    limit: int,
) -> list[ReferrerRow]:
    """Manifests whose subject is `subject`, in digest order after `after`."""
    config = _ref.alias("config")
    query = (
        select(
            _man.c.digest,
            _man.c.media_type,
            _man.c.artifact_type,
            config.c.media_type,
            _man.c.size,
            _man.c.annotations,
        )
        .outerjoin(config, (config.c.manifest_id == _man.c.id) & (config.c.kind == "config"))
        .where(_man.c.repository_id == repo_id, _man.c.subject_digest == subject)
        .order_by(_man.c.digest)
        .limit(limit)
    )
    if after is not None:
        query = query.where(_man.c.digest > after)
    if artifact_type is not None:
        query = query.where(
            func.coalesce(_man.c.artifact_type, config.c.media_type) == artifact_type
        )
    return [ReferrerRow(*row) for row in conn.execute(query)]
