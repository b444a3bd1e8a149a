"""The S3 blob store against a local SeaweedFS: one 256 MiB blob written, committed and read
back through the driver, at the default part size (multipart) and with one part as large as
the blob (a single PUT), beside boto3 alone (the server's ceiling), then pushed and pulled
through a Dockyard server, streamed and redirected.

    .venv/bin/python -m benchmarks.s3store [--mib 256]

Prints a table; needs .cache/bin/weed (scripts/install-test-deps). Numbers are MB/s (10^6).
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import os
import secrets
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path

import boto3
import httpx
from botocore.config import Config

from benchmarks import seaweedfs
from benchmarks.procs import free_port
from dockyard.storage.s3 import S3BlobStore, S3Options

ROOT = Path(__file__).resolve().parents[1]
WEED = seaweedfs.WEED
_WRITE = 4 * 1024 * 1024  # what the upload service hands the writer at a time
_READ = 1024 * 1024


@contextlib.contextmanager
def _seaweedfs(directory: Path) -> Iterator[S3Options]:
    with seaweedfs.running(directory / "seaweedfs") as store:
        yield S3Options(bucket=store.bucket, endpoint_url=store.endpoint_url,
                        access_key=store.access_key, secret_key=store.secret_key)  # fmt: skip


def _rate(size: int, seconds: float) -> str:
    return f"{size / seconds / 1e6:7.0f}"


def _timed(action: Callable[[], object]) -> float:
    start = time.perf_counter()
    action()
    return time.perf_counter() - start


def _driver(options: S3Options, data: bytes, part_size: int, label: str) -> list[tuple[str, str]]:
    prefix = f"bench-{secrets.token_hex(4)}"
    store = S3BlobStore(replace(options, part_size=part_size, redirect=True, prefix=prefix))
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    upload = secrets.token_hex(8)
    store.create_upload(upload)
    view = memoryview(data)

    def write() -> None:
        writer = store.open_upload(upload)
        writer.seek(0)
        for start in range(0, len(data), _WRITE):
            writer.write(bytes(view[start : start + _WRITE]))
        writer.flush()
        writer.close()

    def rehash() -> None:
        hasher = hashlib.sha256()
        for chunk in store.read_upload(upload, len(data)):
            hasher.update(chunk)

    def read() -> None:
        with store.open_blob(digest) as handle:
            while handle.read(_READ):
                pass

    def presigned() -> None:
        url = store.redirect_url(digest)
        if url is None:
            raise RuntimeError("the store gave no presigned URL")
        with httpx.stream("GET", url) as response:
            for _ in response.iter_bytes(_READ):
                pass

    rows = [(f"{label}: write + flush", _rate(len(data), _timed(write)))]
    rows.append((f"{label}: read_upload (re-hash)", _rate(len(data), _timed(rehash))))
    commit = _timed(lambda: store.commit_upload(upload, len(data), digest))
    rows.append((f"{label}: commit (prepare + place), s", f"{commit:7.2f}"))
    rows.append((f"{label}: open_blob read", _rate(len(data), _timed(read))))
    rows.append((f"{label}: presigned GET (httpx)", _rate(len(data), _timed(presigned))))
    return rows


def _ceiling(options: S3Options, data: bytes) -> list[tuple[str, str]]:
    client = boto3.session.Session().client(
        "s3", endpoint_url=options.endpoint_url, region_name="us-east-1",
        aws_access_key_id=options.access_key, aws_secret_access_key=options.secret_key,
        config=Config(
            s3={"addressing_style": "path"}, request_checksum_calculation="when_required"
        ),
    )  # fmt: skip
    put = _timed(lambda: client.put_object(Bucket="bench", Key="ceiling", Body=data))

    def get() -> None:
        body = client.get_object(Bucket="bench", Key="ceiling")["Body"]
        while body.read(_READ):
            pass

    return [("boto3 put_object, one request", _rate(len(data), put)),
            ("boto3 get_object", _rate(len(data), _timed(get)))]  # fmt: skip


def _through_dockyard(options: S3Options, data: bytes, directory: Path) -> list[tuple[str, str]]:
    rows = []
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    for redirect in (False, True):
        port = free_port()
        password = secrets.token_urlsafe(12)
        env = {k: v for k, v in os.environ.items() if not k.startswith("DOCKYARD_")}
        env.update({
            "DOCKYARD_ADMIN_PASSWORD": password, "DOCKYARD_STORAGE_DRIVER": "s3",
            "DOCKYARD_S3_ENDPOINT_URL": str(options.endpoint_url), "DOCKYARD_S3_BUCKET": "bench",
            "DOCKYARD_S3_ACCESS_KEY": str(options.access_key),
            "DOCKYARD_S3_SECRET_KEY": str(options.secret_key),
            "DOCKYARD_S3_PREFIX": f"dockyard-{redirect}", "DOCKYARD_S3_REDIRECT": str(redirect),
            "DOCKYARD_ACCESS_LOG": "false",
        })  # fmt: skip
        data_dir = directory / f"dockyard-{redirect}"
        server = subprocess.Popen(
            [sys.executable, "-m", "dockyard", "serve", "--port", str(port), "--data-dir",
             str(data_dir)], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        try:
            base = f"http://127.0.0.1:{port}"
            with httpx.Client(base_url=base, auth=("admin", password), timeout=300) as http:
                for _ in range(300):
                    with contextlib.suppress(httpx.HTTPError):
                        if http.get("/healthz").status_code == 200:
                            break
                    time.sleep(0.2)
                label = "redirect" if redirect else "stream"
                if not redirect:
                    push = _timed(lambda: http.post(
                        "/v2/bench/big/blobs/uploads/", params={"digest": digest}, content=data
                    ).raise_for_status())  # fmt: skip
                    rate = _rate(len(data), push)
                    rows.append(("Dockyard monolithic push (POST ?digest=)", rate))
                else:
                    http.post("/v2/bench/big/blobs/uploads/", params={"digest": digest},
                              content=data).raise_for_status()  # fmt: skip

                def pull() -> None:
                    with http.stream("GET", f"/v2/bench/big/blobs/{digest}") as response:
                        if response.status_code == 307:
                            with httpx.stream("GET", response.headers["location"]) as direct:
                                for _ in direct.iter_bytes(_READ):
                                    pass
                        else:
                            for _ in response.iter_bytes(_READ):
                                pass

                rows.append((f"Dockyard blob GET, {label}", _rate(len(data), _timed(pull))))
        finally:
            server.send_signal(signal.SIGTERM)
            server.wait(30)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mib", type=int, default=256)
    args = parser.parse_args()
    size = args.mib * 1024 * 1024
    data = os.urandom(size)
    with tempfile.TemporaryDirectory() as tmp, _seaweedfs(Path(tmp)) as options:
        rows = _ceiling(options, data)
        rows += _driver(options, data, 16 * 1024 * 1024, "16 MiB parts (multipart)")
        rows += _driver(options, data, size, "one part (single PUT)")
        rows += _through_dockyard(options, data, Path(tmp))
    print(f"{args.mib} MiB blob, SeaweedFS {WEED.name} on loopback; MB/s unless noted")
    for name, value in rows:
        print(f"  {name:<58} {value}")


if __name__ == "__main__":
    main()
