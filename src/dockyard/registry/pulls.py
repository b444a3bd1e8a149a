"""Last pulled, recorded cheaply: a pull only notes (repository, tag, digest) in this
worker's memory; `flush` writes what was noted since the last flush in one transaction (the
server flushes every `FLUSH_SECONDS` and when it stops). A crash loses at most that long
of last-pulled times, never a pull. Retention reads the times; the console shows them."""

from __future__ import annotations

import threading

from dockyard.metadata.db import Database
from dockyard.metadata.queries import pulls
from dockyard.registry.context import now

__all__ = ["FLUSH_SECONDS", "PullRecorder"]

FLUSH_SECONDS = 15
_MAX_PENDING = 50_000  # this many distinct pulled things noted: flush without waiting


class PullRecorder:
    def __init__(self, db: Database) -> None:
        self._db = db
        self._lock = threading.Lock()
        self._manifests: dict[tuple[str, str], int] = {}
        self._tags: dict[tuple[str, str], int] = {}

    def record(self, repository: str, digest: str, tag: str | None) -> None:
        """A manifest was pulled (by `tag`, or by digest when None)."""
        at = now()
        with self._lock:
            self._manifests[repository, digest] = at
            if tag is not None:
                self._tags[repository, tag] = at

    def many_pending(self) -> bool:
        return len(self._manifests) + len(self._tags) >= _MAX_PENDING

    def flush(self) -> int:
        """Write what was noted; returns how many times were written."""
        with self._lock:
            manifests, self._manifests = self._manifests, {}
            tags, self._tags = self._tags, {}
        if not manifests and not tags:
            return 0
        try:
            with self._db.write() as conn:
                pulls.record_pulls(
                    conn,
                    [(r, d, t) for (r, d), t in manifests.items()],
                    [(r, n, t) for (r, n), t in tags.items()],
                )
        except BaseException:
            with self._lock:  # put back what a newer pull has not superseded
                for key, at in manifests.items():
                    self._manifests.setdefault(key, at)
                for key, at in tags.items():
                    self._tags.setdefault(key, at)
            raise
        return len(manifests) + len(tags)
