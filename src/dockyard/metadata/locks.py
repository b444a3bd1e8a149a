"""Row-free locks, one seam per back end (DESIGN: "Back ends behind seams").

`lock_digests` serialises everything that decides whether a digest's bytes exist: an
upload placing them, a mount or an upload linking them, garbage collection or a layer
purge removing them. Each takes the lock inside its write transaction, before it reads the
blob row, and holds it to commit, so none of them can act on what another is changing.
`lock_names` is the same lock for any other name two writers could make at once (a
directory account seen for the first time by two replicas).
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import Connection, text

__all__ = ["lock_digests", "lock_names"]


def lock_digests(conn: Connection, digests: Iterable[str]) -> None:
    """Hold a lock per digest until the transaction ends.

    PostgreSQL: a transaction-level advisory lock per digest, taken in sorted order so two
    transactions locking overlapping sets cannot deadlock. SQLite: the write transaction
    already holds the database's write lock (writers BEGIN IMMEDIATE), which covers every
    digest, so there is nothing more to take.
    """
    lock_names(conn, digests)


def lock_names(conn: Connection, names: Iterable[str]) -> None:
    """`lock_digests` for any names (give them a prefix of their own, "directory-user:…",
    so they never share a lock with a digest by accident)."""
    if conn.dialect.name != "postgresql":
        return
    for name in sorted(set(names)):
        conn.execute(text("SELECT pg_advisory_xact_lock(hashtextextended(:n, 0))"), {"n": name})
