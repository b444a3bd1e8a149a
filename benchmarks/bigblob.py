"""Monolithic push and pull of one big blob (1 GiB of random bytes), with the server's RSS."""

from __future__ import annotations

import hashlib
import statistics
import time
from pathlib import Path

from benchmarks.oci import read_blob_file
from benchmarks.options import Options
from benchmarks.procs import RssSampler, tree_cpu_seconds, tree_memory
from benchmarks.registries import Registry
from benchmarks.results import Cell, Results, fmt_rate

__all__ = ["describe", "rows", "run"]

GROUP = "bigblob"
PUSH = "monolithic push (POST + one PUT), MB/s"
PULL = "pull (blob GET), MB/s"
RSS_REST = "server RSS before the blob, MB"
RSS_PUSH = "peak server RSS during the pushes, MB"
RSS_PULL = "peak server RSS during the pulls, MB"
CPU_PUSH = "server CPU per GB pushed, s"
CPU_PULL = "server CPU per GB pulled, s"


def rows(opts: Options) -> list[str]:
    return [PUSH, PULL, RSS_REST, RSS_PUSH, RSS_PULL, CPU_PUSH, CPU_PULL]


def describe(results: Results, opts: Options) -> None:
    size = opts.big_blob_bytes
    results.group(
        GROUP,
        f"Monolithic {size / (1 << 30):g} GiB blob",
        f"One blob of {size:,} random bytes (made once, sha256 computed up front). Push: "
        f"`POST /v2/<repo>/blobs/uploads/` then one `PUT ?digest=` with the body sent by "
        f"`sendfile` from the page cache, {opts.big_push_runs}x into fresh repositories; pull: "
        f"`GET /v2/<repo>/blobs/<digest>` read into a reused buffer, one verified pull (sha256 "
        f"checked, not timed) then {opts.big_pull_runs} timed. MB = 10^6 bytes; median of the "
        "runs (range in brackets). Memory: summed RSS of the server's process tree (workers "
        "included; pages shared by a worker and its parent count twice), PSS in brackets "
        "(shared pages split, each counted once), sampled every 50 ms from /proc. Server CPU: "
        "user + system seconds of the process tree over the timed runs, per 10^9 bytes.",
    )


def _rate_cell(rates: list[float]) -> Cell:
    median = statistics.median(rates)
    text = fmt_rate(median)
    if len(rates) > 1:
        text += f" ({fmt_rate(min(rates))} to {fmt_rate(max(rates))})"
    return Cell(text, median, {"min": min(rates), "max": max(rates)})


def _mb(rss: int, pss: int) -> Cell:
    return Cell(f"{rss / 1e6:,.0f} (PSS {pss / 1e6:,.0f})", rss / 1e6, {"pss_mb": pss / 1e6})


def run(registry: Registry, opts: Options, results: Results, blob: tuple[Path, str]) -> None:
    path, digest = blob
    size = path.stat().st_size
    results.set(GROUP, RSS_REST, registry.key, _mb(*tree_memory(registry.pid)))

    client = registry.client()
    push_rates: list[float] = []
    try:
        cpu0 = tree_cpu_seconds(registry.pid)
        with RssSampler(registry.pid) as rss, read_blob_file(path) as f:
            for i in range(opts.big_push_runs):
                t0 = time.perf_counter()
                client.push_blob_file(f"big/push{i}", f, size, digest)
                push_rates.append(size / 1e6 / (time.perf_counter() - t0))
        cpu = (tree_cpu_seconds(registry.pid) - cpu0) / (size * opts.big_push_runs / 1e9)
        results.set(GROUP, PUSH, registry.key, _rate_cell(push_rates))
        results.set(GROUP, RSS_PUSH, registry.key, _mb(rss.peak_rss, rss.peak_pss))
        results.set(GROUP, CPU_PUSH, registry.key, Cell(f"{cpu:.2f}", cpu))

        url = f"/v2/big/push0/blobs/{digest}"
        buf = memoryview(bytearray(1 << 20))
        pull_rates: list[float] = []
        with RssSampler(registry.pid) as rss:
            hasher = hashlib.sha256()
            status, got = client.download(url, buf, hasher)
            if status != 200 or got != size or "sha256:" + hasher.hexdigest() != digest:
                raise RuntimeError(f"verified pull: HTTP {status}, {got:,} bytes, digest mismatch")
            cpu0 = tree_cpu_seconds(registry.pid)
            for _ in range(opts.big_pull_runs):
                t0 = time.perf_counter()
                status, got = client.download(url, buf)
                elapsed = time.perf_counter() - t0
                if status != 200 or got != size:
                    raise RuntimeError(f"pull: HTTP {status}, {got:,} of {size:,} bytes")
                pull_rates.append(size / 1e6 / elapsed)
            cpu = (tree_cpu_seconds(registry.pid) - cpu0) / (size * opts.big_pull_runs / 1e9)
        results.set(GROUP, PULL, registry.key, _rate_cell(pull_rates))
        results.set(GROUP, RSS_PULL, registry.key, _mb(rss.peak_rss, rss.peak_pss))
        results.set(GROUP, CPU_PULL, registry.key, Cell(f"{cpu:.2f}", cpu))
    finally:
        client.close()
