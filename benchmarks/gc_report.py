"""What the GC benchmark measured, and its markdown: docs/benchmarks-gc.md, plus a short
section in docs/benchmarks.md (which `benchmarks.run` carries over)."""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
from dataclasses import dataclass, field
from pathlib import Path

from benchmarks.gc_content import Totals
from benchmarks.report import GC_HEADING, section, with_section

__all__ = [
    "DistributionResult",
    "DockyardResult",
    "GcRun",
    "SizeResult",
    "reading_section",
    "render",
    "update_summary",
]

READING_HEADING = "## Reading the numbers"
_FLAT = 1.10  # "flat": the largest size's GC peak within 10% of the smallest size's
_KEEP_RATE = 0.8  # the issue: pushes and pulls keep at least 80% of their rate during GC


@dataclass(slots=True)
class GcRun:
    seconds: float
    server_seconds: int
    figures: dict[str, int]
    push_rate: float
    pull_rate: float
    peak_rss: int


@dataclass(slots=True)
class _Common:
    version: str = ""
    seed_s: float = 0.0
    delete_s: float = 0.0
    blobs_before: int = 0
    blobs_after: int = 0
    blob_disk_before: int = 0
    blob_disk_after: int = 0
    disk_before: int = 0
    disk_after: int = 0
    garbage_disk: int = 0
    expected_garbage: int = 0
    garbage_left: int = 0
    kept_missing: int = 0


@dataclass(slots=True)
class DistributionResult(_Common):
    returncode: int = 0
    gc_s: float = 0.0
    gc_peak_rss: int = 0


@dataclass(slots=True)
class DockyardResult(_Common):
    idle_rss: int = 0
    baseline_push: float = 0.0
    baseline_pull: float = 0.0
    baseline_peak_rss: int = 0
    run: GcRun | None = None
    review: GcRun | None = None
    review_queued: int = 0
    push_errors: int = 0
    pull_errors: int = 0
    first_error: str = ""
    load_disk: int = 0
    load_blobs: int = 0


@dataclass(slots=True)
class SizeResult:
    size: str
    totals: Totals
    dockyard: DockyardResult | None = None
    distributions: dict[str, DistributionResult] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)
    failed: dict[str, str] = field(default_factory=dict)


def _mb(n: int) -> str:
    return f"{n / 1e6:,.1f} MB"


def _s(seconds: float) -> str:
    return f"{seconds:,.2f} s" if seconds < 10 else f"{seconds:,.1f} s"


def _ratio(during: float, before: float) -> str:
    if before <= 0:
        return "-"
    return f"{during:,.1f} of {before:,.1f}/s ({during / before:.0%})"


def _size_title(r: SizeResult) -> str:
    t = r.totals
    return (
        f"{r.size}: {t.repositories:,} repositories, {t.images:,} images, {t.blobs:,} blobs; "
        f"{t.deleted_images:,} images deleted leave {t.garbage_blobs:,} blobs "
        f"({t.garbage_blobs / t.blobs:.0%}) unreferenced"
    )


