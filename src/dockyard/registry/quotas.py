"""The storage quota on the push path (docs/design.md, "Storage usage and quotas").

A namespace's usage is the bytes of the blobs linked in any of its repositories, each
once (`namespace.stored_bytes`, kept by every link and unlink). Pushes meet the quota at
three points, each a read of one or two rows by key, never a sum over blobs:

- `check_room`, when an upload session opens: refused when no byte is left. Advisory (no
  lock): the session may still be refused at its commit.
- `check_blob`, in the transaction that links a blob (upload commit, mount), before the
  bytes are placed: refused when the blob is new to the namespace and its size would take
  usage past the quota. The namespace row is locked (PostgreSQL `FOR UPDATE`; SQLite's
  write lock), and the link's counter update follows in the same transaction, so
  concurrent commits into one namespace check one after the other: they cannot overshoot.
- `check_manifest`, in the manifest push's transaction: a namespace already over its quota
  (an admin lowered it) takes no new manifests, only tags of manifests the repository
  holds (a re-tag adds nothing). A manifest never adds blob bytes: everything it references
  is linked already (and was counted then).

Deletes are never checked.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection

from dockyard.metadata.queries import manifests as manifest_queries
from dockyard.metadata.queries import usage
from dockyard.registry.errors import QuotaExceeded
from dockyard.registry.names import namespace_of
from dockyard.registry.sizes import format_size

__all__ = ["check_blob", "check_manifest", "check_room"]


def _by(row: usage.NamespaceQuota) -> str:
    return f"quota set by {row.quota_set_by}" if row.quota_set_by else "quota set by an admin"


def _detail(row: usage.NamespaceQuota, adding: int | None = None) -> dict[str, Any]:
    detail: dict[str, Any] = {
        "namespace": row.name,
        "used_bytes": row.stored_bytes,
        "quota_bytes": row.quota_bytes,
    }
    if adding is not None:
        detail["blob_bytes"] = adding
    return detail


def _state(row: usage.NamespaceQuota, quota: int) -> str:
    where = "over" if row.stored_bytes > quota else "at"
    return (
        f"namespace '{row.name}' is {where} its storage quota: "
        f"{format_size(row.stored_bytes)} used of {format_size(quota)} ({_by(row)})"
    )


def check_room(conn: Connection, repository: str) -> None:
    """Before an upload session opens."""
    row = usage.namespace_quota(conn, namespace_of(repository))
    if row is None or row.quota_bytes is None or row.stored_bytes < row.quota_bytes:
        return
    raise QuotaExceeded(_state(row, row.quota_bytes), _detail(row))


def check_blob(conn: Connection, repository: str, digest: str, size: int) -> None:
    """Inside the write transaction that is about to link `digest` into `repository`
    (after its digest lock, before its bytes are placed)."""
    row = usage.namespace_quota(conn, namespace_of(repository), lock=True)
    if row is None or row.quota_bytes is None:
        return
    if row.stored_bytes + size <= row.quota_bytes or usage.has_blob(conn, row.id, digest):
        return
    message = (
        f"namespace '{row.name}' would go over its storage quota: "
        f"{format_size(row.stored_bytes)} used + {format_size(size)} for this blob > "
        f"{format_size(row.quota_bytes)} ({_by(row)})"
    )
    raise QuotaExceeded(message, _detail(row, size))


def check_blobs(conn: Connection, repository: str, sizes: dict[str, int]) -> None:
    """`check_blob` for several blobs linked at once (a promotion): the bytes of those the
    namespace does not hold yet, each once, must fit."""
    row = usage.namespace_quota(conn, namespace_of(repository), lock=True)
    if row is None or row.quota_bytes is None or not sizes:
        return
    held = usage.has_blobs(conn, row.id, list(sizes))
    adding = sum(size for digest, size in sizes.items() if digest not in held)
    if row.stored_bytes + adding <= row.quota_bytes:
        return
    message = (
        f"namespace '{row.name}' would go over its storage quota: "
        f"{format_size(row.stored_bytes)} used + {format_size(adding)} for this image > "
        f"{format_size(row.quota_bytes)} ({_by(row)})"
    )
    raise QuotaExceeded(message, _detail(row, adding))


def check_manifest(conn: Connection, repository: str, repo_id: int, digest: str) -> None:
    """Inside the manifest push's write transaction."""
    row = usage.namespace_quota(conn, namespace_of(repository))
    if row is None or row.quota_bytes is None or row.stored_bytes <= row.quota_bytes:
        return
    if manifest_queries.manifest_ids(conn, repo_id, [digest]):
        return  # a tag for content the repository holds already
    hint = "; only images already in the repository may be tagged until usage drops below it"
    raise QuotaExceeded(_state(row, row.quota_bytes) + hint, _detail(row))
