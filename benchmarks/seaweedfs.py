"""A local SeaweedFS (`weed server`: master, volume, filer and S3 gateway in one process) with
one bucket, for the benchmarks that measure S3-backed registries.

The S3 gateway knows one identity (`-s3.config`), so every request is signed. SeaweedFS serves
gRPC on each HTTP port + 10000, so each port is chosen with its companion free too. Built by
scripts/install-test-deps into .cache/bin/weed.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import boto3
from botocore.config import Config

from benchmarks.procs import ServerProcess, free_port
from benchmarks.registries import run_text

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

__all__ = ["WEED", "SeaweedFS", "running", "version"]

WEED = Path(__file__).resolve().parents[1] / ".cache" / "bin" / "weed"
_GRPC_OFFSET = 10_000
_STARTUP_TIMEOUT = 90.0
_WARM_OBJECT = 16 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class SeaweedFS:
    """Where the S3 gateway listens and how to sign requests to it."""

    endpoint_url: str
    access_key: str
    secret_key: str
    bucket: str
    pid: int
    region: str = "us-east-1"

    def client(self) -> S3Client:
        return boto3.session.Session().client(
            "s3",
            endpoint_url=self.endpoint_url,
            region_name=self.region,
            aws_access_key_id=self.access_key,
            aws_secret_access_key=self.secret_key,
            config=Config(
                s3={"addressing_style": "path"}, request_checksum_calculation="when_required"
            ),
        )


def version() -> str:
    if not WEED.is_file():
        return "not installed"
    # `weed version` prints the build's size and number ("version 30GB 4.53 linux amd64").
    return run_text([str(WEED), "version"]) or "unknown"


def _port_pair() -> int:
    """A free port whose gRPC companion (port + 10000) is free too."""
    for _ in range(200):
        port = free_port()
        if port + _GRPC_OFFSET >= 65_536:
            continue
        with contextlib.suppress(OSError), socket.create_server(("127.0.0.1", port + _GRPC_OFFSET)):
            return port
    raise RuntimeError("no free port pair (port, port + 10000) on 127.0.0.1")


def _wait_ready(server: ServerProcess, store: SeaweedFS, warm_objects: int) -> None:
    """Create the bucket once the gateway answers, then write `warm_objects` objects of
    16 MiB: the first writes make SeaweedFS allocate volumes, at a fifth of the warm rate."""
    client = store.client()
    deadline = time.monotonic() + _STARTUP_TIMEOUT
    while True:
        try:
            client.create_bucket(Bucket=store.bucket)
            break
        except Exception:
            if time.monotonic() > deadline or server.proc is None or server.proc.poll() is not None:
                raise RuntimeError(f"SeaweedFS not ready:\n{server.log_tail()}") from None
            time.sleep(0.5)
    warm = os.urandom(_WARM_OBJECT)
    for n in range(warm_objects):
        client.put_object(Bucket=store.bucket, Key=f"warm/{n}", Body=warm)
    for n in range(warm_objects):
        client.delete_object(Bucket=store.bucket, Key=f"warm/{n}")


@contextlib.contextmanager
def running(directory: Path, bucket: str = "bench", warm_objects: int = 8) -> Iterator[SeaweedFS]:
    """A SeaweedFS with its data, config and log in `directory`, stopped on the way out."""
    if not WEED.is_file():
        raise RuntimeError(f"{WEED.name} not found in .cache/bin: run scripts/install-test-deps")
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "data").mkdir(exist_ok=True)
    keys = {"accessKey": "bench", "secretKey": secrets.token_urlsafe(18)}
    identity = {
        "name": "bench",
        "credentials": [keys],
        "actions": ["Admin", "Read", "Write", "List"],
    }
    config = directory / "s3.json"
    config.write_text(json.dumps({"identities": [identity]}))
    master, volume, filer, s3 = (_port_pair() for _ in range(4))
    argv = [
        str(WEED), "server", f"-dir={directory / 'data'}", "-ip=127.0.0.1", "-ip.bind=127.0.0.1",
        f"-master.port={master}", f"-volume.port={volume}", f"-filer.port={filer}",
        "-master.volumeSizeLimitMB=1024", "-s3", f"-s3.port={s3}", f"-s3.config={config}",
    ]  # fmt: skip
    server = ServerProcess("seaweedfs", argv, directory / "weed.log")
    server.start()
    try:
        store = SeaweedFS(
            f"http://127.0.0.1:{s3}", keys["accessKey"], keys["secretKey"], bucket, server.pid
        )
        _wait_ready(server, store, warm_objects)
        yield store
    finally:
        server.stop(timeout=30)