def _rows(r: SizeResult) -> tuple[list[str], list[list[str]]]:
    """Column titles and rows (first cell the row's title) for one size."""
    titles = ["Dockyard: online, under load"] + [f"{name}: offline" for name in r.distributions]
    d = r.dockyard
    dists = list(r.distributions.values())
    rows: list[list[str]] = []

    def row(title: str, mine: str, theirs: list[str]) -> None:
        rows.append([title, mine if d else "-", *theirs])

    run = d.run if d else None
    row("seed (written into storage)", _s(d.seed_s) if d else "",
        [_s(x.seed_s) for x in dists])  # fmt: skip
    row("delete the images (`DELETE /v2/…/manifests/<digest>`, 8 clients)",
        _s(d.delete_s) if d else "", [_s(x.delete_s) for x in dists])  # fmt: skip
    row("**GC wall time**", f"**{_s(run.seconds)}**" if run else "failed",
        [f"**{_s(x.gc_s)}**" + ("" if x.returncode == 0 else f" (exit {x.returncode})")
         for x in dists])  # fmt: skip
    row("blob files before → after",
        f"{d.blobs_before:,} → {d.blobs_after:,}" if d else "",
        [f"{x.blobs_before:,} → {x.blobs_after:,}" for x in dists])  # fmt: skip
    if run:
        f = run.figures
        mine = (
            f"{f.get('blobs_removed', 0):,} blobs, {f.get('links_removed', 0):,} links "
            f"({f.get('blobs_examined', 0):,} blobs examined, "
            f"{f.get('kept_recent', 0):,} kept as recent); {_mb(f.get('bytes_freed', 0))}"
        )
    else:
        mine = ""
    row("removed, as the run reports it", mine, ["-" for _ in dists])
    row("unreferenced blobs left / referenced blobs lost",
        f"{d.garbage_left:,} of {d.expected_garbage:,} / {d.kept_missing:,}" if d else "",
        [f"{x.garbage_left:,} of {x.expected_garbage:,} / {x.kept_missing:,}"
         for x in dists])  # fmt: skip
    row("disk used by blob files before → after (du)",
        f"{_mb(d.blob_disk_before)} → {_mb(d.blob_disk_after)}" if d else "",
        [f"{_mb(x.blob_disk_before)} → {_mb(x.blob_disk_after)}" for x in dists])  # fmt: skip
    if d:
        freed = d.blob_disk_before - d.blob_disk_after + d.load_disk
        mine = (f"{_mb(freed)} (incl. {_mb(d.load_disk)} the load's {d.load_blobs:,} blobs "
                f"added) vs {_mb(d.garbage_disk)}")  # fmt: skip
    row("blob disk freed vs disk the unreferenced blobs used", mine if d else "",
        [f"{_mb(x.blob_disk_before - x.blob_disk_after)} vs {_mb(x.garbage_disk)}"
         for x in dists])  # fmt: skip
    row("whole data directory before → after (du)",
        f"{_mb(d.disk_before)} → {_mb(d.disk_after)}" if d else "",
        [f"{_mb(x.disk_before)} → {_mb(x.disk_after)}" for x in dists])  # fmt: skip
    row("peak RSS while collecting (server tree / the `garbage-collect` process)",
        f"{_mb(run.peak_rss)} (idle {_mb(d.idle_rss)}, under load before GC "
        f"{_mb(d.baseline_peak_rss)})" if run and d else "",
        [_mb(x.gc_peak_rss) for x in dists])  # fmt: skip
    row(
        "image pushes/s during GC of the rate before",
        _ratio(run.push_rate, d.baseline_push) if run and d else "",
        ["-" for _ in dists],
    )
    row(
        "image pulls/s during GC of the rate before",
        _ratio(run.pull_rate, d.baseline_pull) if run and d else "",
        ["-" for _ in dists],
    )
    rv = d.review if d else None
    if rv and d:
        f = rv.figures
        row(f"full review: every remaining blob queued ({d.review_queued:,}), wall time",
            f"{_s(rv.seconds)}: {f.get('blobs_examined', 0):,} examined, "
            f"{f.get('blobs_removed', 0):,} removed; peak RSS {_mb(rv.peak_rss)}",
            ["-" for _ in dists])  # fmt: skip
        row("… pushes/s and pulls/s during it", f"{_ratio(rv.push_rate, d.baseline_push)}; "
            f"{_ratio(rv.pull_rate, d.baseline_pull)}", ["-" for _ in dists])  # fmt: skip
    if d:
        errors = f"{d.push_errors:,} push, {d.pull_errors:,} pull"
        row("load errors", errors + (f" (first: {d.first_error})" if d.first_error else ""),
            ["-" for _ in dists])  # fmt: skip
    return titles, rows


def _targets(results: list[SizeResult]) -> list[str]:
    lines = ["| target | size | Dockyard | reference | met? |", "|---|---|---|---|---|"]

    def verdict(ok: bool) -> str:
        return "met" if ok else "**not met**"

    for r in results:
        d, dist = r.dockyard, r.distributions.get("distribution 2.8 (Debian)")
        if d is None or d.run is None:
            continue
        run = d.run
        if dist is not None:
            lines.append(
                f"| online GC under load ≤ distribution 2.8.2's offline `garbage-collect` "
                f"| {r.size} | {_s(run.seconds)} | {_s(dist.gc_s)} "
                f"| {verdict(run.seconds <= dist.gc_s)} |"
            )
        for what, during, before in (
            ("pushes", run.push_rate, d.baseline_push),
            ("pulls", run.pull_rate, d.baseline_pull),
        ):
            share = during / before if before else 0.0
            lines.append(
                f"| {what} during GC ≥ 80% of their rate without | {r.size} "
                f"| {during:,.1f}/s ({share:.0%}) | {before:,.1f}/s without GC "
                f"| {verdict(share >= _KEEP_RATE)} |"
            )
        lines.append(
            f"| nothing referenced lost, everything unreferenced gone | {r.size} "
            f"| {d.kept_missing:,} lost, {d.garbage_left:,} left | - "
            f"| {verdict(d.kept_missing == 0 and d.garbage_left == 0)} |"
        )
    sized = [r for r in results if r.dockyard and r.dockyard.run]
    if len(sized) >= 2:
        small, large = sized[0], sized[-1]
        a = small.dockyard.run.peak_rss if small.dockyard and small.dockyard.run else 0
        b = large.dockyard.run.peak_rss if large.dockyard and large.dockyard.run else 0
        growth = large.totals.blobs / small.totals.blobs
        lines.append(
            f"| memory flat in the number of blobs (GC peak RSS within 10% over "
            f"{growth:.0f} times the blobs) | {small.size} → {large.size} | {_mb(a)} → {_mb(b)} "
            f"| - | {verdict(b <= a * _FLAT)} |"
        )
    return lines


