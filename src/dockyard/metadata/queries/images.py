"""The SQL behind the console's repository and image pages: a repository's tags with what
a person wants to see of each (digest, size, top layer, who pushed), a tag's history, the
other tags on the same image, and one manifest with its references and accessories.

Sizes are the sum of a manifest's config and layer sizes, as stored compressed (what a pull
transfers), computed per row with a correlated sum over `manifest_reference`: the page asks
for at most a few hundred rows, and a stored total would have to be kept right by every
write path.
"""

from __future__ import annotations

import enum
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, Connection, Select, func, literal, or_, select

from dockyard.metadata.models import (
    Manifest,
    ManifestReference,
    Namespace,
    Repository,
    Tag,
    TagEvent,
    table_of,
)
from dockyard.metadata.queries._sums import total
from dockyard.metadata.queries.repositories import RepositoryFilter

__all__ = [
    "ACCESSORY_SUFFIXES",
    "ImageTag",
    "ManifestDetail",
    "ParentIndex",
    "ReferenceRow",
    "TagEventRow",
    "TagRow",
    "TagSort",
    "accessory_tag_names",
    "child_sizes",
    "count_tags",
    "current_tag_digest",
    "manifest_detail",
    "manifest_references",
    "parent_indexes",
    "payloads",
    "referrer_rows",
    "tag_history",
    "tag_page",
    "tags_on_digests",
]

_repo = table_of(Repository)
_namespace = table_of(Namespace)
_man = table_of(Manifest)
_ref = table_of(ManifestReference)
_tag = table_of(Tag)
_event = table_of(TagEvent)

# cosign stores a signature, attestation or SBOM of sha256:<hex> under the tag
# `sha256-<hex>.sig` (`.att`, `.sbom`): accessories of that image, not tags of their own.
ACCESSORY_SUFFIXES = (".sig", ".att", ".sbom")
_ACCESSORY_PATTERNS = tuple(f"sha256-%{suffix}" for suffix in ACCESSORY_SUFFIXES)


class TagSort(enum.StrEnum):
    NAME = "name"
    PUSHED = "pushed"  # newest first
    SIZE = "size"  # largest first


@dataclass(frozen=True, slots=True)
class TagRow:
    name: str
    manifest_id: int
    digest: str
    media_type: str
    artifact_type: str | None
    updated_at: int
    immutable: bool
    size: int  # config + layers, compressed; 0 for an index (see child_sizes)
    top_layer: str | None
    pushed_by: str | None
    accessories: int  # referrers plus cosign-style tags naming this digest
    last_pulled_at: int | None  # by this tag; None: not since pulls were recorded


@dataclass(frozen=True, slots=True)
class TagEventRow:
    digest: str
    action: str
    actor: str | None
    at: int


@dataclass(frozen=True, slots=True)
class ImageTag:
    repository: str
    tag: str


@dataclass(frozen=True, slots=True)
class ManifestDetail:
    id: int
    digest: str
    media_type: str
    artifact_type: str | None
    payload: bytes
    size: int
    config_digest: str | None
    subject_digest: str | None
    created_at: int
    pushed_by: str | None


@dataclass(frozen=True, slots=True)
class ReferenceRow:
    position: int
    kind: str
    digest: str
    size: int
    media_type: str


@dataclass(frozen=True, slots=True)
class ParentIndex:
    digest: str
    media_type: str
    payload: bytes


def _is_accessory_tag(column: ColumnElement[str]) -> ColumnElement[bool]:
    return or_(*(column.like(pattern) for pattern in _ACCESSORY_PATTERNS))


def _content_size(manifest_id: ColumnElement[int]) -> Any:
    part = _ref.alias("part")  # its own alias: callers may select from _ref themselves
    return (
        select(total(part.c.size))
        .where(part.c.manifest_id == manifest_id, part.c.kind.in_(("config", "layer")))
        .scalar_subquery()
    )


