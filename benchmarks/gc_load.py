"""The client load that runs while Dockyard collects: threads pushing small images into new
repositories and threads pulling seeded images, each operation's end time recorded so a
rate can be read for any window (before GC, during GC)."""

from __future__ import annotations

import bisect
import json
import os
import random
import threading
import time
from dataclasses import dataclass, field

from benchmarks import gc_content
from benchmarks.oci import MANIFEST_TYPE, Client, make_image, sha256_digest
from benchmarks.registries import Registry

__all__ = ["Load", "Window"]

_LAYER_BYTES = 4096
_PULL_BUFFER = 1 << 16


@dataclass(frozen=True, slots=True)
class Window:
    started: float
    ended: float

    @property
    def seconds(self) -> float:
        return self.ended - self.started


@dataclass(slots=True)
class _Kind:
    done: list[float] = field(default_factory=list)  # monotonic end times, in order per thread
    errors: int = 0
    first_error: str = ""


class Load:
    """`pushers` threads push a config + 4 KiB layer image each into a new repository
    `load/p<t>-<n>`; `pullers` threads pull the `v2` image (manifest, config, four layers) of
    a random seeded repository. Use as a context manager."""

    def __init__(self, registry: Registry, repositories: int, pushers: int, pullers: int) -> None:
        self._registry = registry
        self._repositories = repositories
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self.push = _Kind()
        self.pull = _Kind()
        self.pushed_digests: list[str] = []  # layers and configs the pushes added
        self._threads = [
            threading.Thread(target=self._pusher, args=(t,), name=f"push-{t}", daemon=True)
            for t in range(pushers)
        ] + [
            threading.Thread(target=self._puller, args=(t,), name=f"pull-{t}", daemon=True)
            for t in range(pullers)
        ]

    def __enter__(self) -> Load:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(60)

    def _record(self, kind: _Kind, error: Exception | None) -> None:
        with self._lock:
            if error is None:
                kind.done.append(time.monotonic())
            else:
                kind.errors += 1
                kind.first_error = kind.first_error or f"{type(error).__name__}: {error}"[:200]

    def _pusher(self, t: int) -> None:
        client = self._registry.client()
        n = 0
        try:
            while not self._stop.is_set():
                name = f"load/p{t}-{n:06d}"
                n += 1
                layer = os.urandom(_LAYER_BYTES)
                digest = sha256_digest(layer)
                image = make_image([(digest, len(layer))])
                try:
                    client.push_blob(name, layer, digest)
                    client.push_image(name, "v1", image)
                except Exception as exc:
                    client.close()
                    self._record(self.push, exc)
                    continue
                with self._lock:
                    self.pushed_digests += [digest, image.config_digest]
                self._record(self.push, None)
        finally:
            client.close()

    def _puller(self, t: int) -> None:
        client = self._registry.client()
        rng = random.Random(t)
        buf = memoryview(bytearray(_PULL_BUFFER))
        try:
            while not self._stop.is_set():
                name = gc_content.repo_name(rng.randrange(self._repositories))
                try:
                    self._pull(client, name, buf)
                except Exception as exc:
                    client.close()
                    self._record(self.pull, exc)
                    continue
                self._record(self.pull, None)
        finally:
            client.close()

    @staticmethod
    def _pull(client: Client, name: str, buf: memoryview) -> None:
        resp = client.request("GET", f"/v2/{name}/manifests/v2", {"Accept": MANIFEST_TYPE})
        if resp.status != 200:
            raise RuntimeError(f"GET {name}:v2 manifest: HTTP {resp.status}")
        doc = json.loads(resp.body)
        for descriptor in (doc["config"], *doc["layers"]):
            status, size = client.download(f"/v2/{name}/blobs/{descriptor['digest']}", buf)
            if status != 200 or size != descriptor["size"]:
                raise RuntimeError(f"GET {name} blob: HTTP {status}, {size} bytes")

    @staticmethod
    def rate(kind: _Kind, window: Window) -> float:
        """Operations per second that ended inside the window."""
        done = sorted(kind.done)
        inside = bisect.bisect_right(done, window.ended) - bisect.bisect_left(done, window.started)
        return inside / window.seconds if window.seconds > 0 else 0.0
