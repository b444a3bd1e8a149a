"""Layer diff IDs: the uncompressed layer digests an image config lists in `rootfs.diff_ids`
(what `docker inspect` and scanners print), indexed so that search answers "which images
contain this layer?" for them too.

A push indexes its config when it is new to the registry: the config is read from the blob
store before the write transaction (never holding the write lock over file I/O) and its rows
are written with the manifest. Images pushed before diff IDs were indexed are caught up by
`backfill`, run in the background when the server starts, by one worker of one replica at
a time (the `diff-id-backfill` job lease, `claim_backfill`): the others wait for the lease,
then find nothing left to do. A config that cannot be read
or parsed never fails a push: it is simply not indexed (see `metadata.queries.diff_ids` for
the marker that keeps it from being read again).
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass

from sqlalchemy import Connection

from dockyard.metadata.db import Database
from dockyard.metadata.queries import diff_ids as queries
from dockyard.metadata.queries import leases
from dockyard.registry.context import now
from dockyard.registry.digests import parse_digest
from dockyard.registry.errors import DigestInvalid
from dockyard.registry.image_config import CONFIG_TYPES
from dockyard.registry.types import Descriptor
from dockyard.storage.base import BlobStore, StorageError

__all__ = [
    "BACKFILL_BATCH",
    "BACKFILL_LEASE",
    "BACKFILL_LEASE_SECONDS",
    "MAX_CONFIG_BYTES",
    "MAX_DIFF_IDS",
    "PendingDiffIds",
    "backfill",
    "backfill_batch",
    "claim_backfill",
    "parse_diff_ids",
    "read_for_push",
    "record",
    "release_backfill",
]

MAX_CONFIG_BYTES = 4 * 1024 * 1024  # real configs, long histories included, are far smaller
MAX_DIFF_IDS = 1000  # overlay filesystems stop at ~128 layers; more is not an image
BACKFILL_BATCH = 500
BACKFILL_LEASE = "diff-id-backfill"
BACKFILL_LEASE_SECONDS = 120  # renewed at every batch; a dead holder's runs out this soon
_log = logging.getLogger("dockyard.registry")


@dataclass(frozen=True, slots=True)
class PendingDiffIds:
    """Diff IDs read before a push's transaction, to record in it. Empty: the config has
    none we accept, recorded as such so that it is not read again."""

    config_digest: str
    diff_ids: tuple[str, ...]


def _is_digest(value: object) -> bool:
    if not isinstance(value, str):
        return False
    try:
        parse_digest(value)
    except DigestInvalid:
        return False
    return True


def parse_diff_ids(data: bytes) -> tuple[str, ...]:
    """`rootfs.diff_ids` of a config, or () unless the config is a JSON object whose
    `rootfs.diff_ids` is a list of at most MAX_DIFF_IDS well-formed, supported digests."""
    try:
        doc = json.loads(data)
    except (UnicodeDecodeError, ValueError, RecursionError):
        return ()
    rootfs = doc.get("rootfs") if isinstance(doc, dict) else None
    found = rootfs.get("diff_ids") if isinstance(rootfs, dict) else None
    if not isinstance(found, list) or len(found) > MAX_DIFF_IDS:
        return ()
    if not all(_is_digest(diff_id) for diff_id in found):
        return ()
    return tuple(found)


def _read(store: BlobStore, digest: str, size: int) -> tuple[str, ...] | None:
    """The config's diff IDs; None when storage failed (worth another try later)."""
    if size > MAX_CONFIG_BYTES:
        return ()
    try:
        with store.open_blob(digest) as handle:
            data = handle.read(MAX_CONFIG_BYTES + 1)
    except (OSError, StorageError) as exc:
        _log.warning(
            "image config unreadable, diff IDs not indexed",
            extra={"fields": {"digest": digest, "error": str(exc)}},
        )
        return None
    return parse_diff_ids(data) if len(data) <= MAX_CONFIG_BYTES else ()


def read_for_push(
    db: Database, store: BlobStore, config: Descriptor | None
) -> PendingDiffIds | None:
    """What to record with a manifest whose config is `config`, read before the push's write
    transaction; None when nothing is to be recorded (no config, indexed already, storage
    failed). Blocking. Never raises on a config that is missing, oversized or malformed."""
    if config is None:
        return None
    with db.read() as conn:
        if queries.has_diff_ids(conn, config.digest):
            return None
    if config.media_type not in CONFIG_TYPES:
        return PendingDiffIds(config.digest, ())
    found = _read(store, config.digest, config.size)
    return None if found is None else PendingDiffIds(config.digest, found)


def record(conn: Connection, pending: PendingDiffIds | None) -> None:
    """Write what `read_for_push` found, in the push's transaction (after its references
    were checked: only a config linked in the repository is recorded)."""
    if pending is not None:
        queries.add_diff_ids(conn, pending.config_digest, pending.diff_ids)


def backfill_batch(
    db: Database, store: BlobStore, after: str = "", limit: int = BACKFILL_BATCH
) -> tuple[int, str | None]:
    """Index up to `limit` never-indexed configs with digests above `after`; returns how
    many were recorded and where the next batch starts (None: done). Blocking."""
    with db.read() as conn:
        pending = queries.unindexed_configs(conn, after, limit)
    found: list[tuple[str, tuple[str, ...]]] = []
    for config in pending:
        if not config.media_types & CONFIG_TYPES:
            found.append((config.digest, ()))
            continue
        diff_ids = _read(store, config.digest, config.size)
        if diff_ids is not None:
            found.append((config.digest, diff_ids))
    if found:
        with db.write() as conn:
            for digest, diff_ids in found:
                queries.add_diff_ids(conn, digest, diff_ids)
    return len(found), (pending[-1].digest if len(pending) == limit else None)


def backfill(db: Database, store: BlobStore, limit: int = BACKFILL_BATCH) -> int:
    """Index every config that manifests reference and that was never indexed (images
    pushed before diff IDs were); returns how many configs were recorded. Idempotent: with
    nothing to do it is one query. Blocking."""
    total, after = 0, ""
    while True:
        recorded, following = backfill_batch(db, store, after, limit)
        total += recorded
        if following is None:
            return total
        after = following


def claim_backfill(db: Database, holder: str) -> bool:
    """Take or renew the backfill's lease for `holder`; False while another worker or
    replica holds it (two would only read the same configs twice). Blocking."""
    with db.write() as conn:
        return leases.acquire(conn, BACKFILL_LEASE, holder, now(), BACKFILL_LEASE_SECONDS)


def release_backfill(db: Database, holder: str) -> None:
    with db.write() as conn:
        leases.release(conn, BACKFILL_LEASE, holder)
