"""Where a run reports to: its row in `gc_run` (progress, heartbeat), its items, the
caller's progress callback; and where it learns that it must stop."""

from __future__ import annotations

import threading
import time

from sqlalchemy import Connection

from dockyard.metadata.db import Database
from dockyard.metadata.queries import gc_runs, leases
from dockyard.registry.gc.report import Figures, Item, Progress

__all__ = ["LEASE", "LEASE_SECONDS", "RunSink", "Stopped"]

LEASE = "gc"
LEASE_SECONDS = 60
_BEAT_SECONDS = 1.0


class Stopped(Exception):
    """The run was asked to stop (the server is shutting down) or lost its lease."""


class RunSink:
    def __init__(
        self,
        db: Database,
        run_id: int,
        *,
        holder: str | None = None,
        progress: Progress | None = None,
        stop: threading.Event | None = None,
    ) -> None:
        self._db = db
        self.run_id = run_id
        self._holder = holder  # the lease this run holds, if any
        self._progress = progress
        self._stop = stop
        self._seq = 0
        self._last_beat = 0.0

    def items(self, conn: Connection | None, items: list[Item]) -> None:
        """Record items, in `conn`'s transaction (so they name exactly what it commits)."""
        if not items:
            return
        if conn is None:
            with self._db.write() as own:
                self.items(own, items)
            return
        gc_runs.add_items(conn, self.run_id, self._seq + 1, items)
        self._seq += len(items)

    def beat(self, phase: str, figures: Figures, fraction: float | None = None) -> None:
        """Between batches: stop if asked to; about once a second, record progress and
        renew the lease."""
        if self._stop is not None and self._stop.is_set():
            raise Stopped("the server is stopping")
        if self._progress is not None:
            self._progress(phase, figures, fraction)
        moment = time.monotonic()
        if moment - self._last_beat < _BEAT_SECONDS:
            return
        self._last_beat = moment
        now = int(time.time())
        with self._db.write() as conn:
            gc_runs.update_run(conn, self.run_id, phase, figures.as_dict(), now)
            if self._holder is not None and not leases.renew(
                conn, LEASE, self._holder, now, LEASE_SECONDS
            ):
                raise Stopped("lost the garbage collection lease")
