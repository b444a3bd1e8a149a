"""A small purpose-built OCI Distribution client on `http.client`: one keep-alive connection.

Built for measuring, not for general use: bodies are sent with `socket.sendfile` and received
with `readinto` into one reused buffer, so the client costs little CPU next to the server.
"""

from __future__ import annotations

import hashlib
import http.client
import json
import os
import secrets
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO
from urllib.parse import quote, urlsplit

__all__ = [
    "MANIFEST_TYPE",
    "Client",
    "Image",
    "RegistryError",
    "download_url",
    "make_image",
    "path_of",
    "sha256_digest",
    "sha256_file",
]

MANIFEST_TYPE = "application/vnd.oci.image.manifest.v1+json"
CONFIG_TYPE = "application/vnd.oci.image.config.v1+json"
LAYER_TYPE = "application/vnd.oci.image.layer.v1.tar"
_CHUNK = 1 << 20
_REDIRECTS = (301, 302, 303, 307, 308)
_RETRYABLE = (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError)


class RegistryError(Exception):
    """A request got an answer other than the one the OCI Distribution spec prescribes."""


@dataclass(frozen=True, slots=True)
class Response:
    status: int
    headers: http.client.HTTPMessage
    body: bytes


@dataclass(frozen=True, slots=True)
class Image:
    """A config blob and a manifest that references it and the given layers."""

    config: bytes
    config_digest: str
    manifest: bytes
    manifest_digest: str


def sha256_digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(_CHUNK):
            digest.update(chunk)
    return "sha256:" + digest.hexdigest()


def make_image(layers: list[tuple[str, int]]) -> Image:
    """An OCI image manifest with a fresh random config and the given (digest, size) layers."""
    config = json.dumps(
        {
            "architecture": "amd64",
            "os": "linux",
            "config": {"Labels": {"bench.nonce": secrets.token_hex(8)}},
            "rootfs": {"type": "layers", "diff_ids": [d for d, _ in layers]},
        },
        separators=(",", ":"),
    ).encode()
    config_digest = sha256_digest(config)
    manifest = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": MANIFEST_TYPE,
            "config": {"mediaType": CONFIG_TYPE, "digest": config_digest, "size": len(config)},
            "layers": [{"mediaType": LAYER_TYPE, "digest": d, "size": s} for d, s in layers],
        },
        separators=(",", ":"),
    ).encode()
    return Image(config, config_digest, manifest, sha256_digest(manifest))


def path_of(location: str) -> str:
    """The path and query of a Location header, which may be absolute or relative."""
    parts = urlsplit(location)
    return parts.path + (f"?{parts.query}" if parts.query else "")


def _with_digest(location: str, digest: str) -> str:
    path = path_of(location)
    return f"{path}{'&' if '?' in path else '?'}digest={quote(digest)}"


