"""One driver per metadata back end: its engines and the change generation of its data.

The domain never asks which back end it runs on; `Database` (metadata/db.py) picks the
driver from the URL. What differs between back ends, and why, is in each module's docstring.
"""

from __future__ import annotations

from typing import Protocol

from sqlalchemy import Connection, Engine

__all__ = ["Backend"]


class Backend(Protocol):
    reader: Engine  # read-only transactions, each on one consistent snapshot
    writer: Engine  # write transactions

    def generation(self) -> int:
        """A number that changes whenever any connection, in any process or replica, has
        committed a write since the last call; equal numbers mean nothing committed in
        between. Cheap enough for the event loop; call it from one thread at a time."""
        ...

    def access_generation(self) -> int:
        """The access generation (queries/access.py), read without a pooled connection."""
        ...

    def lock_migrations(self, conn: Connection) -> None:
        """Hold, until `conn`'s transaction ends, the lock that makes migrations run one at
        a time (replicas started together all migrate): a second migrator waits, then finds
        the schema at head and does nothing."""
        ...

    def close(self) -> None: ...
