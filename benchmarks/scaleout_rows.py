"""The rows of benchmarks.scaleout, each against one running deployment: manifest GETs under
load (with where the CPU went), a small-image push rate, and a big blob's push and GETs."""

from __future__ import annotations

import os
import statistics
import threading
import time
from collections.abc import Sequence
from pathlib import Path

from benchmarks import manifest, seeding
from benchmarks.cpu import CpuSplit, CpuWatch
from benchmarks.oci import Client, download_url, make_image, read_blob_file, sha256_digest
from benchmarks.options import Options
from benchmarks.registries import Registry
from benchmarks.results import Cell, fmt_rate

__all__ = [
    "BLOB_REPO",
    "PUSH_FMT",
    "blob_pull",
    "blob_push",
    "manifest_get",
    "push_images",
    "raw_pull",
]

BLOB_REPO = "blob/big"
PUSH_FMT = "push/r{:05d}"
_LAYER_BYTES = 1024


def manifest_get(
    registry: Registry, opts: Options, components: dict[str, int]
) -> tuple[Cell, CpuSplit]:
    """GET of the manifest by tag as an ordinary user with a pull token (the way `docker
    pull` asks), through manifest.py's wrk run; the CPU of `components` sampled around it."""
    manifest.seed(registry)
    with registry.reader_bearer(manifest.REPO) as bearer:
        manifest.check(registry, bearer.authorization)
        with CpuWatch(components) as watch:
            cell = manifest.measure(registry, "GET", bearer.authorization, opts)
    return cell, watch.split


def push_images(registry: Registry, count: int, pushers: int, limit_s: float) -> Cell:
    """`count` images, each a fresh 1 KiB layer, a config and a manifest, into a repository
    of its own, from `pushers` threads (seeding.parallel's keep-alive connection each)."""
    latencies: list[float] = []
    lock = threading.Lock()

    def one(client: Client, i: int) -> None:
        t0 = time.perf_counter()
        name = PUSH_FMT.format(i)
        layer = os.urandom(_LAYER_BYTES)
        digest = sha256_digest(layer)
        client.push_blob(name, layer, digest)
        client.push_image(name, "v1", make_image([(digest, len(layer))]))
        with lock:
            latencies.append(time.perf_counter() - t0)

    def repositories(batch: Sequence[int]) -> list[str]:
        return [PUSH_FMT.format(i) for i in batch]

    started = time.monotonic()
    # Small batches, so that every thread has work until the end (one token per batch).
    batch = max(1, min(5, count // (pushers * 4)))
    seeding.parallel(
        registry, range(count), one, repositories, pushers, started + limit_s, batch_size=batch
    )
    wall = time.monotonic() - started
    lat = sorted(latencies)
    p99 = lat[min(len(lat) - 1, len(lat) * 99 // 100)]
    rate = len(lat) / wall
    return Cell(f"{rate:,.1f} ({p99 * 1000:,.0f} ms)", rate, {"p99_s": p99})


def blob_push(registry: Registry, blob: tuple[Path, str]) -> Cell:
    """One monolithic push (POST, then PUT of the whole body with the digest): MB/s."""
    path, digest = blob
    size = path.stat().st_size
    client = registry.client()
    try:
        with read_blob_file(path) as f:
            t0 = time.perf_counter()
            client.push_blob_file(BLOB_REPO, f, size, digest)
            rate = size / 1e6 / (time.perf_counter() - t0)
    finally:
        client.close()
    return Cell(fmt_rate(rate), rate)


def _rate_cell(rates: list[float]) -> Cell:
    median = statistics.median(rates)
    text = f"{fmt_rate(median)} ({fmt_rate(min(rates))} to {fmt_rate(max(rates))})"
    return Cell(text, median, {"min": min(rates), "max": max(rates)})


def blob_pull(registry: Registry, digest: str, size: int, runs: int) -> tuple[Cell, str | None]:
    """`runs` timed GETs of the blob (after one untimed), redirects followed as clients do;
    returns the median MB/s and the presigned URL of the last redirect (None: streamed)."""
    client = registry.client()
    buf = memoryview(bytearray(1 << 20))
    rates: list[float] = []
    location: str | None = None
    try:
        for run in range(runs + 1):
            t0 = time.perf_counter()
            status, got, location = client.blob_get(f"/v2/{BLOB_REPO}/blobs/{digest}", buf)
            elapsed = time.perf_counter() - t0
            if status != 200 or got != size:
                raise RuntimeError(f"blob GET: HTTP {status}, {got:,} of {size:,} bytes")
            if run:
                rates.append(size / 1e6 / elapsed)
    finally:
        client.close()
    return _rate_cell(rates), location


def raw_pull(location: str, size: int, runs: int) -> Cell:
    """GETs of a presigned URL straight from the store: what the bucket serves alone."""
    buf = memoryview(bytearray(1 << 20))
    rates = []
    for _ in range(runs):
        t0 = time.perf_counter()
        status, got = download_url(location, buf)
        elapsed = time.perf_counter() - t0
        if status != 200 or got != size:
            raise RuntimeError(f"presigned GET: HTTP {status}, {got:,} of {size:,} bytes")
        rates.append(size / 1e6 / elapsed)
    return _rate_cell(rates)