class Client:
    """One keep-alive connection to a registry on 127.0.0.1, with a fixed Authorization header."""

    def __init__(self, port: int, authorization: str | None, timeout: float = 300.0) -> None:
        self.port = port
        self.authorization = authorization
        self.timeout = timeout
        self._conn: http.client.HTTPConnection | None = None

    # -- plumbing ---------------------------------------------------------------------------

    def _connection(self) -> http.client.HTTPConnection:
        if self._conn is None:
            self._conn = http.client.HTTPConnection(
                "127.0.0.1", self.port, timeout=self.timeout, blocksize=_CHUNK
            )
            self._conn.connect()
            assert self._conn.sock is not None  # noqa: S101 -- set by connect()
            self._conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return self._conn

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def _headers(self, extra: dict[str, str] | None) -> dict[str, str]:
        headers = {"Authorization": self.authorization} if self.authorization else {}
        if extra:
            headers.update(extra)
        return headers

    def _send(
        self,
        method: str,
        path: str,
        headers: dict[str, str],
        body: bytes | None,
        body_file: tuple[BinaryIO, int] | None,
    ) -> http.client.HTTPResponse:
        conn = self._connection()
        conn.putrequest(method, path, skip_accept_encoding=True)
        for name, value in headers.items():
            conn.putheader(name, value)
        if body is not None:
            conn.putheader("Content-Length", str(len(body)))
        elif body_file is not None:
            conn.putheader("Content-Length", str(body_file[1]))
        elif method in ("PUT", "POST", "PATCH"):
            conn.putheader("Content-Length", "0")
        conn.endheaders(body)
        if body_file is not None:
            f, size = body_file
            f.seek(0)
            assert conn.sock is not None  # noqa: S101 -- connected above
            sent = conn.sock.sendfile(f, 0, size)
            if sent != size:
                raise RegistryError(f"sent {sent} of {size} bytes")
        return conn.getresponse()

    def _exchange(
        self,
        method: str,
        path: str,
        headers: dict[str, str] | None = None,
        body: bytes | None = None,
        body_file: tuple[BinaryIO, int] | None = None,
    ) -> http.client.HTTPResponse:
        all_headers = self._headers(headers)
        try:
            return self._send(method, path, all_headers, body, body_file)
        except _RETRYABLE:
            # The server closed an idle keep-alive connection: one retry on a fresh one.
            self.close()
            return self._send(method, path, all_headers, body, body_file)

    def request(
        self,
        method: str,
        path: str,
        headers: dict[str, str] | None = None,
        body: bytes | None = None,
    ) -> Response:
        resp = self._exchange(method, path, headers, body)
        data = resp.read()
        if resp.will_close:
            self.close()
        return Response(resp.status, resp.headers, data)

    def download(self, path: str, buf: memoryview, hasher: Any = None) -> tuple[int, int]:
        """GET path into `buf` over and over; returns (status, body bytes). Optionally hashes."""
        resp = self._exchange("GET", path)
        total = 0
        if resp.status == 200:
            while n := resp.readinto(buf):
                total += n
                if hasher is not None:
                    hasher.update(buf[:n])
        else:
            resp.read()
        if resp.will_close:
            self.close()
        return resp.status, total

    def blob_get(self, path: str, buf: memoryview) -> tuple[int, int, str | None]:
        """GET a blob as a registry client does: a redirect (a presigned URL of the bucket) is
        followed on a new connection, without this client's Authorization. Returns the final
        status, the body bytes read into `buf` over and over, and the Location followed."""
        resp = self._exchange("GET", path)
        if resp.status not in _REDIRECTS:
            total = 0
            if resp.status == 200:
                while n := resp.readinto(buf):
                    total += n
            else:
                resp.read()
            if resp.will_close:
                self.close()
            return resp.status, total, None
        location = resp.headers["Location"]
        resp.read()
        if resp.will_close:
            self.close()
        status, total = download_url(location, buf)
        return status, total, location

    def _expect(self, resp: Response, status: int, what: str) -> Response:
        if resp.status != status:
            raise RegistryError(
                f"{what}: HTTP {resp.status} (wanted {status}): {resp.body[:300]!r}"
            )
        return resp

    # -- OCI operations ---------------------------------------------------------------------

    def start_upload(self, repo: str) -> str:
        resp = self._expect(
            self.request("POST", f"/v2/{repo}/blobs/uploads/"), 202, f"start upload to {repo}"
        )
        return resp.headers["Location"]

    def push_blob(self, repo: str, data: bytes, digest: str) -> None:
        """Monolithic push: POST, then one PUT with the whole body and the digest."""
        location = self.start_upload(repo)
        self._expect(
            self.request(
                "PUT",
                _with_digest(location, digest),
                {"Content-Type": "application/octet-stream"},
                data,
            ),
            201,
            f"put blob {digest} to {repo}",
        )

    def push_blob_file(self, repo: str, f: BinaryIO, size: int, digest: str) -> None:
        """Monolithic push of a file's bytes, sent with sendfile."""
        location = self.start_upload(repo)
        resp = self._exchange(
            "PUT",
            _with_digest(location, digest),
            {"Content-Type": "application/octet-stream"},
            body_file=(f, size),
        )
        body = resp.read()
        if resp.will_close:
            self.close()
        if resp.status != 201:
            raise RegistryError(f"put blob to {repo}: HTTP {resp.status}: {body[:300]!r}")

    def push_chunked_file(self, repo: str, f: BinaryIO, size: int, digest: str) -> None:
        """zb's "chunk streamed" push: POST, one PATCH with the whole body, PUT with the digest."""
        location = self.start_upload(repo)
        resp = self._exchange(
            "PATCH",
            path_of(location),
            {"Content-Type": "application/octet-stream"},
            body_file=(f, size),
        )
        body = resp.read()
        if resp.will_close:
            self.close()
        if resp.status != 202:
            raise RegistryError(f"patch blob to {repo}: HTTP {resp.status}: {body[:300]!r}")
        self._expect(
            self.request("PUT", _with_digest(resp.headers["Location"], digest)),
            201,
            f"close upload of {digest} in {repo}",
        )

    def mount_or_push(self, repo: str, data: bytes, digest: str, source: str) -> None:
        """Cross-repository mount from `source`; falls back to pushing when refused (202)."""
        resp = self.request(
            "POST", f"/v2/{repo}/blobs/uploads/?mount={quote(digest)}&from={quote(source)}"
        )
        if resp.status == 201:
            return
        self._expect(resp, 202, f"mount {digest} into {repo}")
        self._expect(
            self.request(
                "PUT",
                _with_digest(resp.headers["Location"], digest),
                {"Content-Type": "application/octet-stream"},
                data,
            ),
            201,
            f"put blob {digest} to {repo}",
        )

    def put_manifest(self, repo: str, reference: str, manifest: bytes) -> None:
        self._expect(
            self.request(
                "PUT",
                f"/v2/{repo}/manifests/{reference}",
                {"Content-Type": MANIFEST_TYPE},
                manifest,
            ),
            201,
            f"put manifest {repo}:{reference}",
        )

    def push_image(self, repo: str, tag: str, image: Image) -> None:
        """Config blob and manifest; the layers must already be in `repo`."""
        self.push_blob(repo, image.config, image.config_digest)
        self.put_manifest(repo, tag, image.manifest)


