"""Dockyard deployed as a company runs it, PostgreSQL metadata and blobs in an S3-compatible
bucket, with one replica and with two behind nginx, beside CNCF distribution v3 on its S3
driver against the same SeaweedFS, in one run on one machine:

    .venv/bin/python -m benchmarks.scaleout [--quick] [--blob-mib 64] [--setups …]

Writes docs/benchmarks-scaleout.md (`--quick`: .cache/benchmarks/scaleout-quick.md) and
prints it. One PostgreSQL cluster (durability settings on) and one SeaweedFS serve every
deployment; each deployment gets its own database and key prefix, and runs alone.
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
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType

from benchmarks import manifest, nginx, postgres, seaweedfs
from benchmarks import scaleout_rows as rows
from benchmarks.cpu import CpuSplit, CpuWatch
from benchmarks.deployments import DistributionS3, DockyardS3
from benchmarks.oci import write_random_file
from benchmarks.options import Options
from benchmarks.procs import OtherLoad, busy_processes
from benchmarks.registries import REPO_ROOT, Credentials, run_text
from benchmarks.report import section, with_section
from benchmarks.results import Results
from benchmarks.scaleout_report import GROUP, KEPT_HEADING, Run, Setup, render, row_names
from benchmarks.tokens import TokenIssuer

__all__ = ["SETUPS", "main"]

_ALL = ("manifest", "push", "blob")
SETUPS = (
    Setup("distribution", "distribution v3, S3", _ALL, distribution=True),
    Setup("dockyard-1", "Dockyard PG+S3, 1 replica", _ALL),
    Setup("dockyard-2", "Dockyard PG+S3, 2 replicas (nginx)", _ALL, replicas=2, nginx=True),
    Setup("dockyard-1-nginx", "Dockyard, 1 replica behind nginx", ("manifest",), nginx=True),
    Setup("dockyard-1x2w", "Dockyard, 1 replica x 2 workers", ("manifest", "push"), workers=2),
)


@dataclass(slots=True)
class _Context:
    """What every deployment of the run shares."""

    opts: Options
    sizes: Run
    creds: Credentials
    issuer: TokenIssuer
    pg: postgres.Postgres
    store: seaweedfs.SeaweedFS
    blob: tuple[Path, str]
    results: Results
    # row ("manifest", "push") -> setup key -> where the CPU went during that row
    cpu: dict[str, dict[str, CpuSplit]] = field(
        default_factory=lambda: {"manifest": {}, "push": {}}
    )
    versions: dict[str, str] = field(default_factory=dict)


def _log(text: str) -> None:
    print(text, flush=True)


def _on_sigterm(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(128 + signum)  # so every `finally` stops its servers


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.scaleout", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small sizes, a few s per row")
    parser.add_argument("--setups", default=",".join(s.key for s in SETUPS))
    parser.add_argument("--blob-mib", type=int, help="blob size (default 64; quick 16)")
    parser.add_argument("--load-seconds", type=int, help="wrk duration (default 8; quick 3)")
    parser.add_argument("--push-images", type=int, help="images pushed (default 240; quick 40)")
    parser.add_argument("--pushers", type=int, default=8, help="pushing threads")
    parser.add_argument("--output", type=Path, help="where the markdown goes")
    parser.add_argument("--work-dir", type=Path, help="where temporary data goes")
    args = parser.parse_args(argv)
    known = {s.key for s in SETUPS}
    args.setups = [k.strip() for k in args.setups.split(",") if k.strip()]
    unknown = [k for k in args.setups if k not in known]
    if unknown:
        parser.error(f"--setups: unknown {', '.join(unknown)}")
    return args


def _make(setup: Setup, ctx: _Context) -> DistributionS3 | DockyardS3:
    workdir = ctx.opts.workdir / setup.key
    if setup.distribution:
        repositories = [manifest.REPO, rows.BLOB_REPO]
        return DistributionS3(workdir, ctx.creds, ctx.issuer, ctx.store, repositories)
    registry = DockyardS3(
        workdir, ctx.creds, ctx.issuer, store=ctx.store,
        database_url=ctx.pg.create_database(setup.key.replace("-", "_")),
        prefix=f"{setup.key}/", replicas=setup.replicas, behind_nginx=setup.nginx,
    )  # fmt: skip
    registry.workers = setup.workers
    return registry


def _blob_rows(registry: DistributionS3 | DockyardS3, ctx: _Context, key: str) -> None:
    path, digest = ctx.blob
    size, runs = path.stat().st_size, ctx.sizes.blob_runs
    names = row_names(ctx.sizes)
    ctx.results.set(GROUP, names["blob_push"], key, rows.blob_push(registry, ctx.blob))
    streamed, _ = rows.blob_pull(registry, digest, size, runs)
    ctx.results.set(GROUP, names["blob_stream"], key, streamed)
    registry.restart(redirect=True)
    redirected, location = rows.blob_pull(registry, digest, size, runs)
    ctx.results.set(GROUP, names["blob_redirect"], key, redirected)
    if location is None:
        raise RuntimeError("blob GET was not redirected with redirects on")
    ctx.results.set(GROUP, names["blob_raw"], key, rows.raw_pull(location, size, runs))


def _run_row(row: str, registry: DistributionS3 | DockyardS3, ctx: _Context, key: str) -> None:
    names = row_names(ctx.sizes)
    components = {**registry.components(), "postgres": ctx.pg.pid}
    components["seaweedfs"] = ctx.store.pid
    if row == "manifest":
        cell, split = rows.manifest_get(registry, ctx.opts, components)
        ctx.results.set(GROUP, names["manifest"], key, cell)
        ctx.cpu["manifest"][key] = split
    elif row == "push":
        limit = ctx.sizes.push_limit_s
        with CpuWatch(components) as watch:
            cell = rows.push_images(registry, ctx.sizes.push_images, ctx.sizes.pushers, limit)
        ctx.results.set(GROUP, names["push"], key, cell)
        ctx.cpu["push"][key] = watch.split
    elif row == "blob":
        _blob_rows(registry, ctx, key)


def _bench(setup: Setup, ctx: _Context) -> None:
    registry = _make(setup, ctx)
    ctx.versions[setup.key] = registry.version()
    _log(f"== {setup.title}: {ctx.versions[setup.key]}")
    why_not = registry.unavailable()
    names = row_names(ctx.sizes)
    if why_not is not None:
        ctx.results.fail(GROUP, list(names.values()), setup.key, why_not)
        return
    try:
        registry.start()
        _log(f"   listening on 127.0.0.1:{registry.port}")
        for row in setup.rows:
            t0 = time.monotonic()
            try:
                _run_row(row, registry, ctx, setup.key)
            except Exception as exc:
                _log(f"   {row} failed: {type(exc).__name__}: {exc}")
                _log("".join(traceback.format_exception(exc, limit=-3)).rstrip())
                if isinstance(registry, DockyardS3):
                    _log(registry.log_tails())
                wanted = [n for k, n in names.items() if k.startswith(row)]
                ctx.results.fail(GROUP, wanted, setup.key, str(exc))
            _log(f"   {row} done in {time.monotonic() - t0:.0f} s")
    except Exception as exc:
        _log(f"   could not start: {exc}")
        ctx.results.fail(GROUP, list(names.values()), setup.key, f"did not start: {exc}")
    finally:
        registry.stop()
        registry.remove_data()


def _wrk_version() -> str:
    return run_text(["wrk", "-v"]).split("[")[0].replace("wrk ", "").strip()


def _sizes(args: argparse.Namespace) -> Run:
    quick = Run(blob_bytes=16 << 20, blob_runs=2, push_images=40, warm_objects=2)
    base = quick if args.quick else Run()
    return Run(
        blob_bytes=(args.blob_mib << 20) if args.blob_mib else base.blob_bytes,
        blob_runs=base.blob_runs,
        push_images=args.push_images or base.push_images,
        pushers=args.pushers,
        push_limit_s=base.push_limit_s,
        warm_objects=base.warm_objects,
    )


def _output(args: argparse.Namespace) -> Path:
    if args.output:
        return Path(args.output)
    if args.quick:
        return REPO_ROOT / ".cache" / "benchmarks" / "scaleout-quick.md"
    return REPO_ROOT / "docs" / "benchmarks-scaleout.md"


def main(argv: list[str] | None = None) -> int:
    args = _parse(argv)
    signal.signal(signal.SIGTERM, _on_sigterm)
    if shutil.which("wrk") is None:
        _log("wrk not found: run `bash benchmarks/install.sh` first")
        return 2
    started, load_at_start, busy = dt.datetime.now(dt.UTC), os.getloadavg(), busy_processes()
    t_start = time.monotonic()
    workdir = Path(tempfile.mkdtemp(prefix="dockyard-scaleout-", dir=args.work_dir))
    opts = Options.make(workdir, args.quick, load_seconds=args.load_seconds)
    sizes = _sizes(args)
    results = Results()
    results.group(GROUP, "Scale-out", "")
    chosen = [s for s in SETUPS if s.key in args.setups]
    other = OtherLoad()
    try:
        with (
            postgres.running() as pg,
            seaweedfs.running(workdir / "seaweedfs", warm_objects=sizes.warm_objects) as store,
        ):
            _log(f"PostgreSQL on {pg.port}, SeaweedFS S3 on {store.endpoint_url}")
            blob_path = workdir / "blob"
            blob = (blob_path, write_random_file(blob_path, sizes.blob_bytes))
            ctx = _Context(opts, sizes, Credentials(), TokenIssuer.create(), pg, store, blob,
                           results)  # fmt: skip
            tools = {"PostgreSQL": pg.version(), "SeaweedFS": seaweedfs.version(),
                     "nginx": nginx.version(), "wrk": _wrk_version()}  # fmt: skip
            with other:
                for setup in chosen:
                    _bench(setup, ctx)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)

    given = argv if argv is not None else sys.argv[1:]
    command = " ".join([".venv/bin/python -m benchmarks.scaleout", *given])
    text = render(
        results, ctx.cpu, chosen, opts, sizes, ctx.versions, tools,
        command=command, started=started, elapsed_s=time.monotonic() - t_start,
        load_at_start=load_at_start, busy=busy, other_load=other.summary(),
    )  # fmt: skip
    text = text.replace(str(workdir), "<tmp>").replace(str(REPO_ROOT), "<repo>")
    output = _output(args)
    output.parent.mkdir(parents=True, exist_ok=True)
    kept = section(output.read_text(), KEPT_HEADING) if output.exists() else ""
    if kept:
        text = with_section(text, KEPT_HEADING, kept)
    output.write_text(text)
    _log(f"\nwrote {output}\n\n{text}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
