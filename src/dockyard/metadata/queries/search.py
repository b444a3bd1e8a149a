"""The SQL behind search: repositories by name, tags by prefix, manifests by digest (their
own, their config's, a layer's, a layer's diff ID, an index child's).

Every query applies the caller's `RepositoryFilter` in SQL, before its LIMIT, and every
digest lookup is a range over an index (`digest >= 'sha256:abc' AND digest < 'sha256:abd'`),
never `LIKE '%…'`: digest search must stay fast with a million tags. The repository-name
substring tier is the one scan here (a name may contain the text anywhere); it runs only
when the exact and prefix tiers, both index lookups, left room under the limit.
"""

from __future__ import annotations

import enum
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, Connection, FromClause, Select, select

from dockyard.metadata.models import (
    ImageDiffId,
    Manifest,
    ManifestReference,
    Namespace,
    Repository,
    Tag,
    table_of,
)
from dockyard.metadata.queries.repositories import RepositoryFilter

__all__ = [
    "DigestHit",
    "DigestMatch",
    "TagHit",
    "digest_matches",
    "matching_repositories",
    "matching_tags",
    "parent_tags",
    "prefix_range",
    "tags_of",
]

_repo = table_of(Repository)
_namespace = table_of(Namespace)
_man = table_of(Manifest)
_ref = table_of(ManifestReference)
_tag = table_of(Tag)
_diff = table_of(ImageDiffId)


@dataclass(frozen=True, slots=True)
class TagHit:
    repository: str
    tag: str
    digest: str


@dataclass(frozen=True, slots=True)
class DigestHit:
    manifest_id: int
    repository: str
    manifest: str
    media_type: str
    matched_digest: str


class DigestMatch(enum.StrEnum):
    """What a digest may be to a manifest: each member is one lookup of `digest_matches`."""

    MANIFEST = "manifest"
    """The manifest's own digest."""
    CONFIG = "config"
    """Its config blob's digest (Docker's image ID)."""
    LAYER = "layer"
    """One of its layers (a manifest_reference of kind layer)."""
    DIFF_ID = "diff_id"
    """One of its layers uncompressed: a diff ID its config lists (an image_diff_id row)."""
    CHILD = "child"
    """A manifest its index lists (a manifest_reference of kind child)."""


def prefix_range(prefix: str) -> tuple[str, str]:
    """`[low, high)` holding exactly the strings that start with `prefix` (non-empty), in
    byte order: the bound that lets an index answer a prefix search as a range scan."""
    return prefix, prefix[:-1] + chr(ord(prefix[-1]) + 1)


def _in_range(column: ColumnElement[Any], prefix: str) -> ColumnElement[bool]:
    low, high = prefix_range(prefix)
    return (column >= low) & (column < high)


def _readable(query: Select[Any], base: FromClause, readable: RepositoryFilter) -> Select[Any]:
    """`query` from `base` (which joins the repository table) narrowed to what may be read.
    The namespace join is only needed (and made) when the filter reads its policy."""
    if readable.everything:
        return query.select_from(base)
    joined = base.outerjoin(_namespace, _namespace.c.name == _repo.c.namespace)
    return query.select_from(joined).where(readable.where())


def matching_repositories(
    conn: Connection, text: str, readable: RepositoryFilter, limit: int
) -> list[str]:
    """Readable repository names containing `text` (lowercase: names are lowercase by the
    OCI grammar): the exact name first, then names starting with it, then the rest, each
    tier by name; at most `limit`."""
    found: list[str] = []

    def tier(condition: ColumnElement[bool]) -> None:
        if len(found) >= limit:
            return
        query = _readable(select(_repo.c.name), _repo, readable)
        query = query.where(condition).order_by(_repo.c.name).limit(limit - len(found))
        found.extend(conn.execute(query).scalars())

    tier(_repo.c.name == text)
    tier(_in_range(_repo.c.name, text) & (_repo.c.name != text))
    low, high = prefix_range(text)
    contains = _repo.c.name.contains(text, autoescape=True)
    tier(contains & ((_repo.c.name < low) | (_repo.c.name >= high)))
    return found


