"""Image configs' layer diff IDs (`image_diff_id`), keyed by config digest.

A config that was read but has no diff IDs to record (an artifact's config, a malformed or
oversized one, an image without layers) gets one marker row, at position -1 with an empty
diff ID, so that neither a push nor the start-up backfill reads it again. The marker never
matches a search: every searched prefix starts with an algorithm. Rows are never deleted:
they describe the config's bytes, which a digest fixes, so they stay true if it is pushed
again.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import Connection, exists, select

from dockyard.metadata.models import ImageDiffId, Manifest, ManifestReference, table_of
from dockyard.metadata.queries._upsert import insert_ignore_rows

__all__ = ["UnindexedConfig", "add_diff_ids", "diff_ids_of", "has_diff_ids", "unindexed_configs"]

_diff = table_of(ImageDiffId)
_man = table_of(Manifest)
_ref = table_of(ManifestReference)

_MARKER_POSITION = -1
_MARKER = ""


@dataclass(frozen=True, slots=True)
class UnindexedConfig:
    digest: str
    size: int
    media_types: frozenset[str]  # what the manifests referencing it call it


def has_diff_ids(conn: Connection, config_digest: str) -> bool:
    """Whether the config was indexed already (its diff IDs or its marker): one PK lookup."""
    query = select(exists().where(_diff.c.config_digest == config_digest))
    return bool(conn.execute(query).scalar())


def add_diff_ids(conn: Connection, config_digest: str, diff_ids: Sequence[str]) -> int:
    """Record the config's diff IDs in order (the marker when there are none), keeping rows
    already there; returns the number of rows inserted."""
    rows = [
        {"config_digest": config_digest, "position": position, "diff_id": diff_id}
        for position, diff_id in enumerate(diff_ids)
    ] or [{"config_digest": config_digest, "position": _MARKER_POSITION, "diff_id": _MARKER}]
    return insert_ignore_rows(conn, _diff, rows, ["config_digest", "position"])


def diff_ids_of(conn: Connection, config_digest: str) -> list[str]:
    """The config's recorded diff IDs in order (none for a marked or unindexed config)."""
    query = (
        select(_diff.c.diff_id)
        .where(_diff.c.config_digest == config_digest, _diff.c.position >= 0)
        .order_by(_diff.c.position)
    )
    return list(conn.execute(query).scalars())


def unindexed_configs(conn: Connection, after: str, limit: int) -> list[UnindexedConfig]:
    """Configs that manifests reference and that were never indexed (pushed before diff IDs
    were), digests above `after` in order, at most `limit`. With nothing to do this is one
    walk of the manifest.config_digest index, probing image_diff_id's primary key."""
    indexed = exists().where(_diff.c.config_digest == _man.c.config_digest)
    candidates = list(
        conn.execute(
            select(_man.c.config_digest)
            .where(_man.c.config_digest > after, ~indexed)
            .distinct()
            .order_by(_man.c.config_digest)
            .limit(limit)
        ).scalars()
    )
    if not candidates:
        return []
    sizes: dict[str, int] = {}
    types: dict[str, set[str]] = defaultdict(set)
    described = select(_ref.c.digest, _ref.c.size, _ref.c.media_type).where(
        _ref.c.digest.in_(candidates), _ref.c.kind == "config"
    )
    for digest, size, media_type in conn.execute(described):
        sizes[digest] = max(size, sizes.get(digest, 0))
        types[digest].add(media_type)
    return [
        UnindexedConfig(digest, sizes.get(digest, 0), frozenset(types.get(digest, ())))
        for digest in candidates
    ]