def download_url(url: str, buf: memoryview) -> tuple[int, int]:
    """GET an absolute http:// URL on a connection of its own; returns (status, body bytes)."""
    parts = urlsplit(url)
    if parts.scheme != "http" or parts.hostname is None:
        raise RegistryError(f"only plain http:// URLs are fetched here: {url[:80]}")
    conn = http.client.HTTPConnection(parts.hostname, parts.port or 80, blocksize=_CHUNK)
    try:
        conn.putrequest("GET", path_of(url), skip_accept_encoding=True)
        conn.endheaders()
        resp = conn.getresponse()
        total = 0
        while n := resp.readinto(buf):
            total += n
        return resp.status, total
    finally:
        conn.close()


def read_blob_file(path: Path) -> BinaryIO:
    """Open a blob file for sendfile (unbuffered, so seek/sendfile see the real offset)."""
    return open(path, "rb", buffering=0)


def write_random_file(path: Path, size: int, random_prefix: int | None = None) -> str:
    """Write `size` bytes (all random, or random only for the first `random_prefix` bytes,
    zeros after, as zb does) and return the sha256 digest."""
    digest = hashlib.sha256()
    with path.open("wb") as f:
        if random_prefix is not None:
            head = os.urandom(min(random_prefix, size))
            f.write(head)
            digest.update(head)
            zeros = bytes(min(_CHUNK, size))
            left = size - len(head)
            while left > 0:
                piece = zeros[: min(left, _CHUNK)]
                f.write(piece)
                digest.update(piece)
                left -= len(piece)
        else:
            left = size
            while left > 0:
                piece = os.urandom(min(left, 4 * _CHUNK))
                f.write(piece)
                digest.update(piece)
                left -= len(piece)
    return "sha256:" + digest.hexdigest()