def matching_tags(
    conn: Connection, repository: str, tag_prefix: str, readable: RepositoryFilter, limit: int
) -> list[TagHit]:
    """Tags of the readable repository `repository` starting with `tag_prefix` (all of
    them for ""), by name; at most `limit`."""
    base = _repo.join(_tag, _tag.c.repository_id == _repo.c.id).join(
        _man, _man.c.id == _tag.c.manifest_id
    )
    query = _readable(select(_repo.c.name, _tag.c.name, _man.c.digest), base, readable)
    query = query.where(_repo.c.name == repository)
    if tag_prefix:
        query = query.where(_in_range(_tag.c.name, tag_prefix))
    query = query.order_by(_tag.c.name).limit(limit)
    return [TagHit(*row) for row in conn.execute(query)]


def digest_matches(
    conn: Connection, match: DigestMatch, prefix: str, readable: RepositoryFilter, limit: int
) -> list[DigestHit]:
    """Manifests in readable repositories whose `match` digest (a `DigestMatch`) starts
    with `prefix` (a whole digest matches itself only), in index order; at most `limit`."""
    columns: tuple[Any, ...] = (_man.c.id, _repo.c.name, _man.c.digest, _man.c.media_type)
    base = _man.join(_repo, _repo.c.id == _man.c.repository_id)
    if match == DigestMatch.MANIFEST:
        matched, condition = _man.c.digest, _in_range(_man.c.digest, prefix)
    elif match == DigestMatch.CONFIG:
        matched, condition = _man.c.config_digest, _in_range(_man.c.config_digest, prefix)
    elif match == DigestMatch.DIFF_ID:
        # Driven by the diff ID index, then the manifests by their config digest index. The
        # `|| ''` keeps SQLite from reaching image_diff_id by its primary key instead: for a
        # filtered caller it would walk every manifest of the readable namespaces (18 ms
        # rather than 1 ms for one namespace of 1,000 repositories among 100,000).
        base = _diff.join(_man, _man.c.config_digest == _diff.c.config_digest.concat("")).join(
            _repo, _repo.c.id == _man.c.repository_id
        )
        matched, condition = _diff.c.diff_id, _in_range(_diff.c.diff_id, prefix)
    else:
        # Driven by the reference's digest index, then the manifest by its primary key.
        base = _ref.join(_man, _man.c.id == _ref.c.manifest_id).join(
            _repo, _repo.c.id == _man.c.repository_id
        )
        matched = _ref.c.digest
        condition = _in_range(_ref.c.digest, prefix) & (_ref.c.kind == match.value)
    query = _readable(select(*columns, matched), base, readable).where(condition)
    # DISTINCT: a layer (or a diff ID) may sit at two positions of one manifest.
    query = query.distinct().order_by(matched).limit(limit)
    return [DigestHit(*row) for row in conn.execute(query)]


def tags_of(conn: Connection, manifest_ids: Sequence[int]) -> dict[int, list[str]]:
    """The tags pointing at each manifest, by name."""
    if not manifest_ids:
        return {}
    query = select(_tag.c.manifest_id, _tag.c.name).where(
        _tag.c.manifest_id.in_(sorted(set(manifest_ids)))
    )
    found: dict[int, list[str]] = defaultdict(list)
    for manifest_id, name in conn.execute(query.order_by(_tag.c.manifest_id, _tag.c.name)):
        found[manifest_id].append(name)
    return dict(found)


def parent_tags(conn: Connection, manifest_ids: Sequence[int]) -> dict[int, list[str]]:
    """For each manifest, the tags of the indexes that list it as a child (an image's
    platform manifests are rarely tagged themselves), by name."""
    if not manifest_ids:
        return {}
    query = (
        select(_ref.c.child_manifest_id, _tag.c.name)
        .join(_tag, _tag.c.manifest_id == _ref.c.manifest_id)
        .where(_ref.c.child_manifest_id.in_(sorted(set(manifest_ids))))
        .distinct()
        .order_by(_ref.c.child_manifest_id, _tag.c.name)
    )
    found: dict[int, list[str]] = defaultdict(list)
    for manifest_id, name in conn.execute(query):
        found[manifest_id].append(name)
    return dict(found)
