"""The Images and Search screens (issue 4, screens 3 and 4): read-only views over the
management and search services, which already filter to what the caller may read.

Sorting is by name only: that is the keyset order of `list_repositories` (no OFFSET, so a
page costs the same at 100,000 repositories). Sorting by last push or size needs keysets of
their own in the service and is left for later.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from urllib.parse import urlencode

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from dockyard.auth.manage import ManageContext
from dockyard.auth.manage.namespaces import list_namespaces
from dockyard.auth.manage.repositories import list_repositories
from dockyard.auth.principals import Principal
from dockyard.auth.sessions import Session
from dockyard.console.rendering import Renderer
from dockyard.registry import search as service

__all__ = ["PAGE_SIZE", "Browse"]

PAGE_SIZE = 100
_MAX_PARAM = 512  # longer than any repository name (OCI: 255 in practice); ignore beyond


class Browse:
    """Route handlers for /images and /search; `session` and `to_signin` come from the
    console so that both screens treat sessions exactly as the others do."""

    def __init__(
        self,
        manage: ManageContext,
        render: Renderer,
        session: Callable[[Request], Awaitable[Session | None]],
        to_signin: Callable[[Request], Response],
    ) -> None:
        self._manage = manage
        self._render = render
        self._session = session
        self._to_signin = to_signin

    async def images(self, request: Request) -> Response:
        session = await self._session(request)
        if session is None:
            return self._to_signin(request)
        namespace = _param(request, "namespace")
        last = _param(request, "last")
        caller = session.principal
        page = await run_in_threadpool(
            list_repositories, self._manage, caller, namespace, last, PAGE_SIZE
        )
        namespaces = await run_in_threadpool(list_namespaces, self._manage, caller)
        next_url = None
        if page.next is not None:
            query = {"namespace": namespace} if namespace else {}
            next_url = "/images?" + urlencode({**query, "last": page.next})
        return self._render.page(
            "images/page.html",
            user=caller,
            csrf_token=session.csrf_token,
            active="images",
            repositories=page.repositories,
            namespaces=[view.name for view in namespaces],
            namespace=namespace or "",
            first_page=last is None,
            next_url=next_url,
        )

    async def search(self, request: Request) -> Response:
        session = await self._session(request)
        if session is None:
            return self._to_signin(request)
        q = request.query_params.get("q")
        result: service.SearchResult | None = None
        error: str | None = None
        if q is not None:
            try:
                result = await run_in_threadpool(_search, self._manage, session.principal, q)
            except service.SearchInvalid as err:
                error = err.message
        return self._render.page(
            "search/page.html",
            400 if error else 200,
            user=session.principal,
            csrf_token=session.csrf_token,
            active="search",
            q=q or "",
            result=result,
            error=error,
        )


def _search(ctx: ManageContext, caller: Principal, text: str) -> service.SearchResult:
    """Blocking: the snapshot may need the database too, so both run in the worker."""
    return service.search(ctx.db, ctx.snapshot(), caller, text)


def _param(request: Request, name: str) -> str | None:
    value = request.query_params.get(name, "").strip()
    return value[:_MAX_PARAM] or None