def _memory(results: list[SizeResult]) -> list[str]:
    names = sorted({name for r in results for name in r.distributions})
    lines = [
        "| size | blobs | Dockyard idle | Dockyard under load, no GC | Dockyard during GC | "
        "Dockyard during full review | "
        + " | ".join(f"{n} `garbage-collect`" for n in names) + " |",
        "|---|---|---|---|---|---|" + "---|" * len(names),
    ]  # fmt: skip
    for r in results:
        d = r.dockyard
        cells = [r.size, f"{r.totals.blobs:,}"]
        if d and d.run:
            review = _mb(d.review.peak_rss) if d.review else "-"
            cells += [_mb(d.idle_rss), _mb(d.baseline_peak_rss), _mb(d.run.peak_rss), review]
        else:
            cells += ["-"] * 4
        cells += [_mb(r.distributions[n].gc_peak_rss) if n in r.distributions else "-"
                  for n in names]  # fmt: skip
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def _first(path: str, prefix: str) -> str:
    try:
        with open(path) as f:
            for line in f:
                if line.startswith(prefix):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown"


def render(
    results: list[SizeResult],
    *,
    command: str,
    started: dt.datetime,
    elapsed_s: float,
    load_at_start: tuple[float, float, float],
    busy: list[tuple[str, float]],
    other: str,
    args: argparse.Namespace,
) -> str:
    versions = {}
    for r in results:
        if r.dockyard:
            versions["Dockyard"] = r.dockyard.version
        for name, x in r.distributions.items():
            versions[name] = x.version
    mem_kb = _first("/proc/meminfo", "MemTotal").split()[0]
    out = [
        "# Garbage collection: Dockyard online vs distribution offline",
        "",
        f"Generated by `{command}` on {started:%Y-%m-%d %H:%M} UTC (run took "
        f"{elapsed_s / 60:.1f} min). The same content (see `benchmarks/gc_content.py`) was "
        "written into each registry's storage, then the images to delete were deleted "
        "through each registry's API; distribution was stopped and its `garbage-collect "
        "--delete-untagged` timed; Dockyard collected online (`POST /api/v1/gc/runs`, "
        f"collect, grace 0) while {args.pushers} threads pushed new images (a config and a "
        f"4 KiB layer each, into new repositories) and {args.pullers} threads pulled seeded "
        "images (manifest, config and four layers). Rates before GC were taken over "
        f"{args.baseline_seconds:.0f} s right before it; rates during GC over the run itself, "
        "from the POST until the poll (every 0.1 s) saw it done.",
        "",
        "## Machine",
        "",
        f"- CPU: {_first('/proc/cpuinfo', 'model name')}, {os.cpu_count()} logical CPUs; "
        f"RAM {int(mem_kb) / (1 << 20):.1f} GiB; kernel {platform.release()}; Python "
        f"{platform.python_version()}"
        if mem_kb.isdigit()
        else "- CPU/RAM: unknown",
        f"- Load average at the start: {load_at_start[0]:.2f} / {load_at_start[1]:.2f} / "
        f"{load_at_start[2]:.2f}; busy other processes then: "
        + (", ".join(f"{n} {c:.0%}" for n, c in busy) or "none"),
        f"- CPU used by other processes during the run: {other}. The machine has 2 cores "
        "and other engineers run test suites on it: rates and times move by tens of percent "
        "between runs; read the ratios (taken seconds apart) before the absolute numbers.",
        "- The load generators and the server share those 2 cores: the client threads take "
        "CPU the server would otherwise have, before GC and during it alike.",
        *(f"- {name}: {version}" for name, version in versions.items()),
        "",
        "## Targets (the issue)",
        "",
        *_targets(results),
    ]
    for r in results:
        titles, rows = _rows(r)
        out += ["", f"## {_size_title(r)}", ""]
        out.append("| | " + " | ".join(titles) + " |")
        out.append("|---|" + "---|" * len(titles))
        out += ["| " + " | ".join(cells) + " |" for cells in rows]
        for name, why in {**r.skipped, **r.failed}.items():
            out.append(f"\n- {name}: {why}")
    out += ["", "## Memory (peak summed RSS)", "", *_memory(results), "", _REPRODUCE, ""]
    out.append(_ROWS_EXPLAINED)
    return "\n".join(out) + "\n"


