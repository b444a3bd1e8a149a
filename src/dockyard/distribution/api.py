"""The /v2 API: one ASGI app that routes by path shape, checks access, calls the registry.

Every response carries `Docker-Distribution-API-Version`. Locations are relative (pitfalls
§5); the token realm is absolute (clients refuse a relative one).
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from urllib.parse import quote

import anyio
from starlette.requests import ClientDisconnect, Request
from starlette.responses import FileResponse, Response, StreamingResponse
from starlette.types import Receive, Scope, Send

from dockyard.auth.permissions import readable
from dockyard.auth.principals import Principal
from dockyard.distribution.access import AccessControl, Admitted, Need, Refused
from dockyard.distribution.errors import error_body, error_response
from dockyard.distribution.paths import ROUTE_KEY, Route, match_route
from dockyard.registry import errors as e
from dockyard.registry.digests import parse_digest
from dockyard.registry.mediatypes import parse_accept
from dockyard.registry.names import validate_name
from dockyard.registry.services import RegistryServices
from dockyard.registry.upstream.pull_through import CacheRule, PullThrough

__all__ = ["DistributionApi"]

_log = logging.getLogger("dockyard.distribution")

API_VERSION = ("Docker-Distribution-API-Version", "registry/2.0")
_API_VERSION_RAW = (b"docker-distribution-api-version", b"registry/2.0")
_CONTENT_RANGE = re.compile(r"(?:bytes[ =])?(\d+)-(\d+)(?:/(?:\d+|\*))?")
_RANGE_CHUNK_BYTES = 1024 * 1024
Handler = Callable[[Request, Route], Awaitable[Response]]


def _range_header(offset: int) -> str:
    # distribution answers "0-0" for an empty session; clients expect that form.
    return f"0-{max(offset - 1, 0)}"


def _satisfiable(header: str | None, size: int) -> bool:
    """False for a single `Range` that names no byte of the blob (RFC 9110 §15.5.17: 416).

    Starlette answers a reversed range with a plain-text 400; clients and the conformance
    suite expect 416. Anything else is left to Starlette.
    """
    if not header or not header.startswith("bytes=") or "," in header:
        return True
    first, sep, last = header[6:].strip().partition("-")
    if not sep or not (first.isdigit() or last.isdigit()):
        return True
    if not first:  # suffix range: the last N bytes
        return int(last) > 0 and size > 0
    if int(first) >= size:
        return False
    return not last.isdigit() or int(last) >= int(first)


def _single_range(header: str | None, size: int) -> tuple[int, int] | None:
    """(first, last) byte of a single satisfiable `Range: bytes=…`, None for anything else
    (no header, several ranges, a form we do not parse: the whole blob is sent)."""
    if not header or not header.startswith("bytes=") or "," in header or size == 0:
        return None
    first, sep, last = header[6:].strip().partition("-")
    if not sep or not (first.isdigit() or (not first and last.isdigit())):
        return None
    if not first:  # suffix range: the last N bytes
        return max(size - int(last), 0), size - 1
    end = min(int(last), size - 1) if last.isdigit() else size - 1
    return (int(first), end) if int(first) <= end else None


def _link(path: str, n: int, last: str) -> str:
    return f'<{path}?n={n}&last={quote(last, safe="")}>; rel="next"'


def _int_param(request: Request, key: str) -> int | None:
    value = request.query_params.get(key)
    if value is None or value == "":
        return None
    try:
        return int(value)
    except ValueError as exc:
        raise e.ParameterInvalid(f"query parameter {key} must be an integer") from exc


async def _stream(request: Request, idle_timeout: float) -> AsyncIterator[bytes]:
    """The request body, abandoned when the client stops sending (slowloris, or a body
    shorter than its Content-Length on a connection left open)."""
    chunks = request.stream()
    while True:
        try:
            with anyio.fail_after(idle_timeout):
                chunk = await anext(chunks)
        except StopAsyncIteration:
            return
        except TimeoutError as exc:
            raise e.BlobUploadInvalid(
                f"request body stalled for {idle_timeout:g} seconds; nothing was stored"
            ) from exc
        yield chunk


class _Reply(Response):
    """A response sent as given: the hot path skips Starlette's header bookkeeping."""

    def __init__(self, status: int, raw_headers: list[tuple[bytes, bytes]], body: bytes) -> None:
        self.status_code = status
        self.raw_headers = raw_headers
        self.body = body
        self.background = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": self.status_code,
                    "headers": self.raw_headers})  # fmt: skip
        await send({"type": "http.response.body", "body": self.body})


