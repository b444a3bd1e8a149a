"""Starting and following garbage collection runs: on demand (the admin API, hence the CLI
and the console: registry admins only), on the server's schedule, each as a `gc_run` row
whose progress everyone can read.

A real run holds the `gc` job lease, so one worker or replica collects at a time (two would
be safe, by the rules in collect, but would only get in each other's way); a dry run and a
verification only read and need no lease. A run ends done, failed, or interrupted (its
process stopped: the next run carries on from the queues).
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from sqlalchemy import Connection

from dockyard.auth.errors import Conflict, Forbidden, InvalidRequest, NotFound, ReadOnly
from dockyard.auth.manage.context import ManageContext
from dockyard.auth.permissions import is_registry_admin
from dockyard.auth.principals import Principal
from dockyard.metadata.queries import audit, gc_queue, gc_runs, leases
from dockyard.metadata.queries.gc_runs import RunItem, RunRow
from dockyard.registry.gc.collect import collect
from dockyard.registry.gc.dry_run import dry_run
from dockyard.registry.gc.report import Figures, Progress
from dockyard.registry.gc.rules import Cutoffs
from dockyard.registry.gc.sink import LEASE, LEASE_SECONDS, RunSink, Stopped
from dockyard.registry.gc.verify import verify

__all__ = [
    "GcMode",
    "RunItem",
    "RunRow",
    "Trigger",
    "get_run",
    "list_runs",
    "queue_sizes",
    "run",
    "run_items",
    "run_scheduled",
    "start",
]

_log = logging.getLogger("dockyard.gc")
_STALE_SECONDS = 120  # a running run whose heartbeat is older than this has died
_RUNS_KEPT = 50
_HOST = socket.gethostname()
_holding: set[str] = set()  # the leases runs of this process hold right now


class GcMode(StrEnum):
    COLLECT = "collect"
    """Remove what is unreachable and old enough."""
    DRY_RUN = "dry-run"
    """Report exactly what a collection would remove; change nothing."""
    VERIFY = "verify"
    """Walk the store beside the database and report what disagrees."""


class Trigger(StrEnum):
    SCHEDULE = "schedule"
    API = "api"


@dataclass(frozen=True, slots=True)
class _Opened:
    run_id: int
    holder: str | None


def _require_admin(ctx: ManageContext, caller: Principal) -> None:
    if not is_registry_admin(ctx.snapshot(), caller):
        raise Forbidden("garbage collection is for registry admins")


def _open(
    ctx: ManageContext, mode: GcMode, trigger: str, actor: str | None, grace: int
) -> _Opened | None:
    """The run's row (and for a collection, the lease); None when another collection holds
    the lease and `trigger` is the schedule; Conflict when it is a person asking."""
    now = ctx.now()
    holder = None
    if mode is GcMode.COLLECT:
        holder = f"{_HOST}/{os.getpid()}/{trigger}-{uuid.uuid4().hex[:12]}"
    with ctx.db.write() as conn:
        gc_runs.interrupt_stale(conn, now - _STALE_SECONDS, now)
        if holder is not None:
            if not _take_lease(conn, holder, now):
                current = gc_runs.running(conn, GcMode.COLLECT)
                if trigger == Trigger.SCHEDULE:
                    return None
                which = f" (run {current.id}, started by {current.trigger})" if current else ""
                raise Conflict(f"a garbage collection is running already{which}")
            # We hold the lease: a collection still marked running lost it with its process.
            gc_runs.interrupt_stale(conn, now - _STALE_SECONDS, now, GcMode.COLLECT)
            _holding.add(holder)
        run_id = gc_runs.add_run(conn, mode, trigger, actor, grace, now)
        gc_runs.prune_runs(conn, _RUNS_KEPT)
    return _Opened(run_id, holder)


def _take_lease(conn: Connection, holder: str, now: int) -> bool:
    """The lease if it is free or ran out, or if its holder was a process of this machine
    that is gone (a server killed and restarted need not wait for the lease to run out)."""
    if leases.acquire(conn, LEASE, holder, now, LEASE_SECONDS):
        return True
    current = leases.holder_of(conn, LEASE)
    if current is None or not _died_here(current):
        return False
    return leases.take_over(conn, LEASE, current, holder, now, LEASE_SECONDS)


def _died_here(holder: str) -> bool:
    host, _, rest = holder.partition("/")
    pid_text, _, _ = rest.partition("/")
    if host != _HOST or not pid_text.isdigit():
        return False
    pid = int(pid_text)
    if pid == os.getpid():  # ours: dead unless a run of ours holds it (a container's pid 1)
        return holder not in _holding
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:  # alive, another user's
        return False
    return _zombie(pid)


def _zombie(pid: int) -> bool:
    """Killed but not reaped (its parent died too, and no init reaps it here)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rpartition(")")[2].split()[:1] == ["Z"]


