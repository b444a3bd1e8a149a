"""Promotion and the environments board (issue 11's performance targets): promoting an
image of a 10-platform index with 50 layers per platform takes under 100 ms of server
time; the board renders in ≤ 100 ms with 10,000 applications.

`.venv/bin/python -m benchmarks.promotion [--applications N] [--promotions N]`

The board's applications are seeded straight into a freshly migrated SQLite database, as
benchmarks.scale seeds (through the API it would take many minutes): every application
in dev and test, half of them in prod, a tag each, test's digest the same as dev's for
half of them (the rest "waiting"). The promoted indexes are pushed through `/v2` (the
layers are 1 KiB each: a promotion links blobs, so their size does not matter) and each
is promoted dev → test once; a request's time on a keep-alive loopback client is the
server's time plus a loopback round trip. Peers have no promotion or board: Dockyard only.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import sqlite3
import statistics
import tempfile
import time
from pathlib import Path

from benchmarks.oci import Client
from benchmarks.procs import ServerProcess, free_port
from benchmarks.registries import REPO_ROOT, basic
from benchmarks.scale import _console_client, _time
from dockyard.metadata.db import Database

_ADMIN_PASSWORD = "promotion-admin-password"  # noqa: S105 - a throwaway benchmark server
_OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
_OCI_INDEX = "application/vnd.oci.image.index.v1+json"
_PLATFORMS = 10
_LAYERS = 50


def _sha(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def seed_board(db_path: Path, applications: int) -> float:
    """dev/app-N, test/app-N for every N, prod/app-N for even N; a tag `1.0` each."""
    started = time.monotonic()
    conn = sqlite3.connect(db_path)
    conn.execute("PRAGMA synchronous=OFF")
    now = int(time.time())
    rows: list[tuple[int, str, str, str]] = []  # repository id, name, namespace, digest
    for i in range(applications):
        dev = _sha(f"dev-{i}".encode())
        test = dev if i % 2 == 0 else _sha(f"test-{i}".encode())
        placed = [("dev", dev), ("test", test)] + ([("prod", test)] if i % 2 == 0 else [])
        for env, digest in placed:
            rows.append((len(rows) + 1, f"{env}/shop/app-{i:05d}", env, digest))
    with conn:
        conn.executemany(
            "INSERT INTO namespace (name, policy, created_at) VALUES (?, 'private', ?)",
            [(env, now) for env in ("dev", "test", "prod")],
        )
        conn.executemany(
            "INSERT INTO repository (id, name, namespace, created_at, pushed_at, stored_bytes) "
            "VALUES (?, ?, ?, ?, ?, 0)", [(i, name, ns, now, now) for i, name, ns, _ in rows],
        )  # fmt: skip
        conn.executemany(
            "INSERT INTO manifest (id, repository_id, digest, media_type, payload, size, "
            "created_at, pushed_by) VALUES (?, ?, ?, ?, ?, 2, ?, 'admin')",
            [(i, i, digest, _OCI_MANIFEST, b"{}", now) for i, _, _, digest in rows],
        )  # fmt: skip
        conn.executemany(
            "INSERT INTO tag (repository_id, name, manifest_id, updated_at, immutable) "
            "VALUES (?, '1.0', ?, ?, 0)", [(i, i, now) for i, _, _, _ in rows],
        )  # fmt: skip
        conn.execute("UPDATE access_state SET generation = generation + 1")
    conn.execute("ANALYZE")
    conn.close()
    return time.monotonic() - started


def _push_index(client: Client, repo: str, seed: int) -> str:
    """A 10-platform index of 50-layer images into `repo`, tagged 1.0; its digest."""
    children = []
    for platform in range(_PLATFORMS):
        config = json.dumps({"os": "linux", "architecture": f"arch{platform}",
                             "seed": f"{seed}-{platform}"}).encode()  # fmt: skip
        client.push_blob(repo, config, _sha(config))
        layers = []
        for _ in range(_LAYERS):
            data = os.urandom(1024)
            client.push_blob(repo, data, _sha(data))
            layers.append({"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                           "digest": _sha(data), "size": len(data)})  # fmt: skip
        manifest = json.dumps({
            "schemaVersion": 2, "mediaType": _OCI_MANIFEST,
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                       "digest": _sha(config), "size": len(config)},
            "layers": layers,
        }).encode()  # fmt: skip
        client.put_manifest(repo, _sha(manifest), manifest)
        platform_of = {"os": "linux", "architecture": f"arch{platform}"}
        children.append({"mediaType": _OCI_MANIFEST, "digest": _sha(manifest),
                         "size": len(manifest), "platform": platform_of})  # fmt: skip
    index = json.dumps({"schemaVersion": 2, "mediaType": _OCI_INDEX,
                        "manifests": children}).encode()  # fmt: skip
    r = client.request("PUT", f"/v2/{repo}/manifests/1.0", {"Content-Type": _OCI_INDEX}, index)
    if r.status != 201:
        raise RuntimeError(f"index push: HTTP {r.status}")
    return _sha(index)


def _promotions(client: Client, count: int) -> list[float]:
    samples = []
    for n in range(count):
        repo = f"dev/big/app-{n}"
        _push_index(client, repo, n)
        body = json.dumps({"source": f"{repo}:1.0", "to": "test"}).encode()
        t0 = time.perf_counter()
        r = client.request("POST", "/api/v1/promotions", {"Content-Type": "application/json"},
                           body)  # fmt: skip
        samples.append((time.perf_counter() - t0) * 1000)
        if r.status != 201:
            raise RuntimeError(f"promotion: HTTP {r.status}: {r.body[:300]!r}")
        done = json.loads(r.body)
        if done["manifests"] != _PLATFORMS + 1:
            raise RuntimeError(f"promotion stored {done['manifests']} manifests")
    return samples


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else "")
    parser.add_argument("--applications", type=int, default=10_000)
    parser.add_argument("--promotions", type=int, default=5)
    parser.add_argument("--requests", type=int, default=30)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="dockyard-promotion-"))
    try:
        data = work / "data"
        data.mkdir()
        db = Database(f"sqlite:///{data / 'dockyard.db'}")
        db.migrate()
        db.close()
        seconds = seed_board(data / "dockyard.db", args.applications)
        print(f"seeded {args.applications} applications in {seconds:.1f} s")
        port = free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith("DOCKYARD_")}
        env.update(DOCKYARD_ADMIN_PASSWORD=_ADMIN_PASSWORD, DOCKYARD_ACCESS_LOG="false")
        server = ServerProcess("dockyard", [str(REPO_ROOT / ".venv/bin/dockyard"), "serve",
                               "--port", str(port), "--data-dir", str(data)],
                               work / "server.log", env)  # fmt: skip
        server.start()
        try:
            server.wait_http(port, "/v2/")
            admin = Client(port, basic("admin", _ADMIN_PASSWORD))
            promoted = _promotions(admin, args.promotions)
            api = _time(admin, "/api/v1/environments/board", args.requests)
            later = _time(admin, "/api/v1/environments/board?offset=5000", args.requests)
            console = _console_client(port, "admin", _ADMIN_PASSWORD)
            page = _time(console, "/environments", args.requests)
        finally:
            server.stop()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print("| what | median ms | p99 / max ms |\n|---|---:|---:|")
    print(f"| promote a {_PLATFORMS}-platform index, {_LAYERS} layers each, dev → test "
          f"({args.promotions} promotions) | {statistics.median(promoted):.1f} | "
          f"{max(promoted):.1f} |")  # fmt: skip
    for label, (median, p99, status) in (
        (f"board API, first page of {args.applications} applications", api),
        ("board API, page at offset 5,000", later),
        ("console /environments, first page", page),
    ):
        print(f"| {label} (HTTP {status}) | {median:.1f} | {p99:.1f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
