"""Queries on upload sessions."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Connection, delete, func, insert, select, update

from dockyard.metadata.models import Upload, table_of

_upload = table_of(Upload)


@dataclass(frozen=True, slots=True)
class UploadRow:
    id: str
    repository: str
    offset: int
    started_at: int


def add_upload(
    conn: Connection, upload_id: str, repository: str, now: int, actor: str | None
) -> None:
    conn.execute(
        insert(_upload).values(
            id=upload_id,
            repository=repository,
            offset=0,
            started_at=now,
            updated_at=now,
            started_by=actor,
        )
    )


def get_upload(conn: Connection, upload_id: str) -> UploadRow | None:
    row = conn.execute(
        select(_upload.c.id, _upload.c.repository, _upload.c.offset, _upload.c.started_at).where(
            _upload.c.id == upload_id
        )
    ).first()
    return UploadRow(*row) if row else None


def set_offset(conn: Connection, upload_id: str, expected: int, offset: int, now: int) -> bool:
    """Move the offset only if nobody else moved it first (two PATCHes racing)."""
    result = conn.execute(
        update(_upload)
        .where(_upload.c.id == upload_id, _upload.c.offset == expected)
        .values(offset=offset, updated_at=now)
    )
    return result.rowcount == 1


def remove_upload(conn: Connection, upload_id: str) -> bool:
    return conn.execute(delete(_upload).where(_upload.c.id == upload_id)).rowcount > 0


def expired_uploads(
    conn: Connection, before: int, limit: int, after: str | None = None
) -> list[UploadRow]:
    """Sessions untouched since `before` (at or before it), by id after `after`."""
    query = select(_upload.c.id, _upload.c.repository, _upload.c.offset, _upload.c.started_at)
    query = query.where(_upload.c.updated_at <= before)
    if after is not None:
        query = query.where(_upload.c.id > after)
    return [UploadRow(*row) for row in conn.execute(query.order_by(_upload.c.id).limit(limit))]


def remove_if_idle(conn: Connection, upload_id: str, before: int) -> bool:
    """Remove the session unless a request touched it since `before` (a PATCH racing the
    expiry wins)."""
    result = conn.execute(
        delete(_upload).where(_upload.c.id == upload_id, _upload.c.updated_at <= before)
    )
    return result.rowcount == 1


def existing_uploads(conn: Connection, upload_ids: list[str]) -> set[str]:
    query = select(_upload.c.id).where(_upload.c.id.in_(upload_ids))
    return set(conn.execute(query).scalars())


def count_idle(conn: Connection, before: int) -> int:
    """How many sessions nobody touched since `before` (at or before it)."""
    query = select(func.count()).select_from(_upload).where(_upload.c.updated_at <= before)
    return int(conn.execute(query).scalar_one())
