"""The markdown report: machine, versions, targets (met or not for Dockyard), one table per
row group with one column per registry."""

from __future__ import annotations

import datetime as dt
import os
import platform
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from benchmarks import bigblob, listing, manifest
from benchmarks.options import Options
from benchmarks.registries import Registry
from benchmarks.results import Cell, Results, fmt_ms, fmt_rate

__all__ = [
    "GC_HEADING",
    "KEPT_HEADINGS",
    "SCALE_HEADING",
    "machine_lines",
    "render",
    "scale_section",
    "section",
    "with_scale_section",
    "with_section",
]

DOCKYARD = "dockyard"


def _first_line(path: str, prefix: str) -> str:
    try:
        with open(path) as f:
            for line in f:
                if line.startswith(prefix):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown"


def _tool_version(argv: list[str]) -> str:
    try:
        out = subprocess.run(argv, capture_output=True, text=True, timeout=10, check=False)
    except OSError:
        return "not installed"
    text = (out.stdout + out.stderr).strip().splitlines()
    return text[0].strip() if text else "unknown"


def _filesystem(path: Path) -> str:
    best, fstype = "", "unknown"
    try:
        with open("/proc/mounts") as f:
            for line in f:
                parts = line.split()
                mount = parts[1]
                if str(path).startswith(mount) and len(mount) > len(best):
                    best, fstype = mount, parts[2]
    except OSError:
        pass
    return fstype


def machine_lines(
    opts: Options, load_at_start: tuple[float, float, float], busy: list[tuple[str, float]]
) -> list[str]:
    mem_kb = _first_line("/proc/meminfo", "MemTotal").split()[0]
    ram = f"{int(mem_kb) / (1 << 20):.1f} GiB" if mem_kb.isdigit() else "unknown"
    flags = _first_line("/proc/cpuinfo", "flags").split()
    return [
        f"- CPU: {_first_line('/proc/cpuinfo', 'model name')}, {os.cpu_count()} logical CPUs "
        f"(nproc), SHA extensions: {'yes' if 'sha_ni' in flags else 'no'}",
        f"- RAM: {ram}; kernel {platform.release()}; data directories on "
        f"{_filesystem(opts.workdir)}",
        f"- Python {platform.python_version()} (client and Dockyard); "
        f"{_tool_version(['wrk', '-v']).split('[')[0].strip()}; "
        f"{_tool_version(['ab', '-V']).replace('This is ', '').split('<')[0].strip()}",
        "- Client and servers share the machine: every load generator takes CPU from the "
        "server it measures, the same way for every registry.",
        f"- Load average when the run started: {load_at_start[0]:.2f} / {load_at_start[1]:.2f} "
        f"/ {load_at_start[2]:.2f} (1/5/15 min); other processes busy then: "
        + (", ".join(f"{name} {share:.0%}" for name, share in busy) if busy else "none")
        + (". **Other work was running: treat the numbers as noisy.**" if busy else "."),
    ]


_Check = Callable[[list[Cell], dict[str, list[Cell]]], tuple[str, str, bool]]


@dataclass(frozen=True, slots=True)
class _Target:
    """A target from the issue; `check` gives (Dockyard's value, best peer's value, met) from
    Dockyard's cells and each peer's cells for the target's rows."""

    text: str
    group: str
    rows: list[str]
    check: _Check


def _values(cells: list[Cell]) -> list[float]:
    return [c.value for c in cells if c.value is not None]


def _at_least(floor: float, against_peers: bool) -> _Check:
    def check(mine: list[Cell], peers: dict[str, list[Cell]]) -> tuple[str, str, bool]:
        value = min(_values(mine))
        best = max((max(_values(cells)) for cells in peers.values()), default=None)
        met = value >= floor and (not against_peers or best is None or value >= best)
        return fmt_rate(value), fmt_rate(best) if best is not None else "-", met

    return check


def _worst_below(ceiling: float, unit: str) -> _Check:
    """The worst of Dockyard's rows must stay at or under `ceiling` (ms) / under it (MB)."""

    def show(value: float) -> str:
        return f"{fmt_ms(value)} ms" if unit == "ms" else f"{value:,.0f} MB"

    def check(mine: list[Cell], peers: dict[str, list[Cell]]) -> tuple[str, str, bool]:
        worst = max(_values(mine))
        best = min((max(_values(cells)) for cells in peers.values()), default=None)
        text = show(worst)
        if unit == "ms":
            text += f" (p99 {fmt_ms(max(c.extra.get('p99_ms', 0.0) for c in mine))})"
            met = worst <= ceiling
        else:
            met = worst < ceiling
        return text, show(best) if best is not None else "-", met

    return check


def _targets(opts: Options) -> list[_Target]:
    pages = [row for row in listing.rows(opts) if "n=100" in row]
    size = "1 GiB" if opts.big_blob_bytes == 1 << 30 else f"{opts.big_blob_bytes >> 20} MiB"
    return [
        _Target(
            "blob GET ≥ 2,000 MB/s and never below the best peer",
            bigblob.GROUP,
            [bigblob.PULL],
            _at_least(2000, against_peers=True),
        ),
        _Target("monolithic push ≥ 400 MB/s", bigblob.GROUP, [bigblob.PUSH], _at_least(400, False)),
        *(
            _Target(
                f"{row} ≥ 5,000 req/s and ≥ best peer",
                manifest.GROUP,
                [row],
                _at_least(5000, against_peers=True),
            )
            for row in manifest.rows(opts)
        ),
        _Target(
            "`_catalog?n=100` ≤ 10 ms at any depth (slowest page's median)",
            listing.GROUP,
            [r for r in pages if "_catalog" in r],
            _worst_below(10, "ms"),
        ),
        _Target(
            "`tags/list?n=100` ≤ 10 ms at any depth (slowest page's median)",
            listing.GROUP,
            [r for r in pages if "tags/list" in r],
            _worst_below(10, "ms"),
        ),
        _Target(
            f"server RSS < 200 MB while a {size} blob goes through",
            bigblob.GROUP,
            [bigblob.RSS_PUSH, bigblob.RSS_PULL],
            _worst_below(200, "MB"),
        ),
    ]


