"""Seeding through the HTTP API, concurrently: one keep-alive connection per worker thread."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor

from benchmarks.oci import Client, make_image
from benchmarks.registries import Registry

__all__ = ["REPO_FMT", "TAG_FMT", "parallel", "seed_repositories", "seed_tags"]

REPO_FMT = "bench/r{:05d}"
TAG_FMT = "t{:05d}"
_BATCH = 50


def parallel(
    registry: Registry,
    items: Sequence[int],
    work: Callable[[Client, int], None],
    repositories: Callable[[Sequence[int]], list[str]],
    workers: int,
    deadline: float,
    batch_size: int = _BATCH,
) -> None:
    """Run `work(client, item)` for every item on `workers` threads; stop at `deadline`.

    Items go in batches of `batch_size`; each batch's client is authorised for
    `repositories(batch)`. Fewer batches than workers leave workers idle.
    """
    local = threading.local()
    clients: list[Client] = []
    lock = threading.Lock()
    stop = threading.Event()

    def run_batch(batch: Sequence[int]) -> None:
        client = getattr(local, "client", None)
        if client is None:
            client = local.client = registry.client()
            with lock:
                clients.append(client)
        client.authorization = registry.seed_authorization(repositories(batch))
        for item in batch:
            if stop.is_set():
                return
            if time.monotonic() > deadline:
                raise TimeoutError("seeding ran past its time limit")
            work(client, item)

    batches = [items[i : i + batch_size] for i in range(0, len(items), batch_size)]
    try:
        with ThreadPoolExecutor(workers, thread_name_prefix="seed") as pool:
            futures = [pool.submit(run_batch, b) for b in batches]
            try:
                for future in futures:
                    future.result()
            except BaseException:
                # One batch failed or we were interrupted: the others stop at their next item.
                stop.set()
                for future in futures:
                    future.cancel()
                raise
    finally:
        for client in clients:
            client.close()


def seed_repositories(registry: Registry, count: int, workers: int, limit_s: float) -> float:
    """`count` repositories bench/r00000…, each with a config-only image tagged t00000.

    The config blob is pushed once and cross-repository mounted everywhere else (pushed where
    a registry refuses the mount). Returns the seconds it took.
    """
    image = make_image([])
    first = REPO_FMT.format(0)
    started = time.monotonic()
    client = registry.client(registry.seed_authorization([first]))
    try:
        client.push_image(first, TAG_FMT.format(0), image)
    finally:
        client.close()

    def one(c: Client, i: int) -> None:
        name = REPO_FMT.format(i)
        c.mount_or_push(name, image.config, image.config_digest, first)
        c.put_manifest(name, TAG_FMT.format(0), image.manifest)

    def repositories(batch: Sequence[int]) -> list[str]:
        return [first, *(REPO_FMT.format(i) for i in batch)]

    parallel(registry, range(1, count), one, repositories, workers, started + limit_s)
    return time.monotonic() - started


def seed_tags(
    registry: Registry, repository: str, count: int, workers: int, limit_s: float
) -> float:
    """Tags t00001… on `repository` (which already has t00000), all on the same manifest."""
    client = registry.client(registry.seed_authorization([repository]))
    try:
        resp = client.request(
            "GET",
            f"/v2/{repository}/manifests/{TAG_FMT.format(0)}",
            {"Accept": "application/vnd.oci.image.manifest.v1+json"},
        )
    finally:
        client.close()
    if resp.status != 200:
        raise RuntimeError(f"GET manifest of {repository}: HTTP {resp.status}")
    manifest = resp.body
    started = time.monotonic()

    def one(c: Client, i: int) -> None:
        c.put_manifest(repository, TAG_FMT.format(i), manifest)

    parallel(registry, range(1, count), one, lambda _: [repository], workers, started + limit_s)
    return time.monotonic() - started
