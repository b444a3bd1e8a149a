"""`AdminClient`: the admin JSON API as every CLI command sees it, local or remote.

One code path: the CLI always speaks HTTP to the admin API (`/api/v1`). Remote, over the
network with a bearer token (a personal access token or a robot secret). Local, to an admin
API app built in this process on the data directory, signed in as the operator (whoever can
open the database is a registry admin already); the same requests then go through an
in-process transport. Commands are written once, against `get/post/patch/put/delete`.

Every failure a person should read (an API error, an unreachable server, a bad TLS
certificate) becomes a `CliError` holding one line; the command layer prints it and exits 1.
"""

from __future__ import annotations

import getpass
import ssl
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, Self
from urllib.parse import quote, urlsplit

import httpx

from dockyard.config import Settings

if TYPE_CHECKING:
    from anyio.from_thread import BlockingPortal
    from starlette.types import ASGIApp

__all__ = [
    "API_PREFIX",
    "AdminClient",
    "CliError",
    "local_client",
    "remote_client",
    "repository_path",
    "segment",
]

API_PREFIX = "/api/v1"
_TIMEOUT_SECONDS = 30.0
_LOCAL_BASE_URL = "http://dockyard.local"  # never resolved: the transport is in-process


class CliError(Exception):
    """A failure reported to the person as one line on stderr (exit status 1)."""

    def __init__(self, message: str, *, status: int | None = None, code: str | None = None):
        super().__init__(message)
        self.message = message
        self.status = status
        self.code = code


def segment(value: str) -> str:
    """One URL path segment: `hackershop\\jane` and `a/b` stay one segment."""
    return quote(value, safe="")


def repository_path(name: str) -> str:
    """A repository name in `/repositories/{name}`: its slashes stay path separators."""
    return quote(name, safe="/")


class AdminClient:
    """The admin API. Methods take paths relative to `/api/v1` and return the parsed JSON
    (None for an empty body); any error answer raises `CliError` with the API's message."""

    def __init__(
        self,
        open_http: Callable[[ExitStack], httpx.Client],
        *,
        registry: str,
        where: str,
        credentials: str = "",
    ) -> None:
        self._open_http = open_http
        self._credentials = credentials  # what to check when refused with 401
        self._stack = ExitStack()
        self._http: httpx.Client | None = None
        self.registry = registry
        """host[:port] container clients sign in to (for `docker login` hints)."""
        self.where = where
        """What we talk to, for error messages: a URL or the data directory."""

    def get(self, path: str, params: dict[str, Any] | None = None) -> Any:
        return self._request("GET", path, params=params)

    def post(self, path: str, body: dict[str, Any] | None) -> Any:
        return self._request("POST", path, json=body)

    def patch(self, path: str, body: dict[str, Any]) -> Any:
        return self._request("PATCH", path, json=body)

    def put(self, path: str, body: dict[str, Any] | None = None) -> Any:
        return self._request("PUT", path, json=body)

    def delete(self, path: str, params: dict[str, Any] | None = None) -> Any:
        return self._request("DELETE", path, params=params)

    def pages(
        self,
        path: str,
        key: str,
        params: dict[str, Any],
        *,
        cursor: str,
        limit: int | None = None,
    ) -> Iterator[dict[str, Any]]:
        """The items of a paged list (`{key: [...], "next": ...}`), following `next` until
        it is null or `limit` items were given. `next` is a cursor sent back as the `cursor`
        parameter (`last` for repositories, `before` for the audit log), or a link to fetch."""
        given = 0
        url: str | None = path
        query: dict[str, Any] | None = {k: v for k, v in params.items() if v is not None}
        while url is not None:
            page = self._request("GET", url, params=query)
            for item in page.get(key) or []:
                if limit is not None and given >= limit:
                    return
                given += 1
                yield item
            following = page.get("next")
            if following is None or (limit is not None and given >= limit):
                return
            if isinstance(following, str) and following.startswith(("/", "http://", "https://")):
                # A link to follow as given (it carries its own query).
                url = following.removeprefix(API_PREFIX) if following.startswith("/") else following
                query = None
            else:
                query = {**(query or {}), cursor: following}

    def _request(self, method: str, path: str, **kwargs: Any) -> Any:
        # Connected on first use: a command checks its input (a password too short) before
        # a database is opened or a server is called.
        if self._http is None:
            self._http = self._open_http(self._stack)
        url = path if path.startswith(("http://", "https://")) else API_PREFIX + path
        try:
            response = self._http.request(method, url, **kwargs)
        except httpx.TimeoutException:
            raise CliError(f"{self.where} did not answer in time") from None
        except httpx.TransportError as err:
            raise CliError(f"cannot reach {self.where}: {_reason(err)}") from None
        if response.is_error:
            raise _api_error(response, self.where, self._credentials)
        if not response.content:
            return None
        try:
            return response.json()
        except ValueError:
            raise CliError(
                f"{self.where} answered {method} {path} with something other than JSON"
                " (is this a Dockyard server?)"
            ) from None

    def close(self) -> None:
        self._stack.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def _reason(err: httpx.TransportError) -> str:
    """The innermost cause, which names the real problem (refused, DNS, certificate)."""
    cause: BaseException = err
    for _ in range(10):  # chains are short; never loop on a cyclic one
        inner = cause.__cause__ or cause.__context__
        if inner is None:
            break
        cause = inner
    text = (str(cause) or str(err) or type(cause).__name__).splitlines()[0]
    if "CERTIFICATE_VERIFY_FAILED" in text:
        text += " (signed by a private CA? pass --ca-file)"
    return text