def _tag_query(repo_id: int) -> Select[Any]:
    top_layer = (
        select(_ref.c.digest)
        .where(_ref.c.manifest_id == _man.c.id, _ref.c.kind == "layer")
        .order_by(_ref.c.position.desc())
        .limit(1)
        .scalar_subquery()
    )
    pushed_by = (
        select(_event.c.actor)
        .where(
            _event.c.repository_id == repo_id,
            _event.c.tag == _tag.c.name,
            _event.c.action == "push",
        )
        .order_by(_event.c.at.desc(), _event.c.id.desc())
        .limit(1)
        .scalar_subquery()
    )
    other = _man.alias("referrer")
    referrers = (
        select(func.count())
        .where(other.c.repository_id == repo_id, other.c.subject_digest == _man.c.digest)
        .scalar_subquery()
    )
    hex_part = func.substr(_man.c.digest, 8)
    accessory = _tag.alias("accessory")
    cosign_tags = (
        select(func.count())
        .where(
            accessory.c.repository_id == repo_id,
            accessory.c.name.in_(
                [literal("sha256-") + hex_part + suffix for suffix in ACCESSORY_SUFFIXES]
            ),
        )
        .scalar_subquery()
    )
    return (
        select(
            _tag.c.name,
            _man.c.id,
            _man.c.digest,
            _man.c.media_type,
            _man.c.artifact_type,
            _tag.c.updated_at,
            _tag.c.immutable,
            _content_size(_man.c.id).label("size"),
            top_layer,
            pushed_by,
            (referrers + cosign_tags).label("accessories"),
            _tag.c.last_pulled_at,
        )
        .select_from(_tag.join(_man, _man.c.id == _tag.c.manifest_id))
        .where(_tag.c.repository_id == repo_id, ~_is_accessory_tag(_tag.c.name))
    )


def count_tags(conn: Connection, repo_id: int) -> int:
    """The repository's tags, cosign accessory tags not counted."""
    query = select(func.count()).where(
        _tag.c.repository_id == repo_id, ~_is_accessory_tag(_tag.c.name)
    )
    return int(conn.execute(query).scalar_one())


def tag_page(
    conn: Connection, repo_id: int, sort: TagSort, offset: int, limit: int
) -> list[TagRow]:
    """One page of the repository's tags (cosign accessory tags left out: they show under
    their subject). Offset paging: a repository holds thousands of tags, not millions."""
    query = _tag_query(repo_id)
    if sort == TagSort.PUSHED:
        query = query.order_by(_tag.c.updated_at.desc(), _tag.c.id.desc())
    elif sort == TagSort.SIZE:
        query = query.order_by(func.coalesce(_content_size(_man.c.id), 0).desc(), _tag.c.name)
    else:
        query = query.order_by(_tag.c.name)
    rows = conn.execute(query.offset(offset).limit(limit))
    return [TagRow(*row) for row in rows]


def tag_history(conn: Connection, repo_id: int, tag: str, limit: int) -> list[TagEventRow]:
    """Every digest `tag` pointed to, newest first: pushes, moves and deletes."""
    query = (
        select(_event.c.digest, _event.c.action, _event.c.actor, _event.c.at)
        .where(_event.c.repository_id == repo_id, _event.c.tag == tag)
        .order_by(_event.c.at.desc(), _event.c.id.desc())
        .limit(limit)
    )
    return [TagEventRow(*row) for row in conn.execute(query)]


def tags_on_digests(
    conn: Connection, digests: Sequence[str], readable: RepositoryFilter, limit: int
) -> dict[str, list[ImageTag]]:
    """For each digest, the tags in readable repositories pointing at a manifest with that
    digest (the same image, wherever it was pushed), by repository and tag; at most `limit`
    per call in all."""
    if not digests:
        return {}
    base = _man.join(_tag, _tag.c.manifest_id == _man.c.id).join(
        _repo, _repo.c.id == _man.c.repository_id
    )
    if not readable.everything:
        base = base.outerjoin(_namespace, _namespace.c.name == _repo.c.namespace)
    query = select(_man.c.digest, _repo.c.name, _tag.c.name).select_from(base)
    if not readable.everything:
        query = query.where(readable.where())
    query = (
        query.where(_man.c.digest.in_(sorted(set(digests))))
        .order_by(_man.c.digest, _repo.c.name, _tag.c.name)
        .limit(limit)
    )
    found: dict[str, list[ImageTag]] = defaultdict(list)
    for digest, repository, tag in conn.execute(query):
        found[digest].append(ImageTag(repository, tag))
    return dict(found)


