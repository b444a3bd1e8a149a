"""Request logs (one JSON line each, never a credential) and Prometheus metrics.

prometheus-client picks its multi-process mode when first imported: import this module only
in worker processes, after `dockyard serve` has set PROMETHEUS_MULTIPROC_DIR.
"""

from __future__ import annotations

import logging
import os
import time
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from dockyard.distribution.paths import ROUTE_KEY

__all__ = ["RequestObserver", "metrics_endpoint", "observe_gc_run", "observe_read_only"]

REQUESTS = Counter(
    "dockyard_http_requests_total", "HTTP requests answered", ["method", "route", "status"]
)
LATENCY = Histogram(
    "dockyard_http_request_duration_seconds",
    "Time to answer an HTTP request (to the last byte sent)",
    ["method", "route"],
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 5, 30, 120),
)
GC_RUNS = Counter("dockyard_gc_runs_total", "Garbage collection runs finished", ["mode", "status"])
GC_DURATION = Histogram(
    "dockyard_gc_run_duration_seconds",
    "How long a garbage collection run took",
    ["mode"],
    buckets=(0.1, 0.5, 1, 5, 15, 60, 300, 900, 3600),
)
GC_EXAMINED = Counter(
    "dockyard_gc_examined_total", "Candidates garbage collection examined", ["kind"]
)
GC_REMOVED = Counter("dockyard_gc_removed_total", "What garbage collection removed", ["kind"])
GC_FREED = Counter(
    "dockyard_gc_freed_bytes_total", "Bytes garbage collection freed (the store confirmed)"
)
# Set by each worker when scraped; "max": 1 as soon as any worker has seen the mode on.
READ_ONLY = Gauge(
    "dockyard_read_only",
    "1 while the registry is in read-only maintenance mode (pushes and deletes refused)",
    multiprocess_mode="max",
)
_log = logging.getLogger("dockyard.access")


def observe_read_only(read_only: bool) -> None:
    READ_ONLY.set(1 if read_only else 0)


def observe_gc_run(outcome: str, figures: dict[str, int], seconds: float) -> None:
    """ManageContext.gc_observer: `outcome` is "<mode>:<status>"."""
    mode, _, status = outcome.partition(":")
    GC_RUNS.labels(mode, status).inc()
    GC_DURATION.labels(mode).observe(seconds)
    if mode != "collect":
        return  # a dry run or a verification removes nothing
    for kind in ("manifests", "blobs"):
        GC_EXAMINED.labels(kind).inc(figures.get(f"{kind}_examined", 0))
    for kind in ("manifests", "blobs", "links", "uploads"):
        GC_REMOVED.labels(kind).inc(figures.get(f"{kind}_removed", 0))
    GC_FREED.inc(figures.get("bytes_freed", 0) + figures.get("upload_bytes_freed", 0))


_NAMED_PATHS = {"/auth/token": "auth_token", "/healthz": "healthz", "/readyz": "readyz",
                "/metrics": "metrics"}  # fmt: skip


def _route_label(scope: Scope) -> str:
    """A bounded label: never a repository name (pitfalls §29)."""
    route = scope.get(ROUTE_KEY)
    if isinstance(route, str):
        return route
    return _NAMED_PATHS.get(scope["path"], "other")


class _Instruments:
    """Labelled children cached: `labels()` takes a lock and hashes on every call."""

    def __init__(self) -> None:
        self._counters: dict[tuple[str, str, int], Any] = {}
        self._histograms: dict[tuple[str, str], Any] = {}

    def record(self, method: str, route: str, status: int, elapsed: float) -> None:
        counter = self._counters.get((method, route, status))
        if counter is None:
            counter = REQUESTS.labels(method, route, str(status))
            self._counters[(method, route, status)] = counter
        counter.inc()
        histogram = self._histograms.get((method, route))
        if histogram is None:
            histogram = LATENCY.labels(method, route)
            self._histograms[(method, route)] = histogram
        histogram.observe(elapsed)


class RequestObserver:
    """ASGI middleware: times every request, counts it, logs it."""

    def __init__(self, app: ASGIApp, access_log: bool) -> None:
        self.app = app
        self.access_log = access_log
        self._instruments = _Instruments()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500
        sent = 0

        async def observe(message: Message) -> None:
            nonlocal status, sent
            if message["type"] == "http.response.start":
                status = message["status"]
            elif message["type"] == "http.response.body":
                sent += len(message.get("body", b""))
            await send(message)

        try:
            await self.app(scope, receive, observe)
        finally:
            elapsed = time.perf_counter() - started
            method, path = scope["method"], scope["path"]
            self._instruments.record(method, _route_label(scope), status, elapsed)
            if self.access_log:
                client = scope.get("client")
                _log.info(
                    "request",
                    extra={
                        "fields": {
                            "method": method,
                            "path": path,
                            "status": status,
                            "ms": round(elapsed * 1000, 2),
                            "bytes_out": sent,
                            "client": client[0] if client else None,
                            "ua": _header(scope, b"user-agent"),
                        }
                    },
                )


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", []):
        if key == name:
            return str(value.decode("latin-1"))
    return None


async def metrics_endpoint(request: Request) -> Response:
    if "PROMETHEUS_MULTIPROC_DIR" in os.environ:
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        data = generate_latest(registry)
    else:
        data = generate_latest()
    return Response(data, media_type=CONTENT_TYPE_LATEST)
