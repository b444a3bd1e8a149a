"""Last-pulled times of tags and manifests, written a batch at a time."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import Connection, bindparam, or_, select, update

from dockyard.metadata.models import Manifest, Repository, Tag, table_of

__all__ = ["record_pulls"]

_man = table_of(Manifest)
_tag = table_of(Tag)
_repo = table_of(Repository)


def record_pulls(
    conn: Connection,
    manifests: Iterable[tuple[str, str, int]],
    tags: Iterable[tuple[str, str, int]],
) -> None:
    """Set `last_pulled_at` from (repository, digest, at) and (repository, tag, at), keeping
    a later time already there (another worker may have written one)."""
    repo_id = select(_repo.c.id).where(_repo.c.name == bindparam("r")).scalar_subquery()
    later = or_(_man.c.last_pulled_at.is_(None), _man.c.last_pulled_at < bindparam("t"))
    manifest_rows = [{"r": r, "d": d, "t": t} for r, d, t in manifests]
    if manifest_rows:
        conn.execute(
            update(_man)
            .where(_man.c.repository_id == repo_id, _man.c.digest == bindparam("d"), later)
            .values(last_pulled_at=bindparam("t")),
            manifest_rows,
        )
    tag_later = or_(_tag.c.last_pulled_at.is_(None), _tag.c.last_pulled_at < bindparam("t"))
    tag_rows = [{"r": r, "n": n, "t": t} for r, n, t in tags]
    if tag_rows:
        conn.execute(
            update(_tag)
            .where(_tag.c.repository_id == repo_id, _tag.c.name == bindparam("n"), tag_later)
            .values(last_pulled_at=bindparam("t")),
            tag_rows,
        )