_REPRODUCE = """## Reproduce

```
bash benchmarks/install.sh                                # docker-registry, distribution v3
.venv/bin/python -m benchmarks.gc                         # small and medium, about 6 min
.venv/bin/python -m benchmarks.gc --sizes small,full      # the issue's size, about 16 min
.venv/bin/python -m benchmarks.gc --sizes small --registries dockyard --output /tmp/gc.md
```

Sizes: `small` 500 repositories (5,100 blobs), `medium` 2,000 (20,100), `full` 10,000
(100,100). Other options: `--baseline-seconds`, `--pushers`, `--pullers`,
`--dockyard-workers`, `--work-dir`, `--keep-data` (see `benchmarks/README.md`). Dockyard runs
with its defaults (one Granian worker, SQLite, filesystem store) except that scheduled GC
and retention are off, so only the runs the benchmark starts collect; the seeded content is
dated two hours back, past the default in-flight window (`gc_in_flight_seconds`, one hour),
which keeps what the push load uploads during the run."""

_ROWS_EXPLAINED = """## What the rows mean

- **GC wall time**: distribution, the `garbage-collect` process from start to exit (mark:
  read every repository's manifests; sweep: delete the blobs nothing marked), the server
  stopped. Dockyard, from `POST /api/v1/gc/runs` to the first poll that saw the run done,
  with the load running; it works only the review queue (what deletes, untags and uploads
  enqueued), in write transactions of at most 500 candidates so requests go on between them.
- **full review**: a second Dockyard run with every remaining blob put in the review queue
  (by the harness, in SQL), the worst case: a first run after a bulk import; it examines every
  blob and removes nothing.
- **blob files**: distribution keeps manifests as blobs too, so its count holds three
  manifest files per repository more than Dockyard's (which keeps manifests in its database).
  Dockyard's "after" includes the blobs the push load added.
- **unreferenced left / referenced lost**: each of the blobs only deleted images used is
  looked up on disk after GC (must be gone), and each blob a remaining image uses (must be
  there). For distribution the deleted manifests' own blob files count as unreferenced too.
- **disk freed vs disk the unreferenced blobs used**: `st_blocks` summed over the blob
  files before and after GC; for Dockyard the disk of the blobs the push load added is
  added back. The unreferenced blobs' disk is summed file by file before GC. The whole data
  directory row shows the rest: Dockyard's SQLite file (which grows with the run's records
  and the push load), distribution's link files (v3 frees more there than 2.8 does).
- **peak RSS**: summed RSS of the Dockyard server's process tree (parent and Granian
  workers), sampled every 50 ms during the run; for distribution, the `garbage-collect`
  process's.
- **pushes/s, pulls/s**: images pushed (POST + PUT of the layer, POST + PUT of the
  config, PUT of the manifest) or pulled (GET manifest by tag and its five blobs) per
  second, all clients together.
"""


def reading_section(text: str) -> str:
    """The hand-written reading kept at the end of docs/benchmarks-gc.md (empty if none)."""
    return section(text, READING_HEADING)


def update_summary(path: Path, text: str) -> None:
    """Put the targets table in docs/benchmarks.md's GC section."""
    start = text.index("## Targets (the issue)")
    end = text.index("\n## ", start + 1)
    first = text.splitlines()[2]  # "Generated by …"
    summary = "\n".join(
        [
            GC_HEADING,
            "",
            first.split(". The same content")[0]
            + ". Details, sizes and how to read them: [benchmarks-gc.md](benchmarks-gc.md).",
            "",
            *text[start:end].splitlines()[2:],
        ]
    ).rstrip()
    if path.exists():
        path.write_text(with_section(path.read_text(), GC_HEADING, summary + "\n"))
