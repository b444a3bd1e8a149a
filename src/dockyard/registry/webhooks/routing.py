"""The worker's cache of enabled webhook endpoints, read by the outbox in every write
transaction that records an action (metadata/outbox.py): no query on the push path while
nothing changed.

Invalidation (pitfalls §19: a generation, not a timer): every change to an endpoint bumps
the access generation in its transaction, and the cache is keyed by the access generation
of the snapshot this worker holds (`AccessCache.latest()`, no query). Every action that
records an event first refreshes that snapshot for its permission check (a client's push
through `AccessControl.require`, a management change through `ManageContext.snapshot()`),
so an event reaches every endpoint whose change committed before the action's request was
checked; an endpoint saved while a request is already under way may miss that one event.
A reload reads the endpoints in the recording transaction itself, which sees at least the
generation the snapshot had.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence

from sqlalchemy import Connection

from dockyard.auth.snapshot import AccessCache
from dockyard.metadata.outbox import Origin, Route, load_routes

__all__ = ["EndpointRoutes"]


class EndpointRoutes:
    """`metadata.outbox.Routes` for one worker (attached to its writer engine)."""

    def __init__(self, access: AccessCache, origin: Origin, retry_seconds: int) -> None:
        self._access = access
        self.origin = origin
        self.retry_seconds = retry_seconds
        self._lock = threading.Lock()
        self._cached: tuple[int, list[Route]] | None = None

    def endpoints(self, conn: Connection) -> Sequence[Route]:
        generation = self._access.latest().generation
        cached = self._cached
        if cached is not None and generation >= 0 and cached[0] == generation:
            return cached[1]
        routes = load_routes(conn)
        with self._lock:
            self._cached = (generation, routes)
        return routes
