"""The console's routes: sign in and sign out (here), the overview and status
(overview.py), images and search (browse.py), repository, tag and image pages (inspect.py),
Administration (administration.py) with its garbage collection page (garbage.py); and its
static files.

`create_console` returns routes for the composition root's Starlette app (which already
holds /healthz, /readyz, /metrics and /auth/token); /v2 and /api never reach it.
"""

from __future__ import annotations

import secrets
from collections.abc import Awaitable, Callable
from pathlib import Path
from urllib.parse import quote, urlsplit

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from dockyard.auth.authenticator import Authenticator, SignInRefused
from dockyard.auth.maintenance import read_only_message
from dockyard.auth.manage import ManageContext
from dockyard.auth.principals import Principal, PrincipalKind
from dockyard.auth.sessions import Session, SessionService
from dockyard.console.admin_kit import Desk, guarded
from dockyard.console.administration import admin_nav, admin_routes
from dockyard.console.browse import Board, Browse
from dockyard.console.deletes import Deletes
from dockyard.console.garbage import GarbageScreens
from dockyard.console.inspect import Inspect
from dockyard.console.overview import OverviewScreens
from dockyard.console.rendering import Renderer
from dockyard.console.security import (
    CSRF_COOKIE,
    CSRF_FIELD,
    CSRF_HEADER,
    SESSION_COOKIE,
    FormTooLarge,
    clear_cookie,
    csrf_matches,
    read_form,
    safe_next,
    set_cookie,
)

__all__ = ["create_console"]

_STATIC = Path(__file__).parent / "static"
_WRONG_CREDENTIALS = "Wrong user name or password."
_CSRF_REFUSED = (
    "This form has expired or did not come from Dockyard. Reload the page and try again."
)
_PRE_SESSION_CSRF_SECONDS = 3600
FailurePage = Callable[[Request, Exception], Awaitable[Response]]


def create_console(
    sessions: SessionService,
    authenticator: Authenticator,
    manage: ManageContext,
    *,
    public_url: str | None,
) -> list[BaseRoute]:
    def banner() -> str | None:  # the snapshot this request's access check just refreshed
        return read_only_message(manage.access.latest(), manage.read_only)

    console = _Console(sessions, authenticator, public_url, admin_nav(manage), banner)
    browse = Browse(manage, console.render, console.session, console.to_signin)
    board = Board(manage, console.render, console.session, console.to_signin)
    deletes = Deletes(manage, console.render, console.session, console.to_signin)
    inspect = Inspect(
        manage, console.render, console.session, console.to_signin, console.registry_host, deletes
    )
    home = OverviewScreens(
        manage, console.render, console.session, console.to_signin,
        console.registry_host, console.server_url,
    )  # fmt: skip
    garbage = GarbageScreens(
        Desk(manage, console.render, console.session, console.to_signin, console.registry_host)
    )
    pages = [
        Route("/", home.overview, methods=["GET", "HEAD"]),
        Route("/status", home.status, methods=["GET", "HEAD"]),
        Route("/images", browse.images, methods=["GET", "HEAD"]),
        Route("/images/{rest:path}", inspect.route, methods=["GET", "HEAD"]),
        Route("/images/{rest:path}", inspect.post, methods=["POST"]),
        Route("/layers/{digest}", deletes.layer, methods=["GET", "HEAD"]),
        Route("/layers/{digest}", deletes.purge, methods=["POST"]),
        Route("/search", browse.search, methods=["GET", "HEAD"]),
        Route("/environments", board.page, methods=["GET", "HEAD"]),
        Route("/signin", console.signin_form, methods=["GET", "HEAD"]),
        Route("/signin", console.signin, methods=["POST"]),
        Route("/signout", console.signout, methods=["POST"]),
        Route("/admin/gc", guarded(garbage.overview), methods=["GET", "HEAD"]),
        Route("/admin/gc", guarded(garbage.start), methods=["POST"]),
        Route("/admin/gc/runs/{run_id:int}", guarded(garbage.run), methods=["GET", "HEAD"]),
        Route(
            "/admin/gc/runs/{run_id:int}/progress",
            guarded(garbage.progress),
            methods=["GET", "HEAD"],
        ),
        *admin_routes(
            manage, console.render, console.session, console.to_signin, console.registry_host
        ),
    ]
    return [
        *(_guarded(route, home.failure_page) for route in pages),
        Mount("/static", _StaticHeaders(StaticFiles(directory=_STATIC)), name="static"),
    ]


def _guarded(route: BaseRoute, failure_page: FailurePage) -> BaseRoute:
    """The route with its handler's unexpected failures answered by `failure_page`."""
    if not isinstance(route, Route):
        return route
    handler = route.endpoint

    async def guarded(request: Request) -> Response:
        try:
            response: Response = await handler(request)
        except Exception as exc:  # every failure gets the explaining page
            return await failure_page(request, exc)
        return response

    return Route(route.path, guarded, methods=list(route.methods or ()), name=route.name)


class _StaticHeaders:
    """Adds nosniff to the static files (they are ours, but a browser should not guess)."""

    def __init__(self, app: ASGIApp) -> None:
        self._app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                headers.append((b"x-content-type-options", b"nosniff"))
                message = {**message, "headers": headers}
            await send(message)

        await self._app(scope, receive, send_with_headers)


