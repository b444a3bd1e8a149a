"""Garbage collection: online, incremental, safe while people push (DESIGN "Cleanup",
docs/design.md). `runs` starts and follows runs; `rules` says what goes; `collect` is the
real run, `dry_run` the one that changes nothing, `verify` the store-against-database check.
"""

from dockyard.registry.gc.report import Figures
from dockyard.registry.gc.runs import (
    GcMode,
    RunItem,
    RunRow,
    get_run,
    list_runs,
    queue_sizes,
    run,
    run_items,
    run_scheduled,
    start,
)

__all__ = [
    "Figures",
    "GcMode",
    "RunItem",
    "RunRow",
    "get_run",
    "list_runs",
    "queue_sizes",
    "run",
    "run_items",
    "run_scheduled",
    "start",
]
