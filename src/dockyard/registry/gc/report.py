"""What a run found and did: its figures and items, and how it tells of its progress."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, fields

from dockyard.metadata.queries.gc_runs import RunItem

__all__ = ["Figures", "Item", "Progress", "RunItem"]

Item = RunItem


@dataclass(slots=True)
class Figures:
    """Counts of one run. `bytes_freed` counts only bytes the store confirmed it deleted
    (a dry run: the bytes the store holds for what would go); `kept_recent` the candidates
    kept because a client touched them within the in-flight window."""

    manifests_examined: int = 0
    manifests_removed: int = 0
    blobs_examined: int = 0
    blobs_removed: int = 0
    links_removed: int = 0
    kept_recent: int = 0
    uploads_removed: int = 0
    bytes_freed: int = 0
    upload_bytes_freed: int = 0
    # verification
    blobs_checked: int = 0
    orphan_files: int = 0
    missing_files: int = 0
    corrupt_files: int = 0

    def as_dict(self) -> dict[str, int]:
        return {key: value for key, value in asdict(self).items() if value or key in _ALWAYS}

    @classmethod
    def of(cls, values: dict[str, int]) -> Figures:
        known = {f.name for f in fields(cls)}
        return cls(**{k: int(v) for k, v in values.items() if k in known})


_ALWAYS = frozenset({"manifests_removed", "blobs_removed", "links_removed", "bytes_freed"})

# phase, figures so far, and the fraction of the phase done when known
Progress = Callable[[str, Figures, float | None], None]
