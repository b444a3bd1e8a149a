"""The Overview and Status screens (issue 4, screens 2 and 9)."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from dockyard.auth.manage import ManageContext
from dockyard.auth.permissions import is_registry_admin
from dockyard.auth.roles import Role
from dockyard.auth.sessions import Session
from dockyard.console.rendering import Renderer
from dockyard.console.urls import repository_url
from dockyard.registry import overview as service
from dockyard.registry import status as status_service
from dockyard.registry.errors import NameInvalid
from dockyard.registry.names import validate_name

__all__ = ["OverviewScreens"]

_MAX_NAME = 255
_log = logging.getLogger("dockyard.console")


class OverviewScreens:
    def __init__(
        self,
        manage: ManageContext,
        render: Renderer,
        session: Callable[[Request], Awaitable[Session | None]],
        to_signin: Callable[[Request], Response],
        registry_host: Callable[[Request], str],
        server_url: Callable[[Request], str],
    ) -> None:
        self._manage = manage
        self._render = render
        self._session = session
        self._to_signin = to_signin
        self._registry_host = registry_host
        self._server_url = server_url
        self._storage = service.StorageCache()

    async def overview(self, request: Request) -> Response:
        session = await self._session(request)
        if session is None:
            return self._to_signin(request)
        caller = session.principal
        summary = await run_in_threadpool(service.overview, self._manage, caller, self._storage)
        chosen = request.query_params.get("repository", "").strip()[:_MAX_NAME]
        role: Role | None = None
        problem: str | None = None
        if chosen:
            try:
                validate_name(chosen)
            except NameInvalid:
                problem = "That is not a repository name."
            else:
                role = await run_in_threadpool(
                    service.repository_role, self._manage, caller, chosen
                )
                if role is None:
                    problem = f"You cannot read {chosen}, or it does not exist."
        return self._render.page(
            "overview/page.html",
            user=caller,
            csrf_token=session.csrf_token,
            active="overview",
            host=self._registry_host(request),
            server_url=self._server_url(request),
            summary=summary,
            chosen=chosen,
            chosen_role=role,
            may_push=role in (Role.WRITE, Role.ADMIN),
            problem=problem,
            repository_url=repository_url,
        )

    async def status(self, request: Request) -> Response:
        session = await self._session(request)
        if session is None:
            return self._to_signin(request)
        report = await run_in_threadpool(status_service.check, self._manage)
        snapshot = await self._manage.access.current()
        return self._render.page(
            "status/page.html",
            200 if report.healthy else 503,
            user=session.principal,
            csrf_token=session.csrf_token,
            active="status",
            report=report,
            # the reasons name servers and paths: for registry admins only
            detailed=is_registry_admin(snapshot, session.principal),
        )

    async def failure_page(self, request: Request, exc: Exception) -> Response:
        """Any unexpected failure of a console page: a page that says which part Dockyard
        depends on is down (usually why), instead of a bare error. Nothing of the request or
        the exception is shown (the log has the traceback)."""
        _log.exception("console page failed", exc_info=exc)
        report = await run_in_threadpool(status_service.check, self._manage)
        return self._render.page(
            "status/failure.html",
            503 if not report.healthy else 500,
            user=None,
            csrf_token="",
            active="",
            report=report,
        )
