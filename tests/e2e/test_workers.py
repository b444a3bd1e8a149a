"""Several worker processes share one registry: an upload may continue on any of them."""

from __future__ import annotations

import hashlib
import os

import httpx

from fixtures.servers import StartServer


def test_chunked_upload_across_workers(dockyard_factory: StartServer) -> None:
    server = dockyard_factory(extra_args=["--workers", "2"])
    auth = (server.username, server.password)
    name = "workers/upload"
    chunks = [os.urandom(256 * 1024) for _ in range(24)]
    data = b"".join(chunks)
    digest = "sha256:" + hashlib.sha256(data).hexdigest()

    def fresh() -> httpx.Client:
        # A new connection per request lets the kernel hand it to either worker.
        return httpx.Client(base_url=server.url, auth=auth, timeout=60,
                            headers={"Connection": "close"})  # fmt: skip

    with fresh() as client:
        location = client.post(f"/v2/{name}/blobs/uploads/").headers["location"]
    offset = 0
    for chunk in chunks:
        with fresh() as client:
            content_range = f"{offset}-{offset + len(chunk) - 1}"
            r = client.patch(location, content=chunk, headers={"Content-Range": content_range})
            assert r.status_code == 202, r.text
            offset += len(chunk)
            assert r.headers["range"] == f"0-{offset - 1}"
    with fresh() as client:
        r = client.put(location, params={"digest": digest})
        assert r.status_code == 201, r.text
    with fresh() as client:
        assert client.get(f"/v2/{name}/blobs/{digest}").content == data
        metrics = client.get("/metrics").text
    assert "dockyard_http_requests_total" in metrics