def manifest_detail(conn: Connection, repo_id: int, digest: str) -> ManifestDetail | None:
    columns: list[Any] = [
        _man.c.id,
        _man.c.digest,
        _man.c.media_type,
        _man.c.artifact_type,
        _man.c.payload,
        _man.c.size,
        _man.c.config_digest,
        _man.c.subject_digest,
        _man.c.created_at,
        _man.c.pushed_by,
    ]
    query = select(*columns).where(_man.c.repository_id == repo_id, _man.c.digest == digest)
    row = conn.execute(query).first()
    return ManifestDetail(*row) if row else None


def manifest_references(conn: Connection, manifest_id: int) -> list[ReferenceRow]:
    query = (
        select(_ref.c.position, _ref.c.kind, _ref.c.digest, _ref.c.size, _ref.c.media_type)
        .where(_ref.c.manifest_id == manifest_id)
        .order_by(_ref.c.position)
    )
    return [ReferenceRow(*row) for row in conn.execute(query)]


def payloads(conn: Connection, manifest_ids: Sequence[int]) -> dict[int, bytes]:
    """The stored bytes of some manifests (indexes, to read their platforms)."""
    if not manifest_ids:
        return {}
    query = select(_man.c.id, _man.c.payload).where(_man.c.id.in_(sorted(set(manifest_ids))))
    return {manifest_id: payload for manifest_id, payload in conn.execute(query)}


def child_sizes(conn: Connection, index_ids: Sequence[int]) -> dict[int, int]:
    """For each index, the sum of its child manifests' config and layer sizes."""
    if not index_ids:
        return {}
    child = _man.alias("child")
    query = (
        select(_ref.c.manifest_id, total(_content_size(child.c.id)))
        .select_from(_ref.join(child, child.c.id == _ref.c.child_manifest_id))
        .where(_ref.c.manifest_id.in_(sorted(set(index_ids))), _ref.c.kind == "child")
        .group_by(_ref.c.manifest_id)
    )
    return {index_id: int(total) for index_id, total in conn.execute(query)}


def accessory_tag_names(conn: Connection, repo_id: int, digest: str) -> list[tuple[str, str]]:
    """cosign's tags naming `digest` in this repository: (tag, manifest digest) pairs."""
    _, _, encoded = digest.partition(":")
    names = [f"sha256-{encoded}{suffix}" for suffix in ACCESSORY_SUFFIXES]
    query = (
        select(_tag.c.name, _man.c.digest)
        .select_from(_tag.join(_man, _man.c.id == _tag.c.manifest_id))
        .where(_tag.c.repository_id == repo_id, _tag.c.name.in_(names))
        .order_by(_tag.c.name)
    )
    return [(name, manifest) for name, manifest in conn.execute(query)]


def current_tag_digest(conn: Connection, repo_id: int, tag: str) -> str | None:
    query = (
        select(_man.c.digest)
        .select_from(_tag.join(_man, _man.c.id == _tag.c.manifest_id))
        .where(_tag.c.repository_id == repo_id, _tag.c.name == tag)
    )
    return conn.execute(query).scalar_one_or_none()


def referrer_rows(conn: Connection, repo_id: int, subject: str) -> list[tuple[str, str | None]]:
    """Manifests whose subject is `subject`: (digest, artifact type or config media type)."""
    config = _ref.alias("config")
    query = (
        select(_man.c.digest, func.coalesce(_man.c.artifact_type, config.c.media_type))
        .select_from(
            _man.outerjoin(
                config, (config.c.manifest_id == _man.c.id) & (config.c.kind == "config")
            )
        )
        .where(_man.c.repository_id == repo_id, _man.c.subject_digest == subject)
        .order_by(_man.c.digest)
        .limit(1000)
    )
    return [(digest, artifact) for digest, artifact in conn.execute(query)]


def parent_indexes(conn: Connection, manifest_id: int, digest: str) -> list[ParentIndex]:
    """The indexes that list this manifest (`manifest_id`, `digest`), with their bytes (to
    read attestation entries). Found through the reference's digest index: most references
    are not children, so statistics call the child-id index unselective and SQLite would
    scan the table. Sorted here: an ORDER BY on the digest would walk every manifest."""
    listing = select(_ref.c.manifest_id).where(
        _ref.c.digest == digest,
        _ref.c.kind == "child",
        _ref.c.child_manifest_id == manifest_id,
    )
    query = select(_man.c.digest, _man.c.media_type, _man.c.payload).where(_man.c.id.in_(listing))
    return sorted((ParentIndex(*row) for row in conn.execute(query)), key=lambda p: p.digest)
