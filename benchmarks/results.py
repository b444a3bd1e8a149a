"""What a run measured: groups of rows, one cell per registry, plus the numbers targets need."""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["Cell", "Group", "Results", "fmt_mb", "fmt_ms", "fmt_rate"]


@dataclass(slots=True)
class Cell:
    """One registry's result for one row. `value` is the number targets compare (higher is
    better unless the row says otherwise); `extra` holds secondary numbers (p99, RSS…)."""

    text: str
    value: float | None = None
    extra: dict[str, float] = field(default_factory=dict)


@dataclass(slots=True)
class Group:
    title: str
    how: str
    rows: dict[str, dict[str, Cell]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


class Results:
    def __init__(self) -> None:
        self.groups: dict[str, Group] = {}
        self.machine_notes: list[str] = []

    def group(self, key: str, title: str, how: str) -> Group:
        if key not in self.groups:
            self.groups[key] = Group(title, how)
        return self.groups[key]

    def set(self, group: str, row: str, registry: str, cell: Cell) -> None:
        self.groups[group].rows.setdefault(row, {})[registry] = cell

    def get(self, group: str, row: str, registry: str) -> Cell | None:
        g = self.groups.get(group)
        return g.rows.get(row, {}).get(registry) if g else None

    def fail(self, group: str, rows: list[str], registry: str, error: str) -> None:
        """Mark every row of a group that has no cell yet for this registry as failed."""
        short = " ".join(error.split())[:160].replace("|", "/")
        for row in rows:
            cells = self.groups[group].rows.setdefault(row, {})
            cells.setdefault(registry, Cell(f"failed: {short}"))


def fmt_rate(value: float) -> str:
    return f"{value:,.0f}"


def fmt_mb(n_bytes: float) -> str:
    return f"{n_bytes / 1e6:,.0f} MB"


def fmt_ms(ms: float) -> str:
    if ms < 10:
        return f"{ms:.2f}"
    if ms < 100:
        return f"{ms:.1f}"
    return f"{ms:,.0f}"
