"""The garbage collection review queues: what may have become unreachable, and since when.

Every write that may leave a manifest or a blob unused enqueues it in its own transaction
(a tag moved or deleted, a manifest pushed without a tag or deleted, a blob uploaded,
mounted or unlinked), so garbage collection looks only at what changed. Enqueuing again
keeps the later time: `since` is when the candidate last became unreachable.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Connection,
    case,
    exists,
    func,
    literal,
    select,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite

from dockyard.metadata.models import (
    GcBlobReview,
    GcManifestReview,
    Manifest,
    ManifestReference,
    Repository,
    RepositoryBlob,
    table_of,
)
from dockyard.metadata.queries._batching import chunks

__all__ = [
    "BLOB_KINDS",
    "enqueue_blobs",
    "enqueue_blobs_of",
    "enqueue_dependents",
    "enqueue_linked_in",
    "enqueue_manifests",
    "manifests_going",
    "review_touched",
    "sizes",
    "touch_manifest",
]

BLOB_KINDS = ("config", "layer", "blob")

_mq = table_of(GcManifestReview)
_bq = table_of(GcBlobReview)
_man = table_of(Manifest)
_ref = table_of(ManifestReference)
_link = table_of(RepositoryBlob)
_repo = table_of(Repository)


def _later(current: Any, new: Any) -> ColumnElement[Any]:
    return case((new > current, new), else_=current)


def _insert(conn: Connection, table: Any) -> Any:
    return (postgresql if conn.dialect.name == "postgresql" else sqlite).insert(table)


def enqueue_manifests(
    conn: Connection, manifest_ids: Iterable[int], since: int, touched_at: int | None = None
) -> None:
    """Queue manifests for review. `touched_at`: when a client pushed or fetched them (None:
    their push time)."""
    touched = _man.c.created_at if touched_at is None else literal(touched_at, BigInteger)
    for chunk in chunks(set(manifest_ids)):
        rows = select(_man.c.id, literal(since, BigInteger), touched).where(_man.c.id.in_(chunk))
        stmt = _insert(conn, _mq).from_select(["manifest_id", "since", "touched_at"], rows)
        stmt = stmt.on_conflict_do_update(
            index_elements=["manifest_id"],
            set_={
                "since": _later(_mq.c.since, stmt.excluded.since),
                "touched_at": _later(_mq.c.touched_at, stmt.excluded.touched_at),
            },
        )
        conn.execute(stmt)


def enqueue_blobs(conn: Connection, digests: Iterable[str], since: int) -> None:
    for chunk in chunks(sorted(set(digests))):
        stmt = _insert(conn, _bq).values([{"digest": d, "since": since} for d in chunk])
        stmt = stmt.on_conflict_do_update(
            index_elements=["digest"], set_={"since": _later(_bq.c.since, stmt.excluded.since)}
        )
        conn.execute(stmt)


def _enqueue_blob_select(conn: Connection, rows: Any) -> None:
    stmt = _insert(conn, _bq).from_select(["digest", "since"], rows)
    stmt = stmt.on_conflict_do_update(
        index_elements=["digest"], set_={"since": _later(_bq.c.since, stmt.excluded.since)}
    )
    conn.execute(stmt)


def enqueue_blobs_of(conn: Connection, manifest_ids: Iterable[int], since: int) -> None:
    """Queue the blobs these manifests use (their config, layers, plain index entries)."""
    for chunk in chunks(set(manifest_ids)):
        rows = (
            select(_ref.c.digest, literal(since, BigInteger))
            .where(
                _ref.c.manifest_id.in_(chunk),
                _ref.c.kind.in_(BLOB_KINDS),
                _ref.c.repository_id.is_not(None),
            )
            .distinct()
        )
        _enqueue_blob_select(conn, rows)


def enqueue_linked_in(conn: Connection, repo_id: int, since: int) -> None:
    """Queue every blob linked in a repository (before its links go)."""
    rows = select(_link.c.digest, literal(since, BigInteger)).where(
        _link.c.repository_id == repo_id
    )
    _enqueue_blob_select(conn, rows)


def enqueue_dependents(conn: Connection, manifest_ids: Iterable[int], since: int) -> None:
    """Queue what these manifests kept reachable: the manifests their indexes list, and
    their referrers (manifests whose `subject` they are, in the same repository)."""
    subject = _man.alias("subject")
    dependents: set[int] = set()
    for chunk in chunks(set(manifest_ids)):
        children = select(_ref.c.child_manifest_id).where(
            _ref.c.manifest_id.in_(chunk), _ref.c.child_manifest_id.is_not(None)
        )
        dependents.update(int(i) for i in conn.execute(children).scalars())
        referrers = (
            select(_man.c.id)
            .join(
                subject,
                (subject.c.repository_id == _man.c.repository_id)
                & (subject.c.digest == _man.c.subject_digest),
            )
            .where(subject.c.id.in_(chunk))
        )
        dependents.update(int(i) for i in conn.execute(referrers).scalars())
    enqueue_manifests(conn, dependents - set(manifest_ids), since)


def manifests_going(conn: Connection, manifest_ids: Iterable[int], since: int) -> None:
    """Before manifests are deleted: queue the blobs they use and what they kept reachable."""
    ids = list(manifest_ids)
    enqueue_blobs_of(conn, ids, since)
    enqueue_dependents(conn, ids, since)


def review_touched(conn: Connection, manifest_id: int) -> int | None:
    """The manifest's queue `touched_at`, if it is under review."""
    query = select(_mq.c.touched_at).where(_mq.c.manifest_id == manifest_id)
    value = conn.execute(query).scalar()
    return None if value is None else int(value)


def touch_manifest(conn: Connection, repository: str, digest: str, now: int) -> bool:
    """A client was just told of the manifest by digest: renew its `touched_at` if it is
    under review. False when the manifest is gone (garbage collection took it first)."""
    manifest_id = (
        select(_man.c.id)
        .join(_repo, _repo.c.id == _man.c.repository_id)
        .where(_repo.c.name == repository, _man.c.digest == digest)
        .scalar_subquery()
    )
    renewed = conn.execute(
        update(_mq).where(_mq.c.manifest_id == manifest_id).values(touched_at=now)
    )
    if renewed.rowcount:
        return True
    return conn.execute(select(exists().where(_man.c.id == manifest_id))).scalar() is True


def sizes(conn: Connection) -> tuple[int, int]:
    """How many manifests and blobs wait for review."""
    manifests = conn.execute(select(func.count()).select_from(_mq)).scalar_one()
    blobs = conn.execute(select(func.count()).select_from(_bq)).scalar_one()
    return int(manifests), int(blobs)
