"""Run the benchmarks: `.venv/bin/python -m benchmarks.run [--quick] [--registries …] [--rows …]`.

Starts each registry in turn (Dockyard first, then the reference registries), runs the selected
row groups against it, always stops it, and writes the markdown report.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import shutil
import signal
import sys
import tempfile
import time
import traceback
from dataclasses import dataclass
from pathlib import Path
from types import FrameType

from benchmarks import bigblob, listing, manifest, zb
from benchmarks.ceiling import loopback_ceiling_mb_s
from benchmarks.oci import write_random_file
from benchmarks.options import GROUPS, Options
from benchmarks.procs import OtherLoad, busy_processes
from benchmarks.registries import REGISTRIES, REPO_ROOT, Credentials, Dockyard, Registry
from benchmarks.report import KEPT_HEADINGS, render, section, with_section
from benchmarks.results import Results
from benchmarks.tokens import TokenIssuer

__all__ = ["main"]

# Each row group's module has rows(opts), describe(results, opts) and a run(...) that
# _run_group calls with what it needs.
_GROUP_MODULES = {"listing": listing, "manifest": manifest, "bigblob": bigblob, "zb": zb}


@dataclass(slots=True)
class _Assets:
    """Blob files made once per run (sha256 computed up front) and shared by all registries."""

    big_blob: tuple[Path, str] | None = None
    zb_blobs: dict[int, tuple[Path, str]] | None = None


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.run",
        description="Benchmark Dockyard against CNCF distribution 2.8 and v3 (and zot if built).",
    )
    parser.add_argument("--quick", action="store_true", help="small sizes, short durations")
    parser.add_argument(
        "--registries",
        default=",".join(REGISTRIES),
        help=f"comma-separated subset of {','.join(REGISTRIES)} (default: all that are installed)",
    )
    parser.add_argument(
        "--rows", default=",".join(GROUPS), help=f"comma-separated subset of {','.join(GROUPS)}"
    )
    parser.add_argument(
        "--output",
        type=Path,
        help="report path (default docs/benchmarks.md; .cache/benchmarks/quick.md with --quick)",
    )
    parser.add_argument("--work-dir", type=Path, help="where the temporary data directories go")
    parser.add_argument("--keep-data", action="store_true", help="keep data dirs and logs")
    parser.add_argument("--load-seconds", type=int, help="wrk/ab duration per row")
    parser.add_argument("--repositories", type=int, help="repositories for the catalog rows")
    parser.add_argument("--tags", type=int, help="tags for the tags/list rows")
    parser.add_argument("--zb-requests", type=int, help="operations per zb mix")
    parser.add_argument("--big-blob-mib", type=int, help="size of the big blob in MiB")
    parser.add_argument("--dockyard-workers", type=int, help="DOCKYARD_WORKERS for the server")
    args = parser.parse_args(argv)
    for name, allowed in (("registries", REGISTRIES), ("rows", GROUPS)):
        chosen = [x.strip() for x in getattr(args, name).split(",") if x.strip()]
        unknown = [x for x in chosen if x not in allowed]
        if unknown:
            parser.error(f"--{name}: unknown {', '.join(unknown)}")
        setattr(args, name, chosen)
    return args


def _on_sigterm(signum: int, frame: FrameType | None) -> None:
    # Turn SIGTERM into an exception so every `finally` stops its server.
    raise SystemExit(128 + signum)


def _log(text: str) -> None:
    print(text, flush=True)


def _settle_disk() -> None:
    """Flush every dirty page, so no registry pays for the writeback of the one before it."""
    t0 = time.monotonic()
    os.sync()
    _log(f"   (disk flushed in {time.monotonic() - t0:.0f} s)")


def _run_group(
    group: str, registry: Registry, opts: Options, results: Results, assets: _Assets
) -> None:
    if group == "listing":
        listing.run(registry, opts, results)
    elif group == "manifest":
        manifest.run(registry, opts, results)
    elif group == "bigblob":
        if assets.big_blob is None:
            raise RuntimeError("big blob not made")
        bigblob.run(registry, opts, results, assets.big_blob)
    elif group == "zb":
        if assets.zb_blobs is None:
            raise RuntimeError("zb blobs not made")
        zb.run(registry, opts, results, assets.zb_blobs)


def _bench_registry(registry: Registry, opts: Options, results: Results, assets: _Assets) -> None:
    _log(f"== {registry.title}: {registry.version()}")
    try:
        registry.start()
    except Exception as exc:
        _log(f"   could not start: {exc}")
        for group in opts.groups:
            results.fail(
                group, _GROUP_MODULES[group].rows(opts), registry.key, f"did not start: {exc}"
            )
        return
    _log(f"   listening on 127.0.0.1:{registry.port}, pid {registry.pid}")
    try:
        for group in opts.groups:
            t0 = time.monotonic()
            _log(f"   {group} …")
            try:
                _run_group(group, registry, opts, results, assets)
            except Exception as exc:
                _log(f"   {group} failed: {type(exc).__name__}: {exc}")
                _log("".join(traceback.format_exception(exc, limit=-3)).rstrip())
                if registry.server is not None:
                    _log(f"   server log tail:\n{registry.server.log_tail(15)}")
                results.fail(group, _GROUP_MODULES[group].rows(opts), registry.key, f"{exc}")
                if registry.server is None or registry.server.proc is None:
                    # A failed auth-mode switch leaves the server down: bring it back once.
                    registry.start()
            _log(f"   {group} done in {time.monotonic() - t0:.0f} s")
    finally:
        registry.stop()


def main(argv: list[str] | None = None) -> int:
    args = _parse(argv)
    signal.signal(signal.SIGTERM, _on_sigterm)
    started = dt.datetime.now(dt.UTC)
    load_at_start = os.getloadavg()
    busy = busy_processes()
    if busy:
        _log("other busy processes: " + ", ".join(f"{n} {c:.0%}" for n, c in busy))
    t_start = time.monotonic()
    workdir = Path(tempfile.mkdtemp(prefix="dockyard-bench-", dir=args.work_dir))
    opts = Options.make(
        workdir,
        args.quick,
        groups=tuple(g for g in GROUPS if g in args.rows),
        load_seconds=args.load_seconds,
        repositories=args.repositories,
        tags=args.tags,
        zb_requests=args.zb_requests,
        big_blob_bytes=args.big_blob_mib << 20 if args.big_blob_mib else None,
        dockyard_workers=args.dockyard_workers,
    )
    if "manifest" in opts.groups:
        missing = [tool for tool in ("wrk", "ab") if shutil.which(tool) is None]
        if missing:
            _log(f"missing {', '.join(missing)}: run `bash benchmarks/install.sh` first")
            return 2

    creds = Credentials()
    issuer = TokenIssuer.create()
    registries: list[Registry] = []
    skipped: dict[str, str] = {}
    for key in args.registries:
        registry = REGISTRIES[key](workdir, creds, issuer)
        if isinstance(registry, Dockyard):
            registry.workers = opts.dockyard_workers
        why_not = registry.unavailable()
        if why_not:
            skipped[registry.title] = why_not
            _log(f"skipping {registry.title}: {why_not}")
        else:
            registries.append(registry)
    if not registries:
        _log("no registry to benchmark")
        return 2

    results = Results()
    other_load = OtherLoad()
    for group in opts.groups:
        _GROUP_MODULES[group].describe(results, opts)
    try:
        assets = _Assets()
        if "bigblob" in opts.groups:
            _log(f"making a {opts.big_blob_bytes:,}-byte random blob …")
            path = workdir / "big.blob"
            assets.big_blob = (path, write_random_file(path, opts.big_blob_bytes))
            ceiling = loopback_ceiling_mb_s(path)
            _log(f"loopback ceiling: {ceiling:,.0f} MB/s")
            results.machine_notes.append(
                f"- Loopback ceiling, no registry: Python `socket.sendfile` of the big blob into a "
                f"`recv_into` loop moves {ceiling:,.0f} MB/s (best of 2): no blob GET measured "
                "here can go faster."
            )
        if "zb" in opts.groups:
            assets.zb_blobs = zb.make_blobs(workdir)
        _settle_disk()
        with other_load:
            for registry in registries:
                try:
                    _bench_registry(registry, opts, results, assets)
                finally:
                    if not args.keep_data:
                        t0 = time.monotonic()
                        registry.remove_data()
                        _log(f"   (data removed in {time.monotonic() - t0:.0f} s)")
                    _settle_disk()
        share = other_load.cpu_seconds / max(other_load.elapsed, 1.0)
        results.machine_notes.append(
            f"- CPU used by other processes while the registries ran: {other_load.summary()}"
            + (". **Treat the numbers as noisy.**" if share > 0.1 else ".")
        )
    finally:
        if args.keep_data:
            _log(f"data and server logs kept in {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)

    output = args.output or (
        REPO_ROOT / ".cache" / "benchmarks" / "quick.md"
        if args.quick
        else REPO_ROOT / "docs" / "benchmarks.md"
    )
    given = argv if argv is not None else sys.argv[1:]
    command = " ".join([".venv/bin/python -m benchmarks.run", *given])
    elapsed = time.monotonic() - t_start
    text = render(
        results, registries, skipped, opts, command, started, elapsed, load_at_start, busy
    )
    # No paths of this machine in the report.
    text = text.replace(str(workdir), "<tmp>").replace(str(REPO_ROOT), "<repo>")
    output.parent.mkdir(parents=True, exist_ok=True)
    previous = output.read_text() if output.exists() else ""
    for heading in KEPT_HEADINGS:  # written by benchmarks.scale and benchmarks.gc
        kept = section(previous, heading)
        if kept:
            text = with_section(text, heading, kept)
    output.write_text(text)
    _log(f"\nwrote {output}\n")
    _log(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
