"""The markdown of benchmarks.scaleout: one table, deployments as columns and the ratio of
two replicas to one; the issue's targets; where the CPU went during the manifest GETs; the
conditions. A hand-written "Reading the numbers" section is kept across runs."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from benchmarks.cpu import KERNEL, LOAD_GENERATOR, OTHER, CpuSplit
from benchmarks.options import Options
from benchmarks.report import machine_lines
from benchmarks.results import Cell, Results

__all__ = ["GROUP", "KEPT_HEADING", "Run", "Setup", "render", "row_names"]

GROUP = "scaleout"
KEPT_HEADING = "## Reading the numbers"
ONE, TWO = "dockyard-1", "dockyard-2"
_TARGET_RATIO = 1.6


@dataclass(frozen=True, slots=True)
class Setup:
    """One deployment (a column): which rows it runs and how it is laid out."""

    key: str
    title: str
    rows: tuple[str, ...]
    replicas: int = 1
    workers: int = 1
    nginx: bool = False
    distribution: bool = False


@dataclass(frozen=True, slots=True)
class Run:
    """Sizes of one run (Options holds the wrk duration and connections)."""

    blob_bytes: int = 64 << 20
    blob_runs: int = 5
    push_images: int = 240
    pushers: int = 8
    push_limit_s: float = 300.0
    warm_objects: int = 8


def row_names(run: Run) -> dict[str, str]:
    """Row key -> the row's label; blob rows' keys start with "blob" (their row group)."""
    mib = f"{run.blob_bytes >> 20} MiB"
    return {
        "manifest": "GET manifest by tag, ordinary user's pull token: req/s (p99 ms)",
        "push": f"push small images, {run.pushers} threads: images/s (p99 per image)",
        "blob_push": f"push a {mib} blob (POST + one PUT): MB/s",
        "blob_stream": f"GET the {mib} blob, streamed by the registry: MB/s",
        "blob_redirect": f"GET the {mib} blob, 307 to a presigned URL followed: MB/s",
        "blob_raw": "GET of the same object straight from SeaweedFS (the presigned URL): MB/s",
    }


def _ratio(cells: dict[str, Cell]) -> str:
    one, two = cells.get(ONE), cells.get(TWO)
    if one is None or two is None or not one.value or two.value is None:
        return "-"
    return f"{two.value / one.value:.2f}x"


def _table(results: Results, setups: list[Setup]) -> list[str]:
    has_ratio = any(s.key == ONE for s in setups) and any(s.key == TWO for s in setups)
    titles = [s.title for s in setups] + (["2 replicas / 1 replica"] if has_ratio else [])
    lines = ["| | " + " | ".join(titles) + " |", "|---|" + "---|" * len(titles)]
    for row, cells in results.groups[GROUP].rows.items():
        shown = [cells[s.key].text if s.key in cells else "-" for s in setups]
        if has_ratio:
            shown.append(_ratio(cells))
        lines.append(f"| {row} | " + " | ".join(shown) + " |")
    return lines


def _targets(results: Results, run: Run) -> list[str]:
    rows = results.groups[GROUP].rows
    names = row_names(run)
    out = []
    manifest = rows.get(names["manifest"], {})
    one, two = manifest.get(ONE), manifest.get(TWO)
    if one is not None and two is not None and one.value and two.value is not None:
        ratio = two.value / one.value
        verdict = "met" if ratio >= _TARGET_RATIO else "**not met**"
        out.append(
            f"- 2 replicas reach ≥ {_TARGET_RATIO}x the manifest rate of one: "
            f"{two.value:,.0f} / {one.value:,.0f} req/s = {ratio:.2f}x, {verdict}."
        )
    redirect, raw = rows.get(names["blob_redirect"], {}), rows.get(names["blob_raw"], {})
    for key in (ONE, TWO):
        via, alone = redirect.get(key), raw.get(key)
        if via is None or alone is None or via.value is None or not alone.value:
            continue
        out.append(
            f"- Presigned blob GET limited by S3 itself ({key}): redirected {via.value:,.0f} "
            f"MB/s against {alone.value:,.0f} MB/s for the presigned URL alone "
            f"({via.value / alone.value:.0%})."
        )
    return out or ["- not measured in this run"]


def _cpu_table(cpu: dict[str, CpuSplit], setups: list[Setup]) -> list[str]:
    measured = [s for s in setups if s.key in cpu]
    if not measured:
        return ["Not measured in this run."]
    names: list[str] = []
    for s in measured:
        names += [
            n
            for n in cpu[s.key].by_component
            if n not in names and n not in (LOAD_GENERATOR, KERNEL, OTHER)
        ]
    names += [LOAD_GENERATOR, KERNEL, OTHER]
    lines = ["| cores used | " + " | ".join(s.title for s in measured) + " |"]
    lines.append("|---|" + "---|" * len(measured))
    for name in names:
        cells = [cpu[s.key].by_component.get(name) for s in measured]
        lines.append(
            f"| {name} | " + " | ".join("-" if c is None else f"{c:.2f}" for c in cells) + " |"
        )
    busy = [f"**{cpu[s.key].machine:.2f}**" for s in measured]
    lines.append(
        f"| machine busy, of {cpu[measured[0].key].cores} cores | " + " | ".join(busy) + " |"
    )
    return lines


def render(
    results: Results,
    cpu: dict[str, dict[str, CpuSplit]],
    setups: list[Setup],
    opts: Options,
    run: Run,
    versions: dict[str, str],
    tools: dict[str, str],
    *,
    command: str,
    started: dt.datetime,
    elapsed_s: float,
    load_at_start: tuple[float, float, float],
    busy: list[tuple[str, float]],
    other_load: str,
) -> str:
    out = ["# Dockyard scale-out benchmarks", ""]
    out.append(
        f"Generated by `{command}` on {started:%Y-%m-%d %H:%M} UTC (run took "
        f"{elapsed_s / 60:.1f} min). Every deployment ran alone, one after another, against "
        "the same PostgreSQL cluster and the same SeaweedFS, on one machine."
    )
    if opts.quick:
        out += ["", "**Quick mode: small sizes and short durations; not for comparison.**"]
    out += ["", "## Results", "", *_table(results, setups), "", "## Targets", ""]
    out += _targets(results, run)
    out += ["", "## Where the CPU went", ""]
    out.append(
        "CPU seconds per wall second (1.00 = one core busy) of each process tree, read from "
        "/proc; this process and wrk (its child) from getrusage; the last line is the "
        'machine\'s busy time (/proc/stat), and "everything else" what no line above '
        "accounts for (other processes, interrupts)."
    )
    out += ["", "During the manifest GETs (the wrk run and its 1 s warm-up):", ""]
    out += _cpu_table(cpu.get("manifest", {}), setups)
    out += ["", "During the small-image pushes:", ""]
    out += _cpu_table(cpu.get("push", {}), setups)
    out += ["", "## Deployments", "", "| column | set-up | version |", "|---|---|---|"]
    for s in setups:
        out.append(f"| {s.title} | {_setup_text(s)} | {versions.get(s.key, '-')} |")
    out += ["", "## Conditions", ""]
    out += machine_lines(opts, load_at_start, busy)
    out.append(f"- CPU used by other processes while the deployments ran: {other_load}.")
    out.append("- " + "; ".join(f"{name} {text}" for name, text in tools.items()))
    out += _size_lines(opts, run)
    out += [
        "",
        "## Reproduce",
        "",
        "```",
        "bash benchmarks/install.sh    # wrk, distribution v3",
        "scripts/install-test-deps     # weed; nginx and PostgreSQL are Debian packages",
        ".venv/bin/python -m benchmarks.scaleout          # writes docs/benchmarks-scaleout.md",
        ".venv/bin/python -m benchmarks.scaleout --quick  # a few seconds per row",
        "```",
        "",
    ]
    return "\n".join(out)


def _setup_text(s: Setup) -> str:
    if s.distribution:
        return (
            "`registry serve`, `storage.s3` (path style, plain HTTP), `blobdescriptor: "
            "inmemory`; token auth (JWTs signed by the harness); streamed rows with "
            "`storage.redirect.disable: true`, redirected rows with its default (redirect)"
        )
    front = "behind nginx (README recipe, round-robin)" if s.nginx else "reached directly"
    return (
        f"{s.replicas} replica(s) x {s.workers} Granian worker(s), {front}; "
        "`DOCKYARD_DATABASE_URL` on PostgreSQL, `DOCKYARD_STORAGE_DRIVER=s3`; streamed rows "
        "with `DOCKYARD_S3_REDIRECT=false`, redirected rows with `true`"
    )


def _size_lines(opts: Options, run: Run) -> list[str]:
    return [
        f"- Manifest row: `wrk -t2 -c{opts.load_connections} -d{opts.load_seconds}s` after a "
        "1 s warm-up (`benchmarks/manifest.py`, `lua/request.lua`), `Accept` the OCI manifest "
        "type, a pull token of an ordinary user (Dockyard: a user with a group's read grant "
        "on the namespace, token from `/auth/token`; distribution: a JWT with pull on the "
        "repository).",
        f"- Push row: {run.push_images} images from {run.pushers} threads (one keep-alive "
        "connection each, `benchmarks/seeding.py`), each image a fresh 1 KiB layer, a config "
        "and a manifest (POST + PUT, POST + PUT, PUT) into a repository of its own; admin "
        "with Basic (Dockyard) or a JWT with push (distribution).",
        f"- Blob rows: {run.blob_bytes:,} random bytes pushed once; {run.blob_runs} timed "
        "GETs after one untimed (median, range in brackets), into a reused 1 MiB buffer. "
        "Redirected GETs follow the 307 on a new connection, as clients do; the last row "
        "GETs the presigned URL the registry handed out, with no registry in the path. "
        "MB = 10^6 bytes.",
        "- PostgreSQL keeps its durability defaults (fsync, full-page writes, synchronous "
        "commit on): a commit's cost is part of the measurement. `max_connections=300`, "
        "`shared_buffers=128MB`. SeaweedFS: one `weed server` (master, volume, filer, S3).",
    ]
