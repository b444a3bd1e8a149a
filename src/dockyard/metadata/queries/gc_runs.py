"""Garbage collection runs: their progress and figures, and what each removed."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, delete, func, insert, select, update

from dockyard.metadata.models import GcRun, GcRunItem, table_of

__all__ = [
    "RunItem",
    "RunRow",
    "add_items",
    "add_run",
    "finish_run",
    "get_run",
    "interrupt_stale",
    "list_items",
    "list_runs",
    "prune_runs",
    "running",
    "update_run",
]

_run = table_of(GcRun)
_item = table_of(GcRunItem)


@dataclass(frozen=True, slots=True)
class RunRow:
    id: int
    mode: str
    trigger: str
    actor: str | None
    grace_seconds: int
    status: str
    phase: str
    started_at: int
    heartbeat_at: int
    finished_at: int | None
    figures: dict[str, int]
    error: str | None


@dataclass(frozen=True, slots=True)
class RunItem:
    seq: int
    kind: str
    repository: str | None
    digest: str | None
    size: int
    note: str | None


_COLUMNS = (
    _run.c.id, _run.c.mode, _run.c.trigger, _run.c.actor, _run.c.grace_seconds, _run.c.status,
    _run.c.phase, _run.c.started_at, _run.c.heartbeat_at, _run.c.finished_at, _run.c.figures,
    _run.c.error,
)  # fmt: skip


def _row(values: Any) -> RunRow:
    (run_id, mode, trigger, actor, grace, status, phase, started, beat, finished, figures,
     error) = values  # fmt: skip
    return RunRow(
        int(run_id), mode, trigger, actor, int(grace), status, phase, int(started), int(beat),
        None if finished is None else int(finished), json.loads(figures), error,
    )  # fmt: skip


def add_run(
    conn: Connection, mode: str, trigger: str, actor: str | None, grace: int, now: int
) -> int:
    result = conn.execute(
        insert(_run)
        .values(
            mode=mode, trigger=trigger, actor=actor, grace_seconds=grace, status="running",
            phase="starting", started_at=now, heartbeat_at=now, figures="{}",
        )
        .returning(_run.c.id)
    )  # fmt: skip
    return int(result.scalar_one())


def update_run(
    conn: Connection, run_id: int, phase: str, figures: dict[str, int], now: int
) -> None:
    conn.execute(
        update(_run)
        .where(_run.c.id == run_id)
        .values(phase=phase, figures=json.dumps(figures), heartbeat_at=now)
    )


def finish_run(
    conn: Connection,
    run_id: int,
    status: str,
    figures: dict[str, int],
    now: int,
    error: str | None = None,
) -> None:
    conn.execute(
        update(_run)
        .where(_run.c.id == run_id)
        .values(
            status=status, phase="finished", figures=json.dumps(figures), heartbeat_at=now,
            finished_at=now, error=error,
        )
    )  # fmt: skip


def interrupt_stale(conn: Connection, before: int, now: int, mode: str | None = None) -> None:
    """Runs whose process stopped (no heartbeat since `before`; with `mode`, every running
    run of that mode) are marked interrupted."""
    stale = _run.c.heartbeat_at < before
    if mode is not None:
        stale = stale | (_run.c.mode == mode)
    conn.execute(
        update(_run)
        .where(_run.c.status == "running", stale)
        .values(status="interrupted", finished_at=now, error="the process running it stopped")
    )


def get_run(conn: Connection, run_id: int) -> RunRow | None:
    row = conn.execute(select(*_COLUMNS).where(_run.c.id == run_id)).first()
    return _row(row) if row else None


def running(conn: Connection, mode: str) -> RunRow | None:
    query = select(*_COLUMNS).where(_run.c.status == "running", _run.c.mode == mode)
    row = conn.execute(query.order_by(_run.c.id.desc()).limit(1)).first()
    return _row(row) if row else None


def list_runs(conn: Connection, limit: int) -> list[RunRow]:
    query = select(*_COLUMNS).order_by(_run.c.id.desc()).limit(limit)
    return [_row(row) for row in conn.execute(query)]


def add_items(conn: Connection, run_id: int, first_seq: int, items: list[RunItem]) -> None:
    if items:
        conn.execute(
            insert(_item),
            [
                {
                    "run_id": run_id, "seq": first_seq + n, "kind": item.kind,
                    "repository": item.repository, "digest": item.digest, "size": item.size,
                    "note": item.note,
                }
                for n, item in enumerate(items)
            ],
        )  # fmt: skip


def list_items(
    conn: Connection, run_id: int, after: int, limit: int, kind: str | None = None
) -> list[RunItem]:
    query = select(
        _item.c.seq, _item.c.kind, _item.c.repository, _item.c.digest, _item.c.size,
        _item.c.note,
    ).where(_item.c.run_id == run_id, _item.c.seq > after)  # fmt: skip
    if kind is not None:
        query = query.where(_item.c.kind == kind)
    return [RunItem(*row) for row in conn.execute(query.order_by(_item.c.seq).limit(limit))]


def count_items(conn: Connection, run_id: int) -> int:
    query = select(func.count()).select_from(_item).where(_item.c.run_id == run_id)
    return int(conn.execute(query).scalar_one())


def prune_runs(conn: Connection, keep: int) -> None:
    """Keep the newest `keep` runs (their items cascade)."""
    newest = select(_run.c.id).order_by(_run.c.id.desc()).limit(keep).scalar_subquery()
    conn.execute(delete(_item).where(_item.c.run_id.not_in(newest)))
    conn.execute(delete(_run).where(_run.c.id.not_in(newest), _run.c.status != "running"))
