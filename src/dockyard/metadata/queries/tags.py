"""Queries on tags and their history."""

from __future__ import annotations

from sqlalchemy import Connection, delete, insert, select, update

from dockyard.metadata.models import Manifest, Tag, TagEvent, table_of
from dockyard.metadata.queries._upsert import insert_ignore

_tag = table_of(Tag)
_event = table_of(TagEvent)
_man = table_of(Manifest)


class TagMoveRefused(Exception):
    """`set_tag` with `may_move=False` found the tag pointing at another manifest."""

    def __init__(self, current_manifest_id: int) -> None:
        super().__init__(current_manifest_id)
        self.current_manifest_id = current_manifest_id


def set_tag(
    conn: Connection,
    repo_id: int,
    name: str,
    manifest_id: int,
    digest: str,
    now: int,
    actor: str | None,
    *,
    may_move: bool = True,
    action: str = "push",
) -> int | None:
    """Point `name` at the manifest; records history when it changes. Returns the manifest
    it pointed at before, when it moved (garbage collection reviews that one).

    The row is read FOR UPDATE: two pushes of one tag through two replicas then move it one
    after the other, and the second learns the first one's manifest as the one it replaced
    (read plainly under READ COMMITTED, both would name the older one, and the first
    push's manifest, left untagged, would never be reviewed). With `may_move=False` (an
    immutable tag) a tag that exists and points elsewhere raises TagMoveRefused: decided on
    the locked row, so also when a concurrent push created the tag first."""
    current = conn.execute(
        select(_tag.c.manifest_id)
        .where(_tag.c.repository_id == repo_id, _tag.c.name == name)
        .with_for_update()
    ).scalar()
    if current == manifest_id:
        return None
    if current is not None and not may_move:
        raise TagMoveRefused(int(current))
    if current is None:
        inserted = insert_ignore(
            conn,
            _tag,
            {
                "repository_id": repo_id,
                "name": name,
                "manifest_id": manifest_id,
                "updated_at": now,
                "immutable": False,
            },
            ["repository_id", "name"],
        )
        if not inserted:  # a concurrent push created it first: move it instead
            return set_tag(conn, repo_id, name, manifest_id, digest, now, actor, may_move=may_move)
    else:
        conn.execute(
            update(_tag)
            .where(_tag.c.repository_id == repo_id, _tag.c.name == name)
            .values(manifest_id=manifest_id, updated_at=now)
        )
    record_events(conn, repo_id, [name], digest, action, now, actor)
    return None if current is None else int(current)


def record_events(
    conn: Connection,
    repo_id: int,
    tags: list[str],
    digest: str,
    action: str,
    now: int,
    actor: str | None,
) -> None:
    if tags:
        conn.execute(
            insert(_event),
            [
                {
                    "repository_id": repo_id,
                    "tag": tag,
                    "digest": digest,
                    "action": action,
                    "actor": actor,
                    "at": now,
                }
                for tag in tags
            ],
        )


def pointed_to(conn: Connection, repo_id: int, name: str, digest: str) -> bool:
    """Whether the tag's history shows it pointing at `digest` once (pushed or reverted)."""
    query = select(_event.c.id).where(
        _event.c.repository_id == repo_id, _event.c.tag == name, _event.c.digest == digest,
        _event.c.action != "delete",
    ).limit(1)  # fmt: skip
    return conn.execute(query).first() is not None


def delete_tag(conn: Connection, repo_id: int, name: str) -> str | None:
    """Remove one tag; returns the digest it pointed to, or None if there was no such tag."""
    digest = conn.execute(
        select(_man.c.digest)
        .join(_tag, _tag.c.manifest_id == _man.c.id)
        .where(_tag.c.repository_id == repo_id, _tag.c.name == name)
    ).scalar()
    if digest is not None:
        conn.execute(delete(_tag).where(_tag.c.repository_id == repo_id, _tag.c.name == name))
    return digest


def tag_names(conn: Connection, repo_id: int, after: str | None, limit: int) -> list[str]:
    """Tag names in byte order after `after` (a position: it need not exist)."""
    query = select(_tag.c.name).where(_tag.c.repository_id == repo_id)
    if after is not None:
        query = query.where(_tag.c.name > after)
    return list(conn.execute(query.order_by(_tag.c.name).limit(limit)).scalars())
