"""The push/pull mixes of zot's `zb` benchmark, re-implemented (same names, sizes and mixes).

As in zb (project-zot/zot cmd/zb): blobs of 1, 10 and 100 MiB, each random in its first 4 KiB
and zeros after; `-c 10 -n 100` means 10 concurrent clients, 100 operations in all. One
operation is:
- push: POST + monolithic PUT of the layer into a new repository, POST + PUT of a config,
  PUT of the manifest;
- chunked push: the same with each blob sent as POST, one PATCH, PUT `?digest=`;
- pull: HEAD + GET manifest, HEAD + GET config, HEAD + GET layer.
Each client draws sizes and push/pull from its own seeded generator, so every registry gets
the same sequence.
"""

from __future__ import annotations

import json
import random
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from benchmarks.oci import MANIFEST_TYPE, Client, make_image, read_blob_file, write_random_file
from benchmarks.options import Options
from benchmarks.procs import RssSampler
from benchmarks.registries import Registry
from benchmarks.results import Cell, Results, fmt_rate

__all__ = ["SIZES", "TESTS", "describe", "make_blobs", "rows", "run"]

GROUP = "zb"
MIB = 1 << 20
SIZES = (1 * MIB, 10 * MIB, 100 * MIB)
_LABEL = {1 * MIB: "1MB", 10 * MIB: "10MB", 100 * MIB: "100MB"}
RSS_ROW = "peak server RSS during the mixes, MB"


@dataclass(frozen=True, slots=True)
class ZbTest:
    name: str
    kind: str  # "push", "push-chunk", "pull" or "mixed" (pull_share pulls, the rest pushes)
    sizes: tuple[int, ...]
    weights: tuple[float, ...]
    pull_share: float = 0.0


TESTS = (
    ZbTest("Push Monolith Mixed 20% 1MB, 70% 10MB, 10% 100MB", "push", SIZES, (0.2, 0.7, 0.1)),
    ZbTest("Push Chunk Mixed 33% 1MB, 33% 10MB, 33% 100MB", "push-chunk", SIZES, (1, 1, 1)),
    ZbTest("Pull Mixed 20% 1MB, 70% 10MB, 10% 100MB", "pull", SIZES, (0.2, 0.7, 0.1)),
    *(ZbTest(f"Pull 75% and Push 25% Mixed {_LABEL[s]}", "mixed", (s,), (1,), 0.75) for s in SIZES),
)


def rows(opts: Options) -> list[str]:
    return [t.name for t in TESTS] + [RSS_ROW]


def describe(results: Results, opts: Options) -> None:
    results.group(
        GROUP,
        f"zb mixes: {opts.zb_concurrency} concurrent clients, {opts.zb_requests} operations",
        "MB/s of layer bytes moved (operations/s, p99 latency of one operation). Python "
        "re-implementation of zot's `zb` tests of the same names (zb could not be built here); "
        "each client is a thread with its own keep-alive connection, bodies sent with "
        "`sendfile`; admin with Basic auth.",
    )


def make_blobs(directory: Path) -> dict[int, tuple[Path, str]]:
    """zb's test blobs: 4 KiB of random bytes, then zeros; sha256 computed up front."""
    blobs = {}
    for size in SIZES:
        path = directory / f"zb-{size}.blob"
        blobs[size] = (path, write_random_file(path, size, random_prefix=4096))
    return blobs


@dataclass(slots=True)
class _Stats:
    latencies: list[float]
    moved: int = 0
    errors: int = 0
    first_error: str = ""


def _pull(client: Client, repo: str, tag: str, buf: memoryview) -> int:
    path = f"/v2/{repo}/manifests/{tag}"
    for method in ("HEAD", "GET"):
        resp = client.request(method, path, {"Accept": MANIFEST_TYPE})
        if resp.status != 200:
            raise RuntimeError(f"{method} manifest: HTTP {resp.status}")
    manifest = json.loads(resp.body)
    config = manifest["config"]["digest"]
    for method in ("HEAD", "GET"):
        resp = client.request(method, f"/v2/{repo}/blobs/{config}")
        if resp.status != 200:
            raise RuntimeError(f"{method} config: HTTP {resp.status}")
    moved = 0
    for layer in manifest["layers"]:
        blob = f"/v2/{repo}/blobs/{layer['digest']}"
        resp = client.request("HEAD", blob)
        if resp.status != 200:
            raise RuntimeError(f"HEAD layer: HTTP {resp.status}")
        status, got = client.download(blob, buf)
        if status != 200 or got != layer["size"]:
            raise RuntimeError(f"GET layer: HTTP {status}, {got} of {layer['size']} bytes")
        moved += got
    return moved


