"""Where the CPU went during one measurement: each component's process tree, the load
generator, and the machine as a whole (so what nobody here accounts for shows too)."""

from __future__ import annotations

import os
import resource
import time
from dataclasses import dataclass, field
from types import TracebackType

from benchmarks.procs import tree_cpu_seconds

__all__ = ["KERNEL", "LOAD_GENERATOR", "OTHER", "CpuSplit", "CpuWatch"]

LOAD_GENERATOR = "load generator + harness"
KERNEL = "kernel threads (softirq, writeback…)"
OTHER = "everything else on the machine"
_KTHREADD = 2  # parent of every kernel thread


def _machine_busy_seconds() -> float:
    """CPU seconds all CPUs spent on anything but idle and I/O wait, since boot."""
    with open("/proc/stat") as f:
        fields = [int(x) for x in f.readline().split()[1:]]
    # user nice system idle iowait irq softirq steal (guest time is inside user already)
    busy = sum(fields[:8]) - fields[3] - fields[4]
    return busy / os.sysconf("SC_CLK_TCK")


def _own_cpu_seconds() -> float:
    """This process and its finished children (wrk runs as one, waited for)."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


@dataclass(slots=True)
class CpuSplit:
    """Cores used on average (CPU seconds / wall seconds) by each component, of `cores`."""

    wall_s: float
    cores: int
    by_component: dict[str, float] = field(default_factory=dict)
    machine: float = 0.0

    def text(self) -> str:
        parts = [f"{name} {used:.2f}" for name, used in self.by_component.items()]
        return (
            f"{', '.join(parts)}; machine busy {self.machine:.2f} of {self.cores} cores"
            f" ({self.machine / self.cores:.0%})"
        )


class CpuWatch:
    """Around a measurement: `with CpuWatch({"nginx": pid, …}) as watch: …`, then
    `watch.split`. A component is a process tree (its workers included); the load generator
    is this process and whatever its children used (wrk is run and waited for inside);
    kernel threads are added as one component."""

    def __init__(self, components: dict[str, int]) -> None:
        self._components = components
        self._before: dict[str, float] = {}
        self._own = self._machine = self._t0 = 0.0
        self.split = CpuSplit(0.0, os.cpu_count() or 1)

    def __enter__(self) -> CpuWatch:
        self._components = {**self._components, KERNEL: _KTHREADD}
        self._before = {
            name: tree_cpu_seconds(pid, reaped=True) for name, pid in self._components.items()
        }
        self._own = _own_cpu_seconds()
        self._machine = _machine_busy_seconds()
        self._t0 = time.monotonic()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        wall = time.monotonic() - self._t0
        split = CpuSplit(wall, os.cpu_count() or 1)
        for name, pid in self._components.items():
            split.by_component[name] = (
                tree_cpu_seconds(pid, reaped=True) - self._before[name]
            ) / wall
        split.by_component[LOAD_GENERATOR] = (_own_cpu_seconds() - self._own) / wall
        split.machine = (_machine_busy_seconds() - self._machine) / wall
        split.by_component[OTHER] = max(0.0, split.machine - sum(split.by_component.values()))
        self.split = split
