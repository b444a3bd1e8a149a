"""A client of another registry's Distribution API: tags, manifests and blobs, read only.

Used by imports (a repository that follows an upstream one) and by pull-through caches.
It answers the upstream's challenge itself: Basic, or the Docker token flow (a token per
scope, kept until shortly before it expires). Every call is bounded by timeouts; a
manifest's bytes are checked against its digest, and a blob's bytes are checked by whoever
stores them (UploadService verifies the digest), never trusted as sent.
"""

from __future__ import annotations

import base64
import hashlib
import ssl
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from urllib.parse import urljoin

import httpx

from dockyard import __version__
from dockyard.registry import mediatypes as mt
from dockyard.registry.upstream.challenges import Challenge, parse_challenge

__all__ = [
    "Upstream",
    "UpstreamClient",
    "UpstreamError",
    "UpstreamManifest",
    "UpstreamNotFound",
    "UpstreamUnavailable",
]

_MAX_MANIFEST_BYTES = 4 * 1024 * 1024
_BLOB_CHUNK = 1024 * 1024
_TOKEN_MARGIN_SECONDS = 10
_ANSWER_CHARS = 200
_ACCEPT = ", ".join(sorted(mt.MANIFEST_TYPES))


@dataclass(frozen=True, slots=True)
class Upstream:
    """Another registry, as an admin saved it (the password decrypted)."""

    name: str
    url: str  # https://host:port, or http:// for a registry without TLS
    username: str | None = None
    password: str | None = None
    verify_tls: bool = True
    ca_file: str | None = None


@dataclass(frozen=True, slots=True)
class UpstreamManifest:
    digest: str
    media_type: str
    payload: bytes


class UpstreamError(Exception):
    """The upstream refused or failed; the message says what, against which upstream."""


class UpstreamNotFound(UpstreamError):
    """The upstream has no such repository, manifest or blob (404)."""


class UpstreamUnavailable(UpstreamError):
    """The upstream could not answer now: unreachable, timed out, 5xx or rate-limited
    (429). Worth retrying later; a cache serves what it has meanwhile."""


@dataclass(slots=True)
class _Token:
    value: str
    expires: float


def _verify(upstream: Upstream) -> ssl.SSLContext | bool:
    if not upstream.verify_tls:
        return False
    if upstream.ca_file:
        return ssl.create_default_context(cafile=upstream.ca_file)
    return True


def _answer(response: httpx.Response) -> str:
    try:
        text = response.text.strip()
    except (httpx.ResponseNotRead, UnicodeDecodeError):
        text = ""
    return f": {text[:_ANSWER_CHARS]}" if text else ""


