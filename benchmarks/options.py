"""Sizes, durations and counts of one run; `--quick` shrinks them all."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

__all__ = ["GROUPS", "Options"]

# Row groups, in the order they run against each registry. Listing goes first so the catalog
# holds exactly the seeded repositories when its pages are timed.
GROUPS = ("listing", "manifest", "bigblob", "zb")


@dataclass(frozen=True, slots=True)
class Options:
    workdir: Path
    quick: bool = False
    groups: tuple[str, ...] = GROUPS
    # monolithic big blob
    big_blob_bytes: int = 1 << 30
    big_push_runs: int = 2
    big_pull_runs: int = 3
    # zb-style mixes
    zb_concurrency: int = 10
    zb_requests: int = 100
    # small requests under load
    load_seconds: int = 8
    load_connections: int = 32
    # listings
    repositories: int = 10_000
    tags: int = 10_000
    page_requests: int = 200
    page_seconds: float = 3.0
    seed_workers: int = 32
    seed_limit_s: float = 900.0
    dockyard_workers: int | None = None

    @classmethod
    def make(cls, workdir: Path, quick: bool, **overrides: object) -> Options:
        if quick:
            base: dict[str, object] = {
                "big_blob_bytes": 256 << 20,
                "big_push_runs": 1,
                "big_pull_runs": 2,
                "zb_requests": 20,
                "load_seconds": 3,
                "repositories": 1_000,
                "tags": 1_000,
                "page_requests": 50,
                "page_seconds": 2.0,
                "seed_limit_s": 300.0,
            }
        else:
            base = {}
        base.update({k: v for k, v in overrides.items() if v is not None})
        return cls(workdir=workdir, quick=quick, **base)  # type: ignore[arg-type]
