"""Garbage collection: Dockyard's online GC under a push and pull load, beside CNCF
distribution's offline `garbage-collect` on the same content, in the same run.

`.venv/bin/python -m benchmarks.gc [--sizes small,full] [--registries …]`

For each size, every registry gets the same repositories, images and blobs (gc_content),
written straight into its storage (gc_seed); then the images to delete are deleted through
its API, leaving about a third of the blobs unreferenced.

- distribution (2.8.2 from Debian, v3 from `go install`): the server is stopped, then
  `garbage-collect --delete-untagged config.yml` is timed, its memory sampled.
- Dockyard: a push load (new small images into new repositories) and a pull load (seeded
  images) start; their rates are taken in a window without GC; then `POST /api/v1/gc/runs`
  (collect, grace 0) starts a run, polled until done, the rates taken again while it runs.
  A second run follows with every remaining blob queued for review (the worst case: a
  first run after a bulk import, or after the queue was lost), which removes nothing.

What went is checked on disk: every blob only deleted images used must be gone, every
other one still there, and the disk the blob files used before and after must differ by
what the garbage used (less what the push load added, for Dockyard). Writes
docs/benchmarks-gc.md and its section of docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import FrameType

from benchmarks import gc_content, gc_report, gc_seed
from benchmarks.gc_load import Load, Window
from benchmarks.gc_report import DistributionResult, DockyardResult, GcRun, SizeResult
from benchmarks.oci import Client
from benchmarks.procs import OtherLoad, RssSampler, busy_processes, tree_memory
from benchmarks.registries import (
    REPO_ROOT,
    Credentials,
    Distribution2,
    Distribution3,
    Dockyard,
    Registry,
)
from benchmarks.tokens import TokenIssuer

__all__ = ["main"]

SIZES = {"small": 500, "medium": 2_000, "full": 10_000}  # repositories; 10 blobs each
_DEFAULT_OUTPUT = REPO_ROOT / "docs" / "benchmarks-gc.md"
_DELETE_WORKERS = 8
_POLL_S = 0.1


class _GcDockyard(Dockyard):
    """Dockyard with no scheduled GC or retention run: only the runs the benchmark starts."""

    def _command(self) -> tuple[list[str], dict[str, str]]:
        argv, env = super()._command()
        env.update(DOCKYARD_GC_INTERVAL_MINUTES="0", DOCKYARD_RETENTION_INTERVAL_MINUTES="0")
        return argv, env


class _TokenAuth:
    """For distribution: token auth only (no htpasswd needed), tokens that may delete."""

    auth_mode = "token"
    issuer: TokenIssuer
    creds: Credentials

    def binary(self) -> Path | None:
        return self._binary()  # type: ignore[attr-defined, no-any-return]  # the registry's

    def unavailable(self) -> str | None:
        if self.binary() is None:
            return "binary not found; run benchmarks/install.sh"
        return None

    def seed_authorization(self, repositories: list[str]) -> str:
        access = [(name, ["pull", "push", "delete"]) for name in repositories]
        return "Bearer " + self.issuer.token(self.creds.admin_user, access)


class _GcDistribution2(_TokenAuth, Distribution2):
    pass


class _GcDistribution3(_TokenAuth, Distribution3):
    pass


_REGISTRIES: dict[str, type[Registry]] = {
    "dockyard": _GcDockyard,
    "distribution-2.8": _GcDistribution2,
    "distribution-3": _GcDistribution3,
}


def _log(text: str) -> None:
    print(text, flush=True)


def _on_sigterm(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(128 + signum)


def _disk(root: Path, name: str | None = None) -> tuple[int, int]:
    """(files, bytes of disk they use) under `root`; only files called `name` if given."""
    files = used = 0
    for folder, _, names in os.walk(root):
        for entry in names:
            if name is not None and entry != name:
                continue
            with contextlib.suppress(FileNotFoundError):
                used += os.stat(os.path.join(folder, entry)).st_blocks * 512
                files += 1
    return files, used


def _blocks(path: Path) -> int:
    try:
        return path.stat().st_blocks * 512
    except FileNotFoundError:
        return 0


# -- distribution ------------------------------------------------------------------------


def _distribution_blob(data_dir: Path, digest: str) -> Path:
    hexpart = digest.removeprefix("sha256:")
    return data_dir / "docker/registry/v2/blobs/sha256" / hexpart[:2] / hexpart / "data"


def _bench_distribution(registry: Registry, count: int) -> DistributionResult:
    out = DistributionResult(version=registry.version())
    seeded = gc_seed.seed_distribution(registry.data_dir, count)
    out.seed_s = seeded.seconds
    _log(f"   seeded in {seeded.seconds:.0f} s; deleting {len(seeded.deletes):,} images …")
    registry.start()
    try:
        out.delete_s = gc_seed.delete_images(registry, seeded.deletes, _DELETE_WORKERS, 1800)
    finally:
        registry.stop()
    gc_seed.sync()
    blobs_root = registry.data_dir / "docker/registry/v2/blobs"
    out.blobs_before, out.blob_disk_before = _disk(blobs_root, "data")
    _, out.disk_before = _disk(registry.data_dir)
    # Distribution keeps manifests as blobs: the deleted ones are garbage too.
    garbage = seeded.garbage | {digest for _, digest in seeded.deletes}
    out.garbage_disk = sum(_blocks(_distribution_blob(registry.data_dir, d)) for d in garbage)
    config = registry.workdir / "config-token.yml"  # written by start(), token mode
    if not isinstance(registry, _TokenAuth):
        raise TypeError(f"{registry.key} is not a distribution set up for the GC benchmark")
    argv = [str(registry.binary()), "garbage-collect", "--delete-untagged", str(config)]
    _log(f"   {' '.join([Path(argv[0]).name, *argv[1:3]])} …")
    with (registry.workdir / "gc.log").open("wb") as log:
        started = time.monotonic()
        proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT)
        with RssSampler(proc.pid) as rss:
            out.returncode = proc.wait()
        out.gc_s = time.monotonic() - started
    out.gc_peak_rss = rss.peak_rss
    gc_seed.sync()
    out.blobs_after, out.blob_disk_after = _disk(blobs_root, "data")
    _, out.disk_after = _disk(registry.data_dir)
    out.garbage_left = sum(1 for d in garbage if _distribution_blob(registry.data_dir, d).exists())
    out.kept_missing = sum(
        1 for d in seeded.kept if not _distribution_blob(registry.data_dir, d).exists()
    )
    out.expected_garbage = len(garbage)
    return out


# -- Dockyard ----------------------------------------------------------------------------


def _dockyard_blob(data_dir: Path, digest: str) -> Path:
    hexpart = digest.removeprefix("sha256:")
    return data_dir / "blobs/sha256" / hexpart[:2] / hexpart


def _collect(admin: Client, load: Load, pid: int) -> GcRun:
    """Start a collection at grace 0, poll it until it ends; time it, sample memory."""
    body = json.dumps({"mode": "collect", "grace_seconds": 0}).encode()
    with RssSampler(pid) as rss:
        started = time.monotonic()
        resp = admin.request("POST", "/api/v1/gc/runs", {"Content-Type": "application/json"}, body)
        if resp.status != 202:
            raise RuntimeError(f"POST /api/v1/gc/runs: HTTP {resp.status} {resp.body[:300]!r}")
        run = json.loads(resp.body)
        while run["status"] == "running":
            time.sleep(_POLL_S)
            got = admin.request("GET", f"/api/v1/gc/runs/{run['id']}")
            if got.status != 200:
                raise RuntimeError(f"GET run {run['id']}: HTTP {got.status}")
            run = json.loads(got.body)
        ended = time.monotonic()
    if run["status"] != "done":
        raise RuntimeError(f"GC run {run['id']} ended {run['status']}: {run.get('error')}")
    window = Window(started, ended)
    return GcRun(
        seconds=window.seconds,
        server_seconds=int(run["finished_at"]) - int(run["started_at"]),
        figures={k: int(v) for k, v in run["figures"].items()},
        push_rate=load.rate(load.push, window),
        pull_rate=load.rate(load.pull, window),
        peak_rss=rss.peak_rss,
    )


def _queue_every_blob(db_path: Path) -> int:
    """Queue every blob for review, as after a bulk import no run has reviewed yet."""
    conn = sqlite3.connect(db_path, timeout=60)
    try:
        with conn:
            cursor = conn.execute(
                "INSERT INTO gc_blob_review (digest, since) SELECT digest, ? FROM blob "
                "WHERE true ON CONFLICT (digest) DO UPDATE SET since = excluded.since",
                (int(time.time()) - 1,),
            )
        return cursor.rowcount
    finally:
        conn.close()


def _bench_dockyard(registry: Registry, count: int, args: argparse.Namespace) -> DockyardResult:
    out = DockyardResult(version=registry.version())
    registry.data_dir.mkdir(parents=True, exist_ok=True)
    seeded = gc_seed.seed_dockyard(registry.data_dir, count)
    out.seed_s = seeded.seconds
    registry.start()
    try:
        _log(f"   seeded in {seeded.seconds:.0f} s; deleting {len(seeded.deletes):,} images …")
        out.delete_s = gc_seed.delete_images(registry, seeded.deletes, _DELETE_WORKERS, 3600)
        gc_seed.sync()
        blobs_root = registry.data_dir / "blobs"
        out.blobs_before, out.blob_disk_before = _disk(blobs_root)
        _, out.disk_before = _disk(registry.data_dir)
        garbage = seeded.garbage
        out.garbage_disk = sum(_blocks(_dockyard_blob(registry.data_dir, d)) for d in garbage)
        out.expected_garbage = len(garbage)
        out.idle_rss = tree_memory(registry.pid)[0]
        admin = registry.client()
        load = Load(registry, count, args.pushers, args.pullers)
        with load:
            time.sleep(3)  # connections open, caches warm
            with RssSampler(registry.pid) as rss:
                started = time.monotonic()
                time.sleep(args.baseline_seconds)
                baseline = Window(started, time.monotonic())
            out.baseline_push = load.rate(load.push, baseline)
            out.baseline_pull = load.rate(load.pull, baseline)
            out.baseline_peak_rss = rss.peak_rss
            _log(f"   baseline: {out.baseline_push:.1f} pushes/s, {out.baseline_pull:.1f} pulls/s")
            out.run = _collect(admin, load, registry.pid)
            _log(f"   collect: {out.run.seconds:.1f} s, {out.run.figures}")
            queued = _queue_every_blob(registry.data_dir / "dockyard.db")
            out.review = _collect(admin, load, registry.pid)
            out.review_queued = queued
            _log(f"   full review of {queued:,} blobs: {out.review.seconds:.1f} s")
        admin.close()
        out.push_errors, out.pull_errors = load.push.errors, load.pull.errors
        out.first_error = load.push.first_error or load.pull.first_error
        gc_seed.sync()
        out.blobs_after, out.blob_disk_after = _disk(blobs_root)
        _, out.disk_after = _disk(registry.data_dir)
        out.load_disk = sum(
            _blocks(_dockyard_blob(registry.data_dir, d)) for d in set(load.pushed_digests)
        )
        out.load_blobs = len(set(load.pushed_digests))
        out.garbage_left = sum(1 for d in garbage if _dockyard_blob(registry.data_dir, d).exists())
        out.kept_missing = sum(
            1 for d in seeded.kept if not _dockyard_blob(registry.data_dir, d).exists()
        )
    finally:
        registry.stop()
    return out


# -- the run -----------------------------------------------------------------------------


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.gc", description=__doc__)
    parser.add_argument(
        "--sizes",
        default="small,medium",
        help=f"comma-separated subset of {','.join(SIZES)} (repositories: "
        + ", ".join(f"{k} {v:,}" for k, v in SIZES.items())
        + "; 10 blobs each)",
    )
    parser.add_argument("--registries", default=",".join(_REGISTRIES))
    parser.add_argument("--baseline-seconds", type=float, default=15.0)
    parser.add_argument("--pushers", type=int, default=2)
    parser.add_argument("--pullers", type=int, default=2)
    parser.add_argument("--dockyard-workers", type=int)
    parser.add_argument("--output", type=Path, default=_DEFAULT_OUTPUT)
    parser.add_argument("--work-dir", type=Path)
    parser.add_argument("--keep-data", action="store_true")
    args = parser.parse_args(argv)
    for name, allowed in (("sizes", SIZES), ("registries", _REGISTRIES)):
        chosen = [x.strip() for x in getattr(args, name).split(",") if x.strip()]
        unknown = [x for x in chosen if x not in allowed]
        if unknown:
            parser.error(f"--{name}: unknown {', '.join(unknown)}")
        setattr(args, name, chosen)
    return args


def main(argv: list[str] | None = None) -> int:
    args = _parse(argv)
    signal.signal(signal.SIGTERM, _on_sigterm)
    started = dt.datetime.now(dt.UTC)
    load_at_start = os.getloadavg()
    busy = busy_processes()
    t_start = time.monotonic()
    workdir = Path(tempfile.mkdtemp(prefix="dockyard-gc-bench-", dir=args.work_dir))
    creds, issuer = Credentials(), TokenIssuer.create()
    results: list[SizeResult] = []
    other = OtherLoad()
    try:
        with other:
            for size in args.sizes:
                count = SIZES[size]
                result = SizeResult(size, gc_content.totals(count))
                results.append(result)
                for key in args.registries:
                    registry = _REGISTRIES[key](workdir / size, creds, issuer)
                    why_not = registry.unavailable()
                    if why_not:
                        _log(f"skipping {registry.title}: {why_not}")
                        result.skipped[registry.title] = why_not
                        continue
                    if isinstance(registry, Dockyard):
                        registry.workers = args.dockyard_workers
                    _log(f"== {size} ({count:,} repositories): {registry.title}")
                    try:
                        if isinstance(registry, Dockyard):
                            result.dockyard = _bench_dockyard(registry, count, args)
                        else:
                            result.distributions[registry.title] = _bench_distribution(
                                registry, count
                            )
                    except Exception as exc:
                        _log(f"   failed: {type(exc).__name__}: {exc}")
                        if registry.server is not None:
                            _log(registry.server.log_tail(15))
                        result.failed[registry.title] = f"{type(exc).__name__}: {exc}"[:300]
                    finally:
                        registry.stop()
                        if not args.keep_data:
                            registry.remove_data()
                        gc_seed.sync()
    finally:
        if args.keep_data:
            _log(f"data kept in {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    given = argv if argv is not None else sys.argv[1:]
    text = gc_report.render(
        results,
        command=" ".join([".venv/bin/python -m benchmarks.gc", *given]),
        started=started,
        elapsed_s=time.monotonic() - t_start,
        load_at_start=load_at_start,
        busy=busy,
        other=other.summary(),
        args=args,
    )
    text = text.replace(str(workdir), "<tmp>").replace(str(REPO_ROOT), "<repo>")
    reading = gc_report.reading_section(args.output.read_text()) if args.output.exists() else ""
    if reading:  # hand-written about an earlier run: it says which
        text += "\n" + reading
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(text)
    _log(f"\nwrote {args.output}")
    if args.output == _DEFAULT_OUTPUT:
        gc_report.update_summary(REPO_ROOT / "docs" / "benchmarks.md", text)
    _log(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