class UpstreamClient:
    def __init__(self, upstream: Upstream, *, timeout_seconds: float = 30.0) -> None:
        self.upstream = upstream
        self._base = upstream.url.rstrip("/") + "/"
        self._http = httpx.AsyncClient(
            # S501 does not apply: verification is on unless an admin turned it off
            verify=_verify(upstream),
            timeout=httpx.Timeout(timeout_seconds, connect=min(timeout_seconds, 10.0)),
            follow_redirects=True,  # blobs may live behind a presigned URL
            trust_env=False,
            headers={"User-Agent": f"dockyard/{__version__}"},
        )
        self._basic = _basic_header(upstream)
        self._tokens: dict[str, _Token] = {}
        self._challenge: Challenge | None = None

    async def aclose(self) -> None:
        await self._http.aclose()

    # -- the calls --------------------------------------------------------------------

    async def tags(self, repository: str) -> list[str]:
        """Every tag of `repository`, following the `Link` header's pages."""
        found: list[str] = []
        path: str | None = f"v2/{repository}/tags/list?n=1000"
        while path is not None:
            response = await self._send("GET", path, repository)
            await response.aread()
            self._check(response, f"tags of {repository}")
            try:
                found.extend(response.json().get("tags") or [])
            except ValueError as exc:
                raise self._error(UpstreamError, f"tags of {repository}: not JSON") from exc
            path = self._next_page(response)
        return found

    async def manifest(self, repository: str, reference: str) -> UpstreamManifest:
        """The manifest's bytes as the upstream stores them (never converted)."""
        what = f"manifest {repository}:{reference}"
        response = await self._send("GET", f"v2/{repository}/manifests/{reference}", repository,
                                    headers={"Accept": _ACCEPT}, stream=True)  # fmt: skip
        try:
            self._check(response, what)
            payload = await self._read_capped(response, what)
        finally:
            await response.aclose()
        digest = "sha256:" + hashlib.sha256(payload).hexdigest()
        claimed = response.headers.get("Docker-Content-Digest")
        expected = reference if ":" in reference else claimed
        if expected and expected.startswith("sha256:") and expected != digest:
            raise self._error(UpstreamError, f"{what}: bytes have digest {digest}, not {expected}")
        media_type = response.headers.get("Content-Type", "").split(";")[0].strip()
        return UpstreamManifest(digest, media_type, payload)

    async def manifest_digest(self, repository: str, reference: str) -> str:
        """What a tag points at now, with a HEAD (cheap; Docker Hub does not count it
        against the pull limit); a GET when the upstream does not say."""
        what = f"manifest {repository}:{reference}"
        response = await self._send("HEAD", f"v2/{repository}/manifests/{reference}", repository,
                                    headers={"Accept": _ACCEPT})  # fmt: skip
        self._check(response, what)
        digest: str | None = response.headers.get("Docker-Content-Digest")
        if digest:
            return digest
        return (await self.manifest(repository, reference)).digest

    async def blob_size(self, repository: str, digest: str) -> int:
        """The blob's size, with a HEAD (nothing is downloaded)."""
        what = f"blob {digest} of {repository}"
        response = await self._send("HEAD", f"v2/{repository}/blobs/{digest}", repository)
        self._check(response, what)
        length = response.headers.get("Content-Length", "")
        if not length.isdigit():
            raise self._error(UpstreamError, f"{what}: answered without a size")
        return int(length)

    async def open_blob(
        self, repository: str, digest: str
    ) -> tuple[int | None, AsyncIterator[bytes]]:
        """The blob's size (None when the upstream does not say) and its bytes, streamed:
        the request is answered before this returns, so a missing blob raises here."""
        what = f"blob {digest} of {repository}"
        response = await self._send("GET", f"v2/{repository}/blobs/{digest}", repository,
                                    stream=True)  # fmt: skip
        try:
            self._check(response, what)
        except BaseException:
            await response.aclose()
            raise
        length = response.headers.get("Content-Length", "")
        return (int(length) if length.isdigit() else None), self._chunks(response, what)

    async def _chunks(self, response: httpx.Response, what: str) -> AsyncIterator[bytes]:
        try:
            async for chunk in response.aiter_bytes(_BLOB_CHUNK):
                yield chunk
        except httpx.TransportError as exc:
            raise self._error(UpstreamUnavailable, f"{what}: {_reason(exc)}") from exc
        finally:
            await response.aclose()

    async def blob(self, repository: str, digest: str) -> AsyncIterator[bytes]:
        """The blob's bytes, streamed; the request starts on the first iteration."""
        _, chunks = await self.open_blob(repository, digest)
        async for chunk in chunks:
            yield chunk

    # -- HTTP and authentication ---------------------------------------------------------

    async def _send(
        self,
        method: str,
        path: str,
        repository: str,
        *,
        headers: dict[str, str] | None = None,
        stream: bool = False,
    ) -> httpx.Response:
        """One request, answering a 401 challenge once (then the upstream's no is final)."""
        url = urljoin(self._base, path)
        scope = f"repository:{repository}:pull"
        for attempt in range(2):
            request = self._http.build_request(method, url, headers=headers)
            self._authorize(request, scope)
            try:
                response = await self._http.send(request, stream=stream)
            except httpx.TransportError as exc:
                raise self._error(UpstreamUnavailable, _reason(exc)) from exc
            if response.status_code != 401 or attempt == 1:
                return response
            await response.aclose()
            challenge = parse_challenge(response.headers.get("WWW-Authenticate", ""))
            if challenge is None:
                raise self._error(UpstreamError, "asks for credentials in a way we cannot answer")
            self._challenge = challenge
            if challenge.scheme == "bearer":
                await self._fetch_token(challenge, scope)
            elif self._basic is None:
                raise self._error(UpstreamError, "needs credentials and none are saved")
        raise AssertionError("unreachable")

    def _authorize(self, request: httpx.Request, scope: str) -> None:
        challenge = self._challenge
        if challenge is None:
            return
        if challenge.scheme == "bearer":
            token = self._tokens.get(scope)
            if token is not None and token.expires > time.monotonic():
                request.headers["Authorization"] = f"Bearer {token.value}"
        elif self._basic is not None:
            request.headers["Authorization"] = self._basic

    async def _fetch_token(self, challenge: Challenge, scope: str) -> None:
        params = {"scope": challenge.scope or scope}
        if challenge.service:
            params["service"] = challenge.service
        try:
            headers = {"Authorization": self._basic} if self._basic else None
            response = await self._http.get(challenge.realm, params=params, headers=headers)
        except httpx.TransportError as exc:
            raise self._error(UpstreamUnavailable, f"token service: {_reason(exc)}") from exc
        if response.status_code in (401, 403):
            raise self._error(UpstreamError, "refused the saved credentials")
        self._check(response, "token")
        try:
            body = response.json()
            value = body.get("token") or body.get("access_token")
            lifetime = float(body.get("expires_in") or 60)
        except (ValueError, TypeError, AttributeError) as exc:
            raise self._error(UpstreamError, "token service answered without a token") from exc
        if not isinstance(value, str) or not value:
            raise self._error(UpstreamError, "token service answered without a token")
        expires = time.monotonic() + max(lifetime - _TOKEN_MARGIN_SECONDS, 1.0)
        self._tokens[scope] = _Token(value, expires)

    def _check(self, response: httpx.Response, what: str) -> None:
        status = response.status_code
        if status < 300:
            return
        if status == 404:
            raise self._error(UpstreamNotFound, f"{what}: not found")
        if status == 429:
            raise self._error(UpstreamUnavailable, f"{what}: rate-limited (429)")
        if status >= 500:
            raise self._error(UpstreamUnavailable, f"{what}: HTTP {status}")
        if status in (401, 403):
            raise self._error(UpstreamError, f"{what}: access denied (HTTP {status})")
        raise self._error(UpstreamError, f"{what}: HTTP {status}{_answer(response)}")

    async def _read_capped(self, response: httpx.Response, what: str) -> bytes:
        parts: list[bytes] = []
        size = 0
        try:
            async for chunk in response.aiter_bytes():
                size += len(chunk)
                if size > _MAX_MANIFEST_BYTES:
                    raise self._error(UpstreamError, f"{what}: larger than 4 MiB")
                parts.append(chunk)
        except httpx.TransportError as exc:
            raise self._error(UpstreamUnavailable, f"{what}: {_reason(exc)}") from exc
        return b"".join(parts)

    def _next_page(self, response: httpx.Response) -> str | None:
        link = response.links.get("next")
        target = link.get("url") if link else None
        if not target:
            return None
        return urljoin(str(response.url), target)

    def _error(self, kind: type[UpstreamError], message: str) -> UpstreamError:
        return kind(f"upstream {self.upstream.name} ({self.upstream.url}): {message}")


def _basic_header(upstream: Upstream) -> str | None:
    if not upstream.username:
        return None
    pair = f"{upstream.username}:{upstream.password or ''}".encode()
    return "Basic " + base64.b64encode(pair).decode("ascii")


def _reason(exc: httpx.TransportError) -> str:
    if isinstance(exc, httpx.TimeoutException):
        return "timed out"
    if isinstance(exc, httpx.ConnectError):
        cause = str(exc) or "connection refused"
        if "CERTIFICATE_VERIFY_FAILED" in cause:
            return f"TLS certificate not trusted ({cause})"
        return f"cannot connect ({cause})"
    return f"{type(exc).__name__}: {exc}"
