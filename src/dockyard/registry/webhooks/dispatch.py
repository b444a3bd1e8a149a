"""The dispatcher: each worker of each replica runs one (app.py's lifespan). It claims due
deliveries (metadata/queries/webhooks.claim_due: each is claimed by one dispatcher at a
time), sends them concurrently, and records each outcome under its claim.

Retries: after the n-th failed attempt the next one is due after
`min(retry_max, retry_base * 2**(n-1))` seconds, ±20 % jitter (so that the deliveries of a
receiver that was down do not all come back in one second); a delivery gives up (failed)
after `max_attempts` attempts or once its `retry_until` passed. A dispatcher that dies
mid-attempt leaves its claim to run out (`_LEASE`), after which another one retries: a
delivery is sent at least once, and exactly once unless a dispatcher dies between the
receiver's answer and the recording of it (receivers dedupe by the event ids).

Finished deliveries older than `keep_days` are pruned once an hour, by one dispatcher (the
`webhook-prune` job lease).
"""

from __future__ import annotations

import logging
import math
import os
import random
import secrets
import socket
import threading
import time

import anyio

from dockyard.config import WebhookSettings
from dockyard.metadata.db import Database
from dockyard.metadata.queries import leases
from dockyard.metadata.queries import webhooks as q
from dockyard.registry.webhooks.sender import Clients, Outcome, attempt
from dockyard.registry.webhooks.targets import networks

__all__ = ["Dispatcher", "next_delay"]

_BATCH = 32  # deliveries claimed at once
_CONCURRENCY = 8  # attempts in flight per worker
_PRUNE_LEASE = "webhook-prune"
_PRUNE_EVERY = 3600
_log = logging.getLogger("dockyard.webhooks")


def next_delay(settings: WebhookSettings, failures: int, jitter: float) -> float:
    """Seconds to wait after the `failures`-th failed attempt; `jitter` in [-1, 1]."""
    base: float = settings.retry_base_seconds * 2.0 ** min(failures - 1, 62)
    return min(settings.retry_max_seconds, base) * (1 + 0.2 * jitter)


class Dispatcher:
    def __init__(self, db: Database, settings: WebhookSettings) -> None:
        self._db = db
        self._settings = settings
        self._allowed = networks(settings.allowed_networks)
        self._holder = f"{socket.gethostname()}/{os.getpid()}/{secrets.token_hex(6)}"
        # an attempt takes at most about the timeout; the lease leaves room for a slow loop
        self._lease = math.ceil(settings.timeout_seconds * 3) + 30
        self._last_prune = 0.0

    async def run(self, stopping: threading.Event) -> None:
        """Until cancelled: claim, send, record; sleep `poll_seconds` when nothing is due."""
        clients = Clients(self._settings.timeout_seconds)
        try:
            while not stopping.is_set():
                try:
                    busy = await self.dispatch_once(clients)
                    await self._maybe_prune()
                except Exception:  # the next round retries; the server goes on
                    _log.exception("webhook dispatch failed")
                    busy = False
                if not busy:
                    await anyio.sleep(self._settings.poll_seconds)
        finally:
            with anyio.CancelScope(shield=True):
                await clients.aclose()

    async def dispatch_once(self, clients: Clients) -> bool:
        """One round; True when it claimed a full batch (more may be due at once)."""
        now = int(time.time())
        if not await anyio.to_thread.run_sync(self._due, now):
            return False
        claim = secrets.token_hex(16)
        claimed = await anyio.to_thread.run_sync(self._claim, now, claim)
        limiter = anyio.CapacityLimiter(_CONCURRENCY)

        async def one(delivery: q.Claimed) -> None:
            async with limiter:
                outcome = await attempt(clients, delivery, self._allowed, str(delivery.id))
            await anyio.to_thread.run_sync(self._record, delivery, outcome)

        async with anyio.create_task_group() as tasks:
            for delivery in claimed:
                tasks.start_soon(one, delivery)
        return len(claimed) == _BATCH

    def _due(self, now: int) -> bool:
        with self._db.read() as conn:
            return q.due_exists(conn, now)

    def _claim(self, now: int, claim: str) -> list[q.Claimed]:
        with self._db.write() as conn:
            return q.claim_due(conn, now, _BATCH, claim, self._lease)

    def _record(self, delivery: q.Claimed, outcome: Outcome) -> None:
        now = int(time.time())
        next_at: int | None = None
        if outcome.error is not None:
            failures = delivery.attempts + 1
            delay = next_delay(self._settings, failures, random.uniform(-1, 1))  # noqa: S311 - jitter
            next_at = now + math.ceil(delay)
            if failures >= self._settings.max_attempts or next_at > delivery.retry_until:
                next_at = None  # gives up
            _log.info(
                "webhook delivery failed",
                extra={"fields": {"delivery": delivery.id, "attempt": failures,
                                  "error": outcome.error, "gives_up": next_at is None}},
            )  # fmt: skip
        with self._db.write() as conn:
            q.record_outcome(
                conn, delivery.id, delivery.claim, now=now, http_status=outcome.http_status,
                error=outcome.error, next_attempt_at=next_at,
            )  # fmt: skip

    async def _maybe_prune(self) -> None:
        if time.monotonic() - self._last_prune < _PRUNE_EVERY:
            return
        self._last_prune = time.monotonic()
        await anyio.to_thread.run_sync(self.prune)

    def prune(self) -> int:
        """Drop finished deliveries past `keep_days` (one dispatcher an hour: the lease)."""
        now = int(time.time())
        with self._db.write() as conn:
            if not leases.acquire(conn, _PRUNE_LEASE, self._holder, now, _PRUNE_EVERY):
                return 0
        removed, before = 0, now - self._settings.keep_days * 86_400
        while True:
            with self._db.write() as conn:
                count = q.prune_finished(conn, before)
            removed += count
            if count == 0:
                return removed