def _target_lines(results: Results, registries: list[Registry], opts: Options) -> list[str]:
    lines = ["| target | Dockyard | best peer | met? |", "|---|---|---|---|"]
    for target in _targets(opts):
        mine = [results.get(target.group, row, DOCKYARD) for row in target.rows]
        peers: dict[str, list[Cell]] = {}
        for reg in registries:
            if reg.key == DOCKYARD:
                continue
            cells = [results.get(target.group, row, reg.key) for row in target.rows]
            if all(c is not None and c.value is not None for c in cells):
                peers[reg.key] = [c for c in cells if c is not None]
        measured = [c for c in mine if c is not None and c.value is not None]
        if not measured or len(measured) != len(mine):
            failed = next((c.text for c in mine if c is not None and c.value is None), "")
            shown = failed[:80] if failed else "-"
            lines.append(f"| {target.text} | {shown} | - | not measured |")
            continue
        value, best, met = target.check(measured, peers)
        verdict = "met" if met else "**not met**"
        if any("(admin's token)" in c.text for c in measured):
            value += " (admin's token)"
            verdict += " (as admin only: no ordinary user yet)"
        lines.append(f"| {target.text} | {value} | {best} | {verdict} |")
    return lines


def render(
    results: Results,
    registries: list[Registry],
    skipped: dict[str, str],
    opts: Options,
    command: str,
    started: dt.datetime,
    elapsed_s: float,
    load_at_start: tuple[float, float, float],
    busy: list[tuple[str, float]],
) -> str:
    out = ["# Dockyard benchmarks", ""]
    out.append(
        f"Generated by `{command}` on {started:%Y-%m-%d %H:%M} UTC "
        f"(run took {elapsed_s / 60:.1f} min). Dockyard and the reference registries ran one "
        "after another in the same run, on the same machine, each on its own loopback port "
        "with its own data directory, auth on, access logs off."
    )
    if opts.quick:
        out += ["", "**Quick mode: small sizes and short durations; not for comparison.**"]
    out += [
        "",
        "## Machine",
        "",
        *machine_lines(opts, load_at_start, busy),
        *results.machine_notes,
        "",
        "## Registries",
        "",
    ]
    out += ["| registry | version | set-up | auth |", "|---|---|---|---|"]
    for reg in registries:
        if reg.key == DOCKYARD:
            workers = opts.dockyard_workers or "default number of"
            setup = f"`dockyard serve`, {workers} Granian worker(s); SQLite + filesystem"
            auth = "local admin (Basic); `/auth/token` for Bearer"
        else:
            setup = "filesystem driver, `blobdescriptor: inmemory`, delete enabled"
            auth = "htpasswd (bcrypt, `htpasswd -Bbn`); `auth.token` for Bearer rows and seeding"
        out.append(f"| {reg.title} | {reg.version()} | {setup} | {auth} |")
    for key, why in skipped.items():
        out.append(f"| {key} | not run | | {why} |")
    out += ["", "## Targets (Dockyard)", "", *_target_lines(results, registries, opts)]
    for group in results.groups.values():
        if not group.rows:
            continue
        out += ["", f"## {group.title}", "", group.how, ""]
        out.append("| | " + " | ".join(r.title for r in registries) + " |")
        out.append("|---|" + "---|" * len(registries))
        for row, cells in group.rows.items():
            shown = [cells[r.key].text if r.key in cells else "-" for r in registries]
            out.append(f"| {row} | " + " | ".join(shown) + " |")
        if group.notes:
            out += [""] + [f"- {note}" for note in group.notes]
    out += [
        "",
        "## Reproduce",
        "",
        "```",
        "bash benchmarks/install.sh  # docker-registry, wrk, apache2-utils, distribution v3",
        ".venv/bin/python -m benchmarks.run  # full run, writes docs/benchmarks.md",
        ".venv/bin/python -m benchmarks.run --quick --registries dockyard,distribution-3",
        "```",
        "",
        "See `benchmarks/README.md` for the options.",
        "",
    ]
    return "\n".join(out)


SCALE_HEADING = "## Console and search at scale"
GC_HEADING = "## Garbage collection"
KEPT_HEADINGS = (SCALE_HEADING, GC_HEADING)  # sections other commands write; run keeps them


def section(text: str, heading: str) -> str:
    """The section under `heading` (to the next `## ` heading or the end), or empty."""
    start = text.find(heading + "\n")
    if start < 0:
        return ""
    end = text.find("\n## ", start + len(heading))
    return text[start:] if end < 0 else text[start : end + 1]


def with_section(text: str, heading: str, new: str) -> str:
    """`text` with its section under `heading` replaced by `new` (added at the end if absent)."""
    old = section(text, heading)
    if old:
        return text.replace(old, new)
    return text.rstrip("\n") + "\n\n" + new


def scale_section(text: str) -> str:
    """The section `benchmarks.scale` keeps in docs/benchmarks.md (empty if there is none):
    a full `benchmarks.run` rewrites the file and carries it over."""
    return section(text, SCALE_HEADING)


def with_scale_section(text: str, new: str) -> str:
    """`text` with its scale section replaced by `new` (added at the end if absent)."""
    return with_section(text, SCALE_HEADING, new)