class _Console:
    def __init__(
        self,
        sessions: SessionService,
        authenticator: Authenticator,
        public_url: str | None,
        administers: Callable[[Principal], bool],
        banner: Callable[[], str | None],
    ) -> None:
        self._sessions = sessions
        self._authenticator = authenticator
        self._public_url = public_url
        self.render = Renderer(administers, banner)

    # --- request helpers ------------------------------------------------------------------

    def _secure(self, request: Request) -> bool:
        """Whether cookies get `Secure`: the browser reached us over https."""
        return request.url.scheme == "https" or (self._public_url or "").startswith("https:")

    def registry_host(self, request: Request) -> str:
        """The host name clients use in `docker login`: public_url's, else the request's."""
        if self._public_url:
            netloc = urlsplit(self._public_url).netloc
            if netloc:
                return netloc
        return request.url.netloc

    def server_url(self, request: Request) -> str:
        if self._public_url:
            return self._public_url.rstrip("/")
        return f"{request.url.scheme}://{request.url.netloc}"

    async def session(self, request: Request) -> Session | None:
        return await self._sessions.resolve(request.cookies.get(SESSION_COOKIE))

    def to_signin(self, request: Request) -> Response:
        target = request.url.path
        if request.url.query:
            target += "?" + request.url.query
        response = RedirectResponse(f"/signin?next={quote(target, safe='/')}", 303)
        if SESSION_COOKIE in request.cookies:  # stale or revoked: forget it
            clear_cookie(response, SESSION_COOKIE, secure=self._secure(request))
        return response

    # --- routes ---------------------------------------------------------------------------

    async def signin_form(self, request: Request) -> Response:
        next_path = safe_next(request.query_params.get("next"))
        if await self.session(request) is not None:
            return RedirectResponse(next_path, 303)
        return self._signin_page(request, next_path)

    def _signin_page(
        self,
        request: Request,
        next_path: str,
        *,
        username: str = "",
        error: str | None = None,
        status: int = 200,
    ) -> Response:
        # Reuse the browser's pre-session token if it has one, so two open tabs both work.
        token = request.cookies.get(CSRF_COOKIE) or ""
        if not 20 <= len(token) <= 64:
            token = _new_token()
        response = self.render.page(
            "signin/page.html",
            status,
            user=None,
            csrf_token=token,
            next_path=next_path,
            username=username,
            error=error,
        )
        set_cookie(
            response,
            CSRF_COOKIE,
            token,
            secure=self._secure(request),
            max_age=_PRE_SESSION_CSRF_SECONDS,
        )
        return response

    async def signin(self, request: Request) -> Response:
        try:
            form = await read_form(request)
        except FormTooLarge:
            return self.render.plain(413, "That form was too large.")
        if not csrf_matches(request.cookies.get(CSRF_COOKIE), form.get(CSRF_FIELD)):
            return self.render.plain(403, _CSRF_REFUSED)
        next_path = safe_next(form.get("next"))
        username = form.get("username", "").strip()
        password = form.get("password", "")
        address = request.client.host if request.client else None
        try:
            principal = await self._authenticator.authenticate(username, password, address)
        except SignInRefused as refused:
            message = refused.message
            status = 503
            if refused.retry_after is not None:
                message = f"{message} Try again in {refused.retry_after} seconds."
                status = 429
            response = self._signin_page(
                request, next_path, username=username, error=message, status=status
            )
            if refused.retry_after is not None:
                response.headers["Retry-After"] = str(refused.retry_after)
            return response
        if principal is None or principal.kind is not PrincipalKind.USER:
            return self._signin_page(
                request, next_path, username=username, error=_WRONG_CREDENTIALS
            )
        # Rotation: the session the browser brought (if any) ends; the new one gets a new id.
        await self._sessions.end(request.cookies.get(SESSION_COOKIE))
        user_agent = request.headers.get("user-agent")
        session_id, _ = await self._sessions.start(principal, address, user_agent)
        response = RedirectResponse(next_path, 303)
        secure = self._secure(request)
        set_cookie(response, SESSION_COOKIE, session_id, secure=secure)
        clear_cookie(response, CSRF_COOKIE, secure=secure)
        return response

    async def signout(self, request: Request) -> Response:
        session = await self.session(request)
        secure = self._secure(request)
        if session is not None:
            refusal = await self._check_csrf(request, session)
            if refusal is not None:
                return refusal
            await self._sessions.end(request.cookies.get(SESSION_COOKIE))
        response = RedirectResponse("/signin", 303)
        clear_cookie(response, SESSION_COOKIE, secure=secure)
        return response

    async def _check_csrf(self, request: Request, session: Session) -> Response | None:
        """None when the request carries the session's CSRF token, else the 403 page."""
        given = request.headers.get(CSRF_HEADER)
        if given is None:
            try:
                given = (await read_form(request)).get(CSRF_FIELD)
            except FormTooLarge:
                return self.render.plain(413, "That form was too large.")
        if not csrf_matches(session.csrf_token, given):
            return self.render.plain(403, _CSRF_REFUSED)
        return None


def _new_token() -> str:
    return secrets.token_urlsafe(32)