def _api_error(response: httpx.Response, where: str, credentials: str) -> CliError:
    status = response.status_code
    code: str | None = None
    message: str | None = None
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict):
        errors = body.get("errors")
        if isinstance(errors, list) and errors and isinstance(errors[0], dict):
            code = errors[0].get("code")
            message = "; ".join(str(e.get("message") or e.get("code")) for e in errors)
        elif isinstance(body.get("detail"), str):
            message = body["detail"]
    if not message:
        message = f"{response.reason_phrase or 'error'} ({status})"
    if status == 401 and credentials:
        message += f" (check {credentials})"
    elif status == 404 and code is None:
        message = f"{where} has no admin API at {response.request.url.path} ({status})"
    return CliError(message, status=status, code=code)


# --- construction ------------------------------------------------------------------------


def remote_client(
    server: str,
    *,
    token: str | None = None,
    basic: tuple[str, str] | None = None,
    ca_file: Path | None = None,
) -> AdminClient:
    """A client of the registry at `server` (https:// assumed when no scheme is given),
    signed in with a bearer token or, to create a first token, a username and password."""
    base = server if "://" in server else f"https://{server}"
    parts = urlsplit(base)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise CliError(f"not a server URL: {server!r} (expected https://HOST[:PORT])")
    verify: ssl.SSLContext | bool = True
    if ca_file is not None:
        try:
            verify = ssl.create_default_context(cafile=str(ca_file))
        except (OSError, ssl.SSLError) as err:
            raise CliError(f"cannot use CA file {ca_file}: {err}") from None
    auth: httpx.Auth | None = None
    headers = {"User-Agent": "dockyard-cli"}
    credentials = ""
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
        credentials = "the token: DOCKYARD_TOKEN or --token-file"
    elif basic is not None:
        auth = httpx.BasicAuth(*basic)
        credentials = "the user name and password"

    def open_http(stack: ExitStack) -> httpx.Client:
        return stack.enter_context(
            httpx.Client(
                base_url=base.rstrip("/"),
                headers=headers,
                auth=auth,
                verify=verify,
                timeout=_TIMEOUT_SECONDS,
                follow_redirects=False,  # never carry the token elsewhere
            )
        )

    return AdminClient(
        open_http, registry=parts.netloc, where=base.rstrip("/"), credentials=credentials
    )


