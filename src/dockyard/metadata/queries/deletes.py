"""Queries behind deletes: what a delete would take (manifests, their tags, children,
parents, accessories, the blobs nobody else references) and the deletes themselves.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import Connection, delete, insert, or_, select

from dockyard.metadata.models import (
    Blob,
    DeletedManifest,
    Manifest,
    ManifestReference,
    Repository,
    RepositoryBlob,
    Tag,
    TagEvent,
    Upload,
    table_of,
)
from dockyard.metadata.queries._batching import chunks as _chunks
from dockyard.metadata.queries.blobs import unlink_everywhere
from dockyard.metadata.queries.usage import lock_counters, uncount_repository

_blob = table_of(Blob)
_deleted = table_of(DeletedManifest)
_man = table_of(Manifest)
_ref = table_of(ManifestReference)
_repo = table_of(Repository)
_link = table_of(RepositoryBlob)
_tag = table_of(Tag)
_event = table_of(TagEvent)
_upload = table_of(Upload)

_BLOB_KINDS = ("config", "layer", "blob")


@dataclass(frozen=True, slots=True)
class ManifestInfo:
    id: int
    repository_id: int
    digest: str
    media_type: str
    subject_digest: str | None


_INFO = (_man.c.id, _man.c.repository_id, _man.c.digest, _man.c.media_type, _man.c.subject_digest)


def manifests_by_digests(conn: Connection, repo_id: int, digests: list[str]) -> list[ManifestInfo]:
    found: list[ManifestInfo] = []
    for chunk in _chunks(digests):
        query = select(*_INFO).where(_man.c.repository_id == repo_id, _man.c.digest.in_(chunk))
        found.extend(ManifestInfo(*row) for row in conn.execute(query))
    return found


def manifests_by_ids(conn: Connection, ids: Iterable[int]) -> list[ManifestInfo]:
    found: list[ManifestInfo] = []
    for chunk in _chunks(ids):
        found.extend(
            ManifestInfo(*row) for row in conn.execute(select(*_INFO).where(_man.c.id.in_(chunk)))
        )
    return found


def manifests_in_repository(conn: Connection, repo_id: int) -> list[ManifestInfo]:
    query = select(*_INFO).where(_man.c.repository_id == repo_id).order_by(_man.c.digest)
    return [ManifestInfo(*row) for row in conn.execute(query)]


def manifests_using_blob(conn: Connection, digest: str) -> list[ManifestInfo]:
    """Every manifest, in any repository, with `digest` as its config, a layer or an index
    entry that is a plain blob (the parser already folded Go's case-variant keys)."""
    query = (
        select(*_INFO)
        .join(_ref, _ref.c.manifest_id == _man.c.id)
        .where(_ref.c.digest == digest, _ref.c.kind.in_(_BLOB_KINDS))
        .distinct()
    )
    return [ManifestInfo(*row) for row in conn.execute(query)]


def tags_on(conn: Connection, manifest_ids: Iterable[int]) -> dict[int, list[str]]:
    """Tag names pointing at each manifest, in byte order."""
    found: defaultdict[int, list[str]] = defaultdict(list)
    for chunk in _chunks(manifest_ids):
        query = (
            select(_tag.c.manifest_id, _tag.c.name)
            .where(_tag.c.manifest_id.in_(chunk))
            .order_by(_tag.c.name)
        )
        for manifest_id, name in conn.execute(query):
            found[manifest_id].append(name)
    return dict(found)


def tags_by_name(
    conn: Connection, repo_id: int, names: list[str], *, lock: bool = False
) -> dict[str, tuple[int, str]]:
    """The named tags that exist: name -> (manifest id, digest).

    `lock` (in a write transaction that then moves or deletes them): the tag rows are read
    FOR UPDATE, so a push of one of them through another replica cannot slip in between
    this check and the change and be silently overwritten."""
    found: dict[str, tuple[int, str]] = {}
    for chunk in _chunks(names):
        query = (
            select(_tag.c.name, _man.c.id, _man.c.digest)
            .join(_man, _man.c.id == _tag.c.manifest_id)
            .where(_tag.c.repository_id == repo_id, _tag.c.name.in_(chunk))
        )
        if lock:
            query = query.with_for_update(of=_tag)
        found.update(
            {name: (manifest_id, digest) for name, manifest_id, digest in conn.execute(query)}
        )
    return found


def children_of(conn: Connection, manifest_ids: Iterable[int]) -> set[int]:
    """Manifests listed by these indexes."""
    found: set[int] = set()
    for chunk in _chunks(manifest_ids):
        query = select(_ref.c.child_manifest_id).where(
            _ref.c.manifest_id.in_(chunk), _ref.c.child_manifest_id.is_not(None)
        )
        found.update(int(child) for child in conn.execute(query).scalars())
    return found


def parents_of(conn: Connection, manifest_ids: Iterable[int]) -> dict[int, set[int]]:
    """For each manifest, the indexes that list it."""
    found: defaultdict[int, set[int]] = defaultdict(set)
    for chunk in _chunks(manifest_ids):
        query = select(_ref.c.child_manifest_id, _ref.c.manifest_id).where(
            _ref.c.child_manifest_id.in_(chunk)
        )
        for child, parent in conn.execute(query):
            found[child].add(parent)
    return dict(found)


def referrers_of(conn: Connection, repo_id: int, digests: list[str]) -> list[ManifestInfo]:
    """Manifests of the repository whose `subject` is one of `digests`."""
    found: list[ManifestInfo] = []
    for chunk in _chunks(digests):
        query = select(*_INFO).where(
            _man.c.repository_id == repo_id, _man.c.subject_digest.in_(chunk)
        )
        found.extend(ManifestInfo(*row) for row in conn.execute(query))
    return found


def blob_references(conn: Connection, manifest_ids: Iterable[int]) -> set[str]:
    """Digests of the blobs (config, layers, plain index entries) these manifests use."""
    found: set[str] = set()
    for chunk in _chunks(manifest_ids):
        query = select(_ref.c.digest).where(
            _ref.c.manifest_id.in_(chunk), _ref.c.kind.in_(_BLOB_KINDS)
        )
        found.update(conn.execute(query).scalars())
    return found


def users_of_blobs(conn: Connection, digests: Iterable[str]) -> dict[str, set[int]]:
    """For each digest, the manifests (any repository) that use it as a blob."""
    found: defaultdict[str, set[int]] = defaultdict(set)
    for chunk in _chunks(digests):
        query = select(_ref.c.digest, _ref.c.manifest_id).where(
            _ref.c.digest.in_(chunk), _ref.c.kind.in_(_BLOB_KINDS)
        )
        for digest, manifest_id in conn.execute(query):
            found[digest].add(manifest_id)
    return dict(found)


def blob_sizes(conn: Connection, digests: Iterable[str]) -> dict[str, int]:
    """Sizes of the digests that are stored blobs."""
    found: dict[str, int] = {}
    for chunk in _chunks(digests):
        query = select(_blob.c.digest, _blob.c.size).where(_blob.c.digest.in_(chunk))
        found.update({digest: int(size) for digest, size in conn.execute(query)})
    return found


def repositories_linking(conn: Connection, digest: str) -> dict[int, str]:
    """Repositories the blob is linked in: id -> name."""
    query = (
        select(_repo.c.id, _repo.c.name)
        .join(_link, _link.c.repository_id == _repo.c.id)
        .where(_link.c.digest == digest)
    )
    return {int(repo_id): name for repo_id, name in conn.execute(query)}


def repository_names(conn: Connection, ids: Iterable[int]) -> dict[int, str]:
    found: dict[int, str] = {}
    for chunk in _chunks(ids):
        query = select(_repo.c.id, _repo.c.name).where(_repo.c.id.in_(chunk))
        found.update({int(repo_id): name for repo_id, name in conn.execute(query)})
    return found


# -- deleting ---------------------------------------------------------------------------


def delete_tags(conn: Connection, repo_id: int, names: list[str]) -> None:
    for chunk in _chunks(names):
        conn.execute(delete(_tag).where(_tag.c.repository_id == repo_id, _tag.c.name.in_(chunk)))


def delete_manifests(conn: Connection, manifest_ids: list[int]) -> None:
    """Delete manifests with their tags. Their reference lists go first, so indexes and the
    children they list may go together; an index outside the set that lists one of them
    still stops the delete (the foreign key restricts it)."""
    for chunk in _chunks(manifest_ids):
        conn.execute(delete(_tag).where(_tag.c.manifest_id.in_(chunk)))
        conn.execute(delete(_ref).where(_ref.c.manifest_id.in_(chunk)))
    for chunk in _chunks(manifest_ids):
        conn.execute(delete(_man).where(_man.c.id.in_(chunk)))


def purge_blob(conn: Connection, digest: str) -> None:
    """Unlink a blob from every repository and forget it (its users must be gone)."""
    unlink_everywhere(conn, digest)
    conn.execute(delete(_blob).where(_blob.c.digest == digest))


def delete_repository(conn: Connection, repo_id: int, name: str) -> list[str]:
    """Everything of a repository, in foreign-key order, and its upload sessions; returns
    the ids of those sessions (their bytes are the caller's to remove). Grants and undo
    records cascade with the row."""
    lock_counters(conn, [repo_id])  # first: a push takes them before its rows
    ids = [info.id for info in manifests_in_repository(conn, repo_id)]
    delete_manifests(conn, ids)
    uncount_repository(conn, repo_id)  # its namespace's usage, while the links are there
    conn.execute(delete(_link).where(_link.c.repository_id == repo_id))
    conn.execute(delete(_event).where(_event.c.repository_id == repo_id))
    conn.execute(delete(_deleted).where(_deleted.c.repository_id == repo_id))
    uploads = list(
        conn.execute(
            delete(_upload).where(_upload.c.repository == name).returning(_upload.c.id)
        ).scalars()
    )
    conn.execute(delete(_repo).where(_repo.c.id == repo_id))
    return uploads


# -- undo records -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DeletedRow:
    repository_id: int
    digest: str
    tags: list[str]
    media_type: str | None  # None: only tags went
    payload: bytes | None
    deleted_at: int
    deleted_by: str | None
    kept_until: int | None = None  # a retention removal: restorable until then
    reason: str | None = None


def add_deleted(conn: Connection, batch: str, rows: list[DeletedRow]) -> None:
    if rows:
        conn.execute(
            insert(_deleted),
            [
                {
                    "batch": batch,
                    "repository_id": row.repository_id,
                    "digest": row.digest,
                    "tags": json.dumps(row.tags),
                    "media_type": row.media_type,
                    "payload": row.payload,
                    "deleted_at": row.deleted_at,
                    "deleted_by": row.deleted_by,
                    "kept_until": row.kept_until,
                    "reason": row.reason,
                }
                for row in rows
            ],
        )


def deleted_batch(conn: Connection, batch: str) -> list[DeletedRow]:
    query = (
        select(
            _deleted.c.repository_id, _deleted.c.digest, _deleted.c.tags, _deleted.c.media_type,
            _deleted.c.payload, _deleted.c.deleted_at, _deleted.c.deleted_by,
        )
        .where(_deleted.c.batch == batch)
        .order_by(_deleted.c.id)
    )  # fmt: skip
    return [
        DeletedRow(repo_id, digest, json.loads(tags), media_type, payload, at, by)
        for repo_id, digest, tags, media_type, payload, at, by in conn.execute(query)
    ]


def forget_batch(conn: Connection, batch: str) -> None:
    conn.execute(delete(_deleted).where(_deleted.c.batch == batch))


def prune_deleted(conn: Connection, before: int, now: int) -> None:
    """Drop undo records made before `before` (they can no longer be undone), except
    retention removals still restorable at `now`."""
    conn.execute(
        delete(_deleted).where(
            _deleted.c.deleted_at < before,
            or_(_deleted.c.kept_until.is_(None), _deleted.c.kept_until < now),
        )
    )


def payloads(conn: Connection, manifest_ids: Iterable[int]) -> dict[int, bytes]:
    found: dict[int, bytes] = {}
    for chunk in _chunks(manifest_ids):
        query = select(_man.c.id, _man.c.payload).where(_man.c.id.in_(chunk))
        found.update({int(manifest_id): payload for manifest_id, payload in conn.execute(query)})
    return found
