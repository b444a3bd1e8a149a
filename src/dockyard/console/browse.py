"""The Images, Search and Environments screens (issue 4, screens 3 and 4; the release
flow's board): views over the management and search services, which already filter to what
the caller may read.

Images are sorted by name, last push or size, each a keyset order of `list_repositories`
(no OFFSET, so a page costs about the same at 100,000 repositories).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from urllib.parse import urlencode

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from dockyard.auth.manage import ManageContext
from dockyard.auth.manage.namespaces import list_namespaces
from dockyard.auth.manage.repositories import RepositoryOrder, list_repositories
from dockyard.auth.permissions import role_on
from dockyard.auth.principals import Principal
from dockyard.auth.roles import Role
from dockyard.auth.sessions import Session
from dockyard.console.flash import read_flash
from dockyard.console.rendering import Renderer
from dockyard.console.urls import image_url, layer_url, repository_url, tag_url
from dockyard.registry import search as service
from dockyard.registry.board import environments_board

__all__ = ["PAGE_SIZE", "Board", "Browse"]

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
        try:
            order = RepositoryOrder(request.query_params.get("sort", RepositoryOrder.NAME))
        except ValueError:
            order = RepositoryOrder.NAME
        caller = session.principal
        page = await run_in_threadpool(
            list_repositories, self._manage, caller, namespace, last, PAGE_SIZE, order
        )
        namespaces = await run_in_threadpool(list_namespaces, self._manage, caller)
        query = {"namespace": namespace} if namespace else {}
        if order is not RepositoryOrder.NAME:
            query["sort"] = order.value
        next_url = None
        if page.next is not None:
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
            first_url="/images" + ("?" + urlencode(query) if query else ""),
            sort=order.value,
            deleted=read_flash(request, session.csrf_token).get("deleted", ""),
            repository_url=repository_url,
        )

    async def search(self, request: Request) -> Response:
        session = await self._session(request)
        if session is None:
            return self._to_signin(request)
        q = request.query_params.get("q")
        result: service.SearchResult | None = None
        error: str | None = None
        deletable: frozenset[str] = frozenset()
        if q is not None:
            try:
                result, deletable = await run_in_threadpool(
                    _search, self._manage, session.principal, q
                )
            except service.SearchInvalid as err:
                error = err.message
        flash = read_flash(request, session.csrf_token)
        if result is not None and _only_exact_repository(result, q or ""):
            return RedirectResponse(repository_url(result.repositories[0]), 303)
        return self._render.page(
            "search/page.html",
            400 if error else 200,
            user=session.principal,
            csrf_token=session.csrf_token,
            active="search",
            q=q or "",
            result=result,
            error=error,
            deletable=deletable,
            quick=request.query_params.get("quick") == "1" and bool(deletable),
            flash_deleted=flash.get("deleted", ""),
            flash_undo=flash.get("undo", ""),
            flash_restored=flash.get("restored", ""),
            flash_repository=request.query_params.get("from", "")[:_MAX_PARAM],
            flash_back="/search?" + urlencode({"q": q or "", "quick": "1"}),
            repository_url=repository_url,
            image_url=image_url,
            layer_url=layer_url,
            tag_url=tag_url,
        )


def _search(
    ctx: ManageContext, caller: Principal, text: str
) -> tuple[service.SearchResult, frozenset[str]]:
    """The result, and which of its repositories the caller may delete from (admin role).
    Blocking: the snapshot may need the database too, so both run in the worker."""
    snapshot = ctx.snapshot()
    result = service.search(ctx.db, snapshot, caller, text)
    names = {hit.repository for hit in result.digests} | {hit.repository for hit in result.tags}
    deletable = frozenset(n for n in names if role_on(snapshot, caller, n) is Role.ADMIN)
    return result, deletable


def _only_exact_repository(result: service.SearchResult, text: str) -> bool:
    """The search named one repository exactly and found nothing else: open it."""
    wanted = service.without_registry(text.strip()).lower()
    return list(result.repositories) == [wanted] and not result.tags and not result.digests


def _param(request: Request, name: str) -> str | None:
    value = request.query_params.get(name, "").strip()
    return value[:_MAX_PARAM] or None


class Board:
    """GET `/environments`: the environments board."""

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

    async def page(self, request: Request) -> Response:
        session = await self._session(request)
        if session is None:
            return self._to_signin(request)
        contains = _param(request, "q")
        try:
            offset = max(0, min(int(request.query_params.get("offset", "0")), 10_000_000))
        except ValueError:
            offset = 0
        found = await run_in_threadpool(
            lambda: environments_board(
                self._manage, session.principal, contains=contains, offset=offset
            )
        )
        return self._render.page(
            "environments/board.html",
            user=session.principal,
            csrf_token=session.csrf_token,
            active="environments",
            board=found,
            contains=contains or "",
            repository_url=repository_url,
            tag_url=tag_url,
            image_url=image_url,
        )
