"""Queries on blobs and on which repositories may see them."""

from __future__ import annotations

from sqlalchemy import Connection, delete, exists, select, update

from dockyard.metadata.models import Blob, ManifestReference, RepositoryBlob, table_of
from dockyard.metadata.queries._upsert import insert_ignore, upsert

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


def add_blob(conn: Connection, digest: str, size: int, now: int) -> None:
    insert_ignore(conn, _blob, {"digest": digest, "size": size, "created_at": now}, ["digest"])


def link_blob(conn: Connection, repo_id: int, digest: str, now: int) -> None:
    """Link (or re-link, refreshing the GC grace period) a blob into a repository."""
    upsert(
        conn,
        _link,
        {"repository_id": repo_id, "digest": digest, "linked_at": now},
        ["repository_id", "digest"],
        ["linked_at"],
    )


def refresh_links(conn: Connection, links: list[tuple[int, str]], now: int) -> None:
    for repo_id, digest in links:
        conn.execute(
            update(_link)
            .where(_link.c.repository_id == repo_id, _link.c.digest == digest)
            .values(linked_at=now)
        )


def is_referenced(conn: Connection, repo_id: int, digest: str) -> bool:
    query = select(exists().where(_ref.c.repository_id == repo_id, _ref.c.digest == digest))
    return bool(conn.execute(query).scalar())


def unlink_blob(conn: Connection, repo_id: int, digest: str) -> bool:
    result = conn.execute(
        delete(_link).where(_link.c.repository_id == repo_id, _link.c.digest == digest)
    )
    return result.rowcount > 0