def _execute(
    ctx: ManageContext,
    opened: _Opened,
    mode: GcMode,
    grace: int,
    actor: str | None,
    progress: Progress | None,
    stop: threading.Event | None,
) -> None:
    store = ctx.store
    if store is None:
        raise RuntimeError("garbage collection needs the blob store")
    started = time.monotonic()
    sink = RunSink(ctx.db, opened.run_id, holder=opened.holder, progress=progress, stop=stop)
    cut = Cutoffs.at(ctx.now(), grace, ctx.gc, ctx.undo_seconds)
    figures = Figures()
    status, error = "done", None
    try:
        match mode:
            case GcMode.COLLECT:
                figures = collect(ctx.db, store, cut, sink)
            case GcMode.DRY_RUN:
                figures = dry_run(ctx.db, store, cut, sink)
            case GcMode.VERIFY:
                figures = verify(ctx.db, store, sink)
    except Stopped as stopped:
        status, error = "interrupted", str(stopped)
    except Exception as exc:  # recorded on the run and logged; the next run starts afresh
        _log.exception("garbage collection failed", extra={"fields": {"run": opened.run_id}})
        status, error = "failed", f"{type(exc).__name__}: {exc}"
    finally:
        now = ctx.now()
        with ctx.db.write() as conn:
            gc_runs.finish_run(conn, opened.run_id, status, figures.as_dict(), now, error)
            if opened.holder is not None:
                leases.release(conn, LEASE, opened.holder)
                _holding.discard(opened.holder)
            audit.record(
                conn, at=now, actor=actor, action=f"gc.{mode}", target=f"gc:{opened.run_id}",
                address=None, detail={"status": status, "grace_seconds": grace,
                                      **figures.as_dict()},
            )  # fmt: skip
        if ctx.gc_observer is not None:
            ctx.gc_observer(f"{mode}:{status}", figures.as_dict(), time.monotonic() - started)
    _log.info(
        "garbage collection finished",
        extra={"fields": {"run": opened.run_id, "mode": str(mode), "status": status,
                          **figures.as_dict()}},
    )  # fmt: skip


def _grace(ctx: ManageContext, grace: int | None) -> int:
    if grace is None:
        return ctx.gc.grace_seconds
    if grace < 0:
        raise InvalidRequest("the grace period cannot be negative")
    return grace


def start(ctx: ManageContext, caller: Principal, mode: GcMode, grace: int | None = None) -> RunRow:
    """Start a run in the background and return its row at once (follow it with
    `get_run`). Conflict while another collection runs."""
    _require_admin(ctx, caller)
    if mode != GcMode.DRY_RUN:  # collect and verify remove things; a dry run only reports
        ctx.refuse_if_read_only()
    seconds = _grace(ctx, grace)
    opened = _open(ctx, mode, Trigger.API, caller.name, seconds)
    if opened is None:  # pragma: no cover - only the schedule gets None
        raise Conflict("a garbage collection is running already")
    threading.Thread(
        target=_execute,
        args=(ctx, opened, mode, seconds, caller.name, None, None),
        name=f"dockyard-gc-{opened.run_id}",
        daemon=True,
    ).start()
    return _row(ctx, opened.run_id)


def run(
    ctx: ManageContext,
    mode: GcMode,
    *,
    grace: int | None = None,
    actor: str | None = None,
    progress: Progress | None = None,
) -> RunRow:
    """Run to the end in this thread (tests, benchmarks)."""
    if mode != GcMode.DRY_RUN:
        ctx.refuse_if_read_only()
    seconds = _grace(ctx, grace)
    opened = _open(ctx, mode, Trigger.API, actor, seconds)
    if opened is None:  # pragma: no cover - only the schedule gets None
        raise Conflict("a garbage collection is running already")
    _execute(ctx, opened, mode, seconds, actor, progress, None)
    return _row(ctx, opened.run_id)


def run_scheduled(ctx: ManageContext, stop: threading.Event) -> RunRow | None:
    """The server's periodic collection: skipped while another one holds the lease, or when
    one (from any worker or replica) started within the interval."""
    interval = ctx.gc.interval_seconds
    try:
        ctx.refuse_if_read_only()
    except ReadOnly as refused:
        _log.info(
            "scheduled garbage collection skipped", extra={"fields": {"reason": refused.message}}
        )
        return None
    with ctx.db.read() as conn:
        recent = [r for r in gc_runs.list_runs(conn, 10) if r.mode == GcMode.COLLECT]
    if recent and recent[0].started_at > ctx.now() - interval + 5:
        return None
    opened = _open(ctx, GcMode.COLLECT, Trigger.SCHEDULE, None, ctx.gc.grace_seconds)
    if opened is None:
        return None
    _execute(ctx, opened, GcMode.COLLECT, ctx.gc.grace_seconds, None, None, stop)
    return _row(ctx, opened.run_id)


def _row(ctx: ManageContext, run_id: int) -> RunRow:
    with ctx.db.read() as conn:
        row = gc_runs.get_run(conn, run_id)
    if row is None:
        raise NotFound(f"garbage collection run {run_id} not found")
    return row


def get_run(ctx: ManageContext, caller: Principal, run_id: int) -> RunRow:
    _require_admin(ctx, caller)
    return _row(ctx, run_id)


def list_runs(ctx: ManageContext, caller: Principal, limit: int = 20) -> list[RunRow]:
    _require_admin(ctx, caller)
    with ctx.db.read() as conn:
        return gc_runs.list_runs(conn, min(max(limit, 1), _RUNS_KEPT))


def run_items(
    ctx: ManageContext,
    caller: Principal,
    run_id: int,
    *,
    after: int = 0,
    limit: int = 1000,
    kind: str | None = None,
) -> list[RunItem]:
    """What the run removed (or would remove, or found wrong), in order, after `after`."""
    _require_admin(ctx, caller)
    _row(ctx, run_id)
    with ctx.db.read() as conn:
        return gc_runs.list_items(conn, run_id, after, min(max(limit, 1), 10_000), kind)


def queue_sizes(ctx: ManageContext, caller: Principal) -> tuple[int, int]:
    """Manifests and blobs waiting for review (some of them wait for their grace)."""
    _require_admin(ctx, caller)
    with ctx.db.read() as conn:
        return gc_queue.sizes(conn)