def local_client(settings: Settings) -> AdminClient:
    """A client of an admin API built in this process on the data directory of `settings`,
    signed in as the operator named after the OS account. Migrates the database if needed."""

    def open_http(stack: ExitStack) -> httpx.Client:
        if settings.database_url is None and not settings.data_dir.is_dir():
            raise CliError(
                f"no data directory at {settings.data_dir.resolve()}: pass --data-dir (or set "
                "DOCKYARD_DATA_DIR), or --server URL to manage a running registry"
            )
        transport = stack.enter_context(_local_transport(settings, getpass.getuser()))
        return stack.enter_context(
            httpx.Client(
                base_url=_LOCAL_BASE_URL,
                transport=transport,
                headers={"User-Agent": "dockyard-cli"},
                timeout=_TIMEOUT_SECONDS,
            )
        )

    registry = (
        urlsplit(settings.public_url).netloc
        if settings.public_url
        else f"{settings.host}:{settings.port}"
    )
    return AdminClient(open_http, registry=registry, where=str(settings.data_dir))


@contextmanager
def _local_transport(settings: Settings, os_user: str) -> Iterator[httpx.BaseTransport]:
    # Imported here: remote mode never loads SQLAlchemy, Alembic or the app.
    from anyio.from_thread import start_blocking_portal

    from dockyard.admin_api import create_admin_api
    from dockyard.auth.manage import ManageContext
    from dockyard.auth.principals import Principal
    from dockyard.metadata.db import Database
    from dockyard.metadata.outbox import Origin, TableRoutes, attach_routes
    from dockyard.registry.context import Limits, RegistryContext
    from dockyard.registry.services import RegistryServices
    from dockyard.registry.upstream.imports import Importer

    db = Database(settings.sqlalchemy_url)
    try:
        if not db.at_head():
            db.migrate()
        # webhook events of what this CLI changes: as the server would describe them
        routes = TableRoutes(Origin.here(settings.public_url), settings.webhook_max_age_seconds)
        attach_routes(db.writer, routes)
        context = ManageContext.from_settings(db, settings)
        assert context.store is not None  # noqa: S101 - from_settings always builds one
        limits = Limits(
            max_manifest_bytes=settings.max_manifest_bytes,
            max_page_size=settings.max_page_size,
            in_flight_seconds=settings.gc_in_flight_seconds,
        )
        services = RegistryServices.build(RegistryContext(db, context.store, limits))
        importer = Importer.from_settings(context, services, settings)
        app = create_admin_api(context, operator=Principal.operator(os_user), importer=importer)
        with start_blocking_portal() as portal:
            yield InProcessTransport(app, portal)
    finally:
        db.close()


class InProcessTransport(httpx.BaseTransport):
    """Synchronous requests to an ASGI app in this process. httpx's ASGITransport is async
    only, so its calls run on one event loop kept in a helper thread (a blocking portal,
    as Starlette's TestClient does) for the client's whole life."""

    def __init__(
        self, app: ASGIApp, portal: BlockingPortal, client: tuple[str, int] = ("local", 0)
    ) -> None:
        self._portal = portal
        # App exceptions propagate: in local mode a bug shows its traceback, not a bare 500.
        # The audit log records the address of these requests as `client` (`local`).
        self._asgi = httpx.ASGITransport(app=app, client=client)

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        body = request.read()

        async def call() -> tuple[int, httpx.Headers, bytes]:
            forwarded = httpx.Request(
                request.method, request.url, headers=request.headers, content=body
            )
            response = await self._asgi.handle_async_request(forwarded)
            try:
                content = await response.aread()
            finally:
                await response.aclose()
            return response.status_code, response.headers, content

        status, headers, content = self._portal.call(call)
        return httpx.Response(status, headers=headers, content=content, request=request)