class DistributionApi:
    def __init__(
        self, services: RegistryServices, access: AccessControl, service_name: str,
        public_url: str | None, body_idle_timeout: float = 60.0,
    ) -> None:  # fmt: skip
        self._idle_timeout = body_idle_timeout
        self._services = services
        self._access = access
        self._service_name = service_name
        self._public_url = public_url.rstrip("/") if public_url else None
        self._routes: dict[tuple[str, str], tuple[str, Handler]] = {
            ("catalog", "GET"): ("*", self._catalog),
            ("tags", "GET"): ("pull", self._tags),
            ("manifest", "GET"): ("pull", self._get_manifest),
            ("manifest", "HEAD"): ("pull", self._get_manifest),
            ("manifest", "PUT"): ("push", self._put_manifest),
            ("manifest", "DELETE"): ("delete", self._delete_manifest),
            ("blob", "GET"): ("pull", self._get_blob),
            ("blob", "HEAD"): ("pull", self._get_blob),
            ("blob", "DELETE"): ("delete", self._delete_blob),
            ("uploads", "POST"): ("push", self._start_upload),
            ("upload", "GET"): ("push", self._upload_status),
            ("upload", "PATCH"): ("push", self._patch_upload),
            ("upload", "PUT"): ("push", self._finish_upload),
            ("upload", "DELETE"): ("push", self._cancel_upload),
            ("referrers", "GET"): ("pull", self._referrers),
        }

    # -- ASGI -------------------------------------------------------------------------

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        request = Request(scope, receive)
        response = await self._dispatch(request)
        if not isinstance(response, _Reply):
            response.headers.setdefault(*API_VERSION)
        await response(scope, receive, send)

    async def _dispatch(self, request: Request) -> Response:
        head = request.method == "HEAD"
        raw = request.scope.get("raw_path") or request.url.path.encode()
        path = raw.decode("latin-1").split("?", 1)[0].removeprefix("/v2").lstrip("/")
        try:
            if path == "":
                request.scope[ROUTE_KEY] = "v2_base"
                return await self._ping(request)
            route = match_route(path)
            if route is None:
                return self._not_found(head)
            request.scope[ROUTE_KEY] = f"v2_{route.kind}"
            entry = self._routes.get((route.kind, request.method))
            if entry is None:
                return self._method_not_allowed(head)
            action, handler = entry
            if route.kind == "catalog":
                need = Need("registry", "catalog", "*")
            else:
                validate_name(route.name)
                need = Need("repository", route.name, action)
            if route.kind == "uploads" and request.query_params.get("from"):
                return await self._start_upload_with_mount(request, route, need)
            admitted = await self._access.require(request, need)
            request.state.principal = admitted.principal
            request.state.admitted = admitted
            return await handler(request, route)
        except Refused as refused:
            return self._refused(request, refused, head)
        except e.RegistryError as error:
            return self._error(error, head)
        except ClientDisconnect:
            return Response(status_code=400)
        except Exception as exc:  # a bug or a storage failure: logged whole, answered plainly
            where = {"method": request.method, "path": request.url.path}
            _log.exception("request failed", extra={"fields": where})
            failure = e.backend_failure(exc)
            if failure is not None:
                return self._error(failure, head)
            body = b"" if head else error_body("UNKNOWN", "internal error; see the server log")
            return Response(body, 500, media_type="application/json")

    # -- responses --------------------------------------------------------------------

    def _realm(self, request: Request) -> str:
        base = self._public_url or f"{request.url.scheme}://{request.url.netloc}"
        return f"{base}/auth/token"

    def _refused(self, request: Request, refused: Refused, head: bool) -> Response:
        headers = {}
        if refused.challenge is not None:
            parts = [f'realm="{self._realm(request)}"', f'service="{self._service_name}"']
            if refused.challenge.scopes:
                parts.append(f'scope="{" ".join(refused.challenge.scopes)}"')
            if refused.challenge.error:
                parts.append(f'error="{refused.challenge.error}"')
            if refused.challenge.description:
                description = refused.challenge.description.replace('"', "'")
                parts.append(f'error_description="{description}"')
            headers["WWW-Authenticate"] = "Bearer " + ",".join(parts)
        if refused.retry_after is not None:
            headers["Retry-After"] = str(refused.retry_after)
        body = b"" if head else error_body(refused.code, refused.message)
        return Response(body, refused.status, headers=headers, media_type="application/json")

    def _error(self, error: e.RegistryError, head: bool) -> Response:
        headers = None
        if isinstance(error, e.RangeInvalid):
            headers = {"Range": _range_header(error.current_size)}
        return error_response(error, head, headers)

    def _not_found(self, head: bool) -> Response:
        body = b"" if head else error_body("NAME_UNKNOWN", "no such route")
        return Response(body, 404, media_type="application/json")

    def _method_not_allowed(self, head: bool) -> Response:
        body = b"" if head else error_body("UNSUPPORTED", "method not allowed on this route")
        return Response(body, 405, media_type="application/json")

    def _body(self, request: Request) -> AsyncIterator[bytes]:
        return _stream(request, self._idle_timeout)

    @staticmethod
    def _actor(request: Request) -> str | None:
        principal: Principal = request.state.principal
        return principal.name or None

    @staticmethod
    def _address(request: Request) -> str | None:
        return request.client.host if request.client else None

    # -- base and listings ------------------------------------------------------------

    async def _ping(self, request: Request) -> Response:
        await self._access.ping(request)
        return Response(b"{}", media_type="application/json")

    async def _catalog(self, request: Request, route: Route) -> Response:
        n = _int_param(request, "n")
        admitted: Admitted = request.state.admitted
        names, more = await self._services.listing.catalog(
            n, request.query_params.get("last"), readable(admitted.snapshot, admitted.principal)
        )
        headers = {}
        if more and names:
            headers["Link"] = _link("/v2/_catalog", len(names), names[-1])
        body = json.dumps({"repositories": names}).encode()
        return Response(body, media_type="application/json", headers=headers)

    async def _tags(self, request: Request, route: Route) -> Response:
        n = _int_param(request, "n")
        last = request.query_params.get("last")
        cache = self._services.pull_through
        rule = cache.covers(route.name) if cache is not None else None
        upstream = await cache.tags(rule, route.name) if cache and rule else None
        if upstream is not None:
            limit = self._services.listing.page_size(n)
            after = sorted(tag for tag in set(upstream) if last is None or tag > last)
            names, more = after[:limit], len(after) > limit
        else:
            names, more = await self._services.listing.tags(route.name, n, last)
        headers = {}
        if more and names:
            headers["Link"] = _link(f"/v2/{route.name}/tags/list", len(names), names[-1])
        body = json.dumps({"name": route.name, "tags": names}).encode()
        return Response(body, media_type="application/json", headers=headers)

    async def _referrers(self, request: Request, route: Route) -> Response:
        artifact_type = request.query_params.get("artifactType") or None
        last = request.query_params.get("last") or None
        body, next_after = await self._services.listing.referrers(
            route.name, route.reference, artifact_type, last
        )
        headers = {"OCI-Filters-Applied": "artifactType"} if artifact_type else {}
        if next_after is not None:
            query = f"last={quote(next_after, safe='')}"
            if artifact_type:
                query += f"&artifactType={quote(artifact_type, safe='')}"
            path = f"/v2/{route.name}/referrers/{route.reference}"
            headers["Link"] = f'<{path}?{query}>; rel="next"'
        return Response(body, media_type="application/vnd.oci.image.index.v1+json", headers=headers)

    # -- manifests --------------------------------------------------------------------

    async def _get_manifest(self, request: Request, route: Route) -> Response:
        accepted = parse_accept(request.headers.getlist("accept"))
        cache = self._services.pull_through
        rule = cache.covers(route.name) if cache is not None else None
        if cache is not None and rule is not None:
            content = await cache.manifest(rule, route.name, route.reference, accepted)
        else:
            content = await self._services.manifests.get(route.name, route.reference, accepted)
        by_tag = ":" not in route.reference  # a tag never holds ':'; a digest always does
        if request.method == "GET" or by_tag:  # HEAD of a tag: a client resolving it to pull
            tag = route.reference if by_tag else None
            self._services.pulls.record(route.name, content.digest, tag)
        digest = content.digest.encode()
        headers = [
            (b"content-type", content.media_type.encode()),
            # HEAD too: containerd falls back to GET without length and digest (pitfalls §3)
            (b"content-length", str(len(content.payload)).encode()),
            (b"docker-content-digest", digest),
            (b"etag", b'"' + digest + b'"'),
            _API_VERSION_RAW,
        ]
        return _Reply(200, headers, b"" if request.method == "HEAD" else content.payload)

    async def _read_manifest(self, request: Request) -> bytes:
        limit = self._services.manifests.max_bytes
        declared = request.headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            raise e.ManifestTooLarge(f"manifest larger than {limit} bytes")
        received = bytearray()
        async for chunk in self._body(request):
            received += chunk
            if len(received) > limit:  # chunked bodies have no Content-Length to check
                raise e.ManifestTooLarge(f"manifest larger than {limit} bytes")
        return bytes(received)

    async def _put_manifest(self, request: Request, route: Route) -> Response:
        payload = await self._read_manifest(request)
        result = await self._services.manifests.put(
            route.name, route.reference, payload, request.headers.get("content-type"),
            self._actor(request), self._address(request),
        )  # fmt: skip
        headers = {
            "Location": f"/v2/{route.name}/manifests/{result.digest}",
            "Docker-Content-Digest": result.digest,
        }
        if result.subject_digest:
            headers["OCI-Subject"] = result.subject_digest
        return Response(status_code=201, headers=headers)

    async def _delete_manifest(self, request: Request, route: Route) -> Response:
        await self._services.manifests.delete(
            route.name, route.reference, self._actor(request), self._address(request)
        )
        return Response(status_code=202)

    # -- blobs ------------------------------------------------------------------------

    async def _get_blob(self, request: Request, route: Route) -> Response:
        digest = parse_digest(route.reference)
        head = request.method == "HEAD"
        headers = {
            "Docker-Content-Digest": digest,
            "ETag": f'"{digest}"',
            "Accept-Ranges": "bytes",
            "Cache-Control": "max-age=31536000",
        }
        try:
            blob = await self._services.blobs.stat(
                route.name, digest, touch=head, redirect=not head
            )
        except e.BlobUnknown:
            cache = self._services.pull_through
            rule = cache.covers(route.name) if cache is not None else None
            if cache is None or rule is None:
                raise
            return await self._proxied_blob(cache, rule, route.name, digest, head, headers)
        if blob.redirect is not None:
            # OCI dist-spec §Pulling blobs: a 307 to where the bytes are. HEAD never gets
            # here: it is answered by us, from the database. The URL expires, so the
            # redirect must not be cached the way the bytes may be.
            headers["Location"] = blob.redirect
            headers["Cache-Control"] = "no-store"
            return Response(status_code=307, headers=headers)
        if not _satisfiable(request.headers.get("range"), blob.size):
            return Response(
                error_body("BLOB_UNKNOWN", "requested range not satisfiable"), 416,
                headers={"Content-Range": f"bytes */{blob.size}"}, media_type="application/json",
            )  # fmt: skip
        if blob.local is None:
            return await self._stream_blob(request, blob.digest, blob.size, headers)
        path, stat = blob.local
        response = FileResponse(
            path, media_type="application/octet-stream", headers=headers, stat_result=stat
        )
        response.chunk_size = _RANGE_CHUNK_BYTES  # ranged reads go through Python; keep them large
        return response

    async def _proxied_blob(
        self, cache: PullThrough, rule: CacheRule, name: str, digest: str, head: bool,
        headers: dict[str, str],
    ) -> Response:  # fmt: skip
        """A blob a pull-through cache lacks: the upstream's bytes, cached as they pass
        (whole: a Range is answered with 200 and every byte, as RFC 9110 §14.2 allows)."""
        proxied = await cache.blob(rule, name, digest, head=head)
        if proxied.size is not None:
            headers["Content-Length"] = str(proxied.size)
        if proxied.chunks is None:
            return Response(status_code=200, headers=headers,
                            media_type="application/octet-stream")  # fmt: skip
        return StreamingResponse(
            proxied.chunks, status_code=200, headers=headers, media_type="application/octet-stream"
        )

    async def _stream_blob(
        self, request: Request, digest: str, size: int, headers: dict[str, str]
    ) -> Response:
        """The bytes read from the store through us, whole or one range (a multi-range or
        unparsable Range gets the whole blob, as RFC 9110 §14.2 allows)."""
        span = _single_range(request.headers.get("range"), size)
        status, (start, end) = (200, (0, size - 1)) if span is None else (206, span)
        length = end - start + 1 if size else 0
        headers["Content-Length"] = str(length)
        if status == 206:
            headers["Content-Range"] = f"bytes {start}-{end}/{size}"
        if request.method == "HEAD":
            return Response(status_code=status, headers=headers,
                            media_type="application/octet-stream")  # fmt: skip
        chunks = await self._services.blobs.open_range(digest, start, length)
        return StreamingResponse(
            chunks, status_code=status, headers=headers, media_type="application/octet-stream"
        )

    async def _delete_blob(self, request: Request, route: Route) -> Response:
        await self._services.blobs.delete(route.name, parse_digest(route.reference))
        return Response(status_code=202)

    # -- uploads ----------------------------------------------------------------------

    def _upload_headers(self, name: str, upload_id: str, offset: int) -> dict[str, str]:
        return {
            "Location": f"/v2/{name}/blobs/uploads/{upload_id}",
            "Range": _range_header(offset),
            "Docker-Upload-UUID": upload_id,
        }

    def _blob_created(self, name: str, digest: str) -> Response:
        return Response(
            status_code=201,
            headers={"Location": f"/v2/{name}/blobs/{digest}", "Docker-Content-Digest": digest},
        )

    async def _start_upload_with_mount(
        self, request: Request, route: Route, need: Need
    ) -> Response:
        """`POST ?mount=&from=`: link the blob when the caller may read `from` and it has
        the blob; otherwise open an ordinary session (202), never an error (pitfalls §7)."""
        source = request.query_params["from"]
        mount = request.query_params.get("mount")
        optional: tuple[Need, ...] = ()
        try:
            validate_name(source)
            optional = (Need("repository", source, "pull"),)
        except e.NameInvalid:
            pass
        admitted = await self._access.require(request, need, optional)
        principal = admitted.principal
        may_read_source = bool(admitted.optional) and admitted.optional[0]
        request.state.principal = principal
        if mount and may_read_source:
            digest = parse_digest(mount)
            if await self._services.uploads.mount(route.name, digest, source, principal.name):
                return self._blob_created(route.name, digest)
        return await self._start_upload(request, route)

    async def _start_upload(self, request: Request, route: Route) -> Response:
        actor = self._actor(request)
        digest = request.query_params.get("digest")
        if digest:
            parse_digest(digest)
            await self._services.uploads.upload_whole(
                route.name, digest, self._body(request), actor, self._address(request)
            )
            return self._blob_created(route.name, digest)
        upload_id = await self._services.uploads.start(route.name, actor)
        return Response(status_code=202, headers=self._upload_headers(route.name, upload_id, 0))

    async def _upload_status(self, request: Request, route: Route) -> Response:
        offset = await self._services.uploads.status(route.name, route.reference)
        return Response(
            status_code=204, headers=self._upload_headers(route.name, route.reference, offset)
        )

    async def _content_range(self, request: Request, route: Route) -> tuple[int, int] | None:
        """`Content-Range: [bytes ]start-end[/total]`, parsed leniently (pitfalls §7)."""
        header = request.headers.get("content-range")
        if not header:
            return None
        match = _CONTENT_RANGE.fullmatch(header.strip())
        if not match or int(match.group(2)) < int(match.group(1)):
            raise e.RangeInvalid(
                f"malformed Content-Range {header!r}",
                await self._services.uploads.status(route.name, route.reference),
            )
        return int(match.group(1)), int(match.group(2))

    async def _patch_upload(self, request: Request, route: Route) -> Response:
        content_range = await self._content_range(request, route)
        offset = await self._services.uploads.append(
            route.name, route.reference, self._body(request), content_range
        )
        return Response(
            status_code=202, headers=self._upload_headers(route.name, route.reference, offset)
        )

    async def _finish_upload(self, request: Request, route: Route) -> Response:
        digest = request.query_params.get("digest")
        if not digest:
            raise e.DigestInvalid("digest query parameter is required to close an upload")
        parse_digest(digest)
        content_range = await self._content_range(request, route)
        await self._services.uploads.finish(
            route.name, route.reference, digest, self._body(request), self._actor(request),
            self._address(request), content_range,
        )  # fmt: skip
        return self._blob_created(route.name, digest)

    async def _cancel_upload(self, request: Request, route: Route) -> Response:
        await self._services.uploads.cancel(route.name, route.reference)
        return Response(status_code=204)
