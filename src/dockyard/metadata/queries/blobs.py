"""Queries on blobs and on which repositories may see them."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, delete, exists, func, select, update

from dockyard.metadata.models import Blob, ManifestReference, Repository, RepositoryBlob, table_of
from dockyard.metadata.queries._batching import chunks
from dockyard.metadata.queries._upsert import insert_ignore, insert_ignore_returning
from dockyard.metadata.queries.usage import (
    count_link,
    count_links,
    lock_counters,
    uncount_everywhere,
    uncount_links,
)

_repo = table_of(Repository)
_blob = table_of(Blob)
_link = table_of(RepositoryBlob)
_ref = table_of(ManifestReference)


def linked_size(conn: Connection, repo_id: int, digest: str) -> int | None:
    """The blob's size if it is linked in the repository, else None."""
    query = (
        select(_blob.c.size)
        .join(_link, _link.c.digest == _blob.c.digest)
        .where(_link.c.repository_id == repo_id, _link.c.digest == digest)
    )
    return conn.execute(query).scalar()


def linked_sizes(conn: Connection, repo_id: int, digests: list[str]) -> dict[str, int]:
    """`linked_size` for several blobs: those linked in the repository, with their size."""
    found: dict[str, int] = {}
    for chunk in chunks(sorted(set(digests))):
        query = (
            select(_blob.c.digest, _blob.c.size)
            .join(_link, _link.c.digest == _blob.c.digest)
            .where(_link.c.repository_id == repo_id, _link.c.digest.in_(chunk))
        )
        found.update({str(d): int(size) for d, size in conn.execute(query)})
    return found


def link_of(conn: Connection, repo_id: int, digest: str) -> tuple[int, int] | None:
    """(size, linked_at) of the blob if it is linked in the repository, else None."""
    query = (
        select(_blob.c.size, _link.c.linked_at)
        .join(_link, _link.c.digest == _blob.c.digest)
        .where(_link.c.repository_id == repo_id, _link.c.digest == digest)
    )
    row = conn.execute(query).first()
    return (int(row[0]), int(row[1])) if row else None


def touch_link(conn: Connection, name: str, digest: str, now: int) -> bool:
    """Renew the link's time (a client was just told the blob is there); False when the
    link is gone (garbage collection took it first: the blob is unknown after all)."""
    repo_id = select(_repo.c.id).where(_repo.c.name == name).scalar_subquery()
    result = conn.execute(
        update(_link)
        .where(_link.c.repository_id == repo_id, _link.c.digest == digest)
        .values(linked_at=now)
    )
    return result.rowcount == 1


def add_blob(conn: Connection, digest: str, size: int, now: int) -> None:
    insert_ignore(conn, _blob, {"digest": digest, "size": size, "created_at": now}, ["digest"])


def _size_of(digest: str) -> Any:
    return select(_blob.c.size).where(_blob.c.digest == digest).scalar_subquery()


def link_blob(conn: Connection, repo_id: int, digest: str, now: int) -> None:
    """Link (or re-link, refreshing the GC grace period) a blob into a repository; a new
    link adds the blob's size to the repository's `stored_bytes` and counts in its
    namespace's usage."""
    link = {"repository_id": repo_id, "digest": digest, "linked_at": now}
    if insert_ignore(conn, _link, link, ["repository_id", "digest"]):
        conn.execute(
            update(_repo)
            .where(_repo.c.id == repo_id)
            .values(stored_bytes=_repo.c.stored_bytes + _size_of(digest))
        )
        count_link(conn, repo_id, digest)
    else:
        refresh_links(conn, [(repo_id, digest)], now)


def link_blobs(conn: Connection, repo_id: int, digests: list[str], now: int) -> None:
    """`link_blob` for several blobs of one repository, in a few statements (sorted, so
    that two writers linking overlapping sets meet the unique key in one order)."""
    ordered = sorted(set(digests))
    new: list[str] = []
    for chunk in chunks(ordered):
        rows = [{"repository_id": repo_id, "digest": d, "linked_at": now} for d in chunk]
        new += insert_ignore_returning(conn, _link, rows, ["repository_id", "digest"], "digest")
    if new:
        for chunk in chunks(new):
            added = select(func.coalesce(func.sum(_blob.c.size), 0)).where(
                _blob.c.digest.in_(chunk)
            )
            conn.execute(
                update(_repo)
                .where(_repo.c.id == repo_id)
                .values(stored_bytes=_repo.c.stored_bytes + added.scalar_subquery())
            )
        count_links(conn, repo_id, new)
    refresh_links(conn, [(repo_id, d) for d in sorted(set(ordered) - set(new))], now)


def refresh_links(conn: Connection, links: list[tuple[int, str]], now: int) -> None:
    by_repository: dict[int, list[str]] = {}
    for repo_id, digest in links:
        by_repository.setdefault(repo_id, []).append(digest)
    for repo_id, digests in by_repository.items():
        for chunk in chunks(sorted(set(digests))):
            conn.execute(
                update(_link)
                .where(_link.c.repository_id == repo_id, _link.c.digest.in_(chunk))
                .values(linked_at=now)
            )


def is_referenced(conn: Connection, repo_id: int, digest: str) -> bool:
    query = select(exists().where(_ref.c.repository_id == repo_id, _ref.c.digest == digest))
    return bool(conn.execute(query).scalar())


def unlink_blob(conn: Connection, repo_id: int, digest: str) -> bool:
    lock_counters(conn, [repo_id])  # before the link: see usage.lock_counters
    result = conn.execute(
        delete(_link).where(_link.c.repository_id == repo_id, _link.c.digest == digest)
    )
    if result.rowcount > 0:
        conn.execute(
            update(_repo)
            .where(_repo.c.id == repo_id)
            .values(stored_bytes=_repo.c.stored_bytes - _size_of(digest))
        )
        uncount_links(conn, repo_id, [digest])
    return result.rowcount > 0


def unlink_everywhere(conn: Connection, digest: str) -> None:
    """Unlink a blob from every repository that links it, keeping their `stored_bytes` and
    their namespaces' usage."""
    holders_now = select(_link.c.repository_id).where(_link.c.digest == digest)
    lock_counters(conn, conn.execute(holders_now).scalars().all())
    uncount_everywhere(conn, digest)
    holders = select(_link.c.repository_id).where(_link.c.digest == digest)
    conn.execute(
        update(_repo)
        .where(_repo.c.id.in_(holders))
        .values(stored_bytes=_repo.c.stored_bytes - _size_of(digest))
    )
    conn.execute(delete(_link).where(_link.c.digest == digest))
