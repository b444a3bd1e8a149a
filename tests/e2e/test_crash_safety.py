"""A server killed with SIGKILL mid-upload leaves no visible partial blob, and the client can
resume (or restart) the push after the restart and finish with the right digest."""

from __future__ import annotations

import hashlib
import random
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from fixtures.servers import StartServer

GIB = 1 << 30
CHUNK = 1 << 20


def _chunks(total: int, seed: int) -> Iterator[bytes]:
    rng = random.Random(seed)  # noqa: S311 - reproducible test data, not a secret
    for _ in range(total // CHUNK):
        yield rng.randbytes(CHUNK)


def _digest(total: int, seed: int) -> str:
    hasher = hashlib.sha256()
    for chunk in _chunks(total, seed):
        hasher.update(chunk)
    return "sha256:" + hasher.hexdigest()


def _blob_files(data_dir: Path) -> list[Path]:
    return [p for p in (data_dir / "blobs").rglob("*") if p.is_file()]


@pytest.mark.slow
def test_sigkill_mid_upload_then_resume(dockyard_factory: StartServer) -> None:
    server = dockyard_factory()
    digest = _digest(GIB, seed=7)
    name = "crash/big"
    client = httpx.Client(base_url=server.url, auth=(server.username, server.password),
                          timeout=120)  # fmt: skip
    start = client.post(f"/v2/{name}/blobs/uploads/")
    assert start.status_code == 202
    location = start.headers["location"]

    # A first chunk that completes: its bytes are durable and recorded.
    first = b"".join(_chunks(64 * CHUNK, seed=7))
    r = client.patch(location, content=first, headers={"Content-Range": f"0-{len(first) - 1}"})
    assert r.status_code == 202

    # Then stream the rest and kill the server while the bytes are flowing.
    sent = 0

    def body() -> Iterator[bytes]:
        nonlocal sent
        for i, chunk in enumerate(_chunks(GIB, seed=7)):
            if i < 64:
                continue
            sent += len(chunk)
            yield chunk

    def kill_when_flowing() -> None:
        _wait_for(lambda: sent > 256 * CHUNK)
        server.kill()

    killer = threading.Thread(target=kill_when_flowing)
    killer.start()
    with pytest.raises(httpx.TransportError):
        client.patch(location, content=body())
    killer.join()

    assert _blob_files(server.data_dir) == []  # nothing visible, not even a partial blob
    server.start()
    client.close()
    client = httpx.Client(base_url=server.url, auth=(server.username, server.password),
                          timeout=120)  # fmt: skip
    assert client.head(f"/v2/{name}/blobs/{digest}").status_code == 404

    # The session survived: it reports the durable offset, and the client resumes from there.
    status = client.get(location)
    assert status.status_code == 204
    resume_at = int(status.headers["range"].split("-")[1]) + 1
    assert resume_at == len(first)

    def rest() -> Iterator[bytes]:
        for i, chunk in enumerate(_chunks(GIB, seed=7)):
            if i * CHUNK >= resume_at:
                yield chunk

    r = client.patch(location, content=rest(),
                     headers={"Content-Range": f"{resume_at}-{GIB - 1}"})  # fmt: skip
    assert r.status_code == 202, r.text
    done = client.put(location, params={"digest": digest})
    assert done.status_code == 201, done.text
    head = client.head(f"/v2/{name}/blobs/{digest}")
    assert (head.status_code, int(head.headers["content-length"])) == (200, GIB)
    assert [p.name for p in _blob_files(server.data_dir)] == [digest.split(":")[1]]
    client.close()


def _wait_for(condition: Callable[[], bool], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.01)