def _push(client: Client, blob: tuple[Path, str], size: int, chunked: bool, n: int) -> int:
    path, digest = blob
    repo = f"zb/{uuid.uuid4().hex}"
    with read_blob_file(path) as f:
        if chunked:
            client.push_chunked_file(repo, f, size, digest)
        else:
            client.push_blob_file(repo, f, size, digest)
    image = make_image([(digest, size)])
    client.push_blob(repo, image.config, image.config_digest)
    client.put_manifest(repo, f"tag{n}", image.manifest)
    return size


def _client_loop(
    registry: Registry,
    test: ZbTest,
    index: int,
    ops: int,
    blobs: dict[int, tuple[Path, str]],
    stats: _Stats,
    lock: threading.Lock,
    stop: threading.Event,
) -> None:
    rng = random.Random(f"{test.name}/{index}")
    client = registry.client()
    buf = memoryview(bytearray(1 << 20))
    try:
        for n in range(ops):
            if stop.is_set():
                return
            size = rng.choices(test.sizes, test.weights)[0]
            pull = test.kind == "pull" or (test.kind == "mixed" and rng.random() < test.pull_share)
            t0 = time.perf_counter()
            try:
                if pull:
                    moved = _pull(client, f"zb/pull-{_LABEL[size].lower()}", f"tag{size}", buf)
                else:
                    moved = _push(client, blobs[size], size, test.kind == "push-chunk", n)
            except Exception as exc:
                client.close()  # a half-read answer would desynchronise the connection
                with lock:
                    stats.errors += 1
                    stats.first_error = stats.first_error or f"{type(exc).__name__}: {exc}"
                continue
            with lock:
                stats.latencies.append(time.perf_counter() - t0)
                stats.moved += moved
    finally:
        client.close()


def _prepare_pulls(registry: Registry, blobs: dict[int, tuple[Path, str]]) -> None:
    client = registry.client()
    try:
        for size, (path, digest) in blobs.items():
            repo = f"zb/pull-{_LABEL[size].lower()}"
            with read_blob_file(path) as f:
                client.push_blob_file(repo, f, size, digest)
            client.push_image(repo, f"tag{size}", make_image([(digest, size)]))
    finally:
        client.close()


def run(
    registry: Registry,
    opts: Options,
    results: Results,
    blobs: dict[int, tuple[Path, str]],
) -> None:
    _prepare_pulls(registry, blobs)
    per_client = max(1, opts.zb_requests // opts.zb_concurrency)
    with RssSampler(registry.pid) as rss:
        for test in TESTS:
            stats = _Stats([])
            lock = threading.Lock()
            t0 = time.perf_counter()
            stop = threading.Event()
            with ThreadPoolExecutor(opts.zb_concurrency, thread_name_prefix="zb") as pool:
                futures = [
                    pool.submit(
                        _client_loop, registry, test, i, per_client, blobs, stats, lock, stop
                    )
                    for i in range(opts.zb_concurrency)
                ]
                try:
                    for future in futures:
                        future.result()
                except BaseException:
                    stop.set()  # interrupted: every client stops after its current operation
                    raise
            wall = time.perf_counter() - t0
            done = len(stats.latencies)
            lat = sorted(stats.latencies)
            p99 = lat[min(len(lat) - 1, len(lat) * 99 // 100)] if lat else 0.0
            rate = stats.moved / 1e6 / wall
            text = f"{fmt_rate(rate)} ({done / wall:.1f} op/s, p99 {p99:.2f} s)"
            if stats.errors:
                short = " ".join(stats.first_error.split())[:120].replace("|", "/")
                text += f" ⚠ {stats.errors} failed: {short}"
            results.set(
                GROUP,
                test.name,
                registry.key,
                Cell(text, rate, {"ops_s": done / wall, "p99_s": p99, "errors": stats.errors}),
            )
    text = f"{rss.peak_rss / 1e6:,.0f} (PSS {rss.peak_pss / 1e6:,.0f})"
    results.set(GROUP, RSS_ROW, registry.key, Cell(text, rss.peak_rss / 1e6))
