"""The repository, tag and image pages (issue 4, screens 5 and 6), read-only views over
`registry.images`, which checks that the caller may read the repository.

Repository names hold slashes, so one route takes the rest of the path and splits it at
`/-/` (a path component no repository name may have: the OCI grammar wants alphanumerics
around every separator):
- `/images/<name>` the repository page;
- `/images/<name>/-/tags/<tag>` one tag and its history;
- `/images/<name>/-/manifests/<digest>` one image.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import urlencode

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from dockyard.auth.errors import NotFound
from dockyard.auth.manage import ManageContext
from dockyard.auth.roles import Role
from dockyard.auth.sessions import Session
from dockyard.console.deletes import Deletes
from dockyard.console.flash import read_flash, without_flash
from dockyard.console.lifecycle import Lifecycle
from dockyard.console.rendering import Renderer
from dockyard.console.urls import image_url, layer_url, repository_url, tag_url
from dockyard.registry import images, promotion, usage
from dockyard.registry.images import TagSort
from dockyard.registry.upstream import imports

__all__ = ["Inspect"]

_SEPARATOR = "/-/"


class Inspect:
    def __init__(
        self,
        manage: ManageContext,
        render: Renderer,
        session: Callable[[Request], Awaitable[Session | None]],
        to_signin: Callable[[Request], Response],
        registry_host: Callable[[Request], str],
        deletes: Deletes,
    ) -> None:
        self._deletes = deletes
        self._lifecycle = Lifecycle(manage, deletes)
        self._manage = manage
        self._render = render
        self._session = session
        self._to_signin = to_signin
        self._registry_host = registry_host

    async def route(self, request: Request) -> Response:
        session = await self._session(request)
        if session is None:
            return self._to_signin(request)
        rest: str = request.path_params["rest"]
        name, _, detail = rest.partition(_SEPARATOR)
        name = name.strip("/")
        section, _, value = detail.partition("/")
        if section == "delete" and not value:
            return await self._deletes.confirm(request, name)
        try:
            if not detail:
                return await self._repository(request, session, name)
            if section == "tags" and value:
                return await self._tag(request, session, name, value)
            if section == "manifests" and value:
                return await self._image(request, session, name, value)
        except NotFound as missing:
            return self._not_found(session, missing.message)
        return self._not_found(session, "There is no such page.")

    def _not_found(self, session: Session, message: str) -> Response:
        return self._render.page(
            "inspect/missing.html",
            404,
            user=session.principal,
            csrf_token=session.csrf_token,
            active="images",
            message=message,
        )

    async def post(self, request: Request) -> Response:
        """POST `/images/<name>/-/delete`, `/-/quick-delete`, `/-/undo`, `/-/revert` (a tag to
        an earlier digest) and `/-/promote` (an image to another environment)."""
        name, _, section = request.path_params["rest"].partition(_SEPARATOR)
        name = name.strip("/")
        if section == "delete":
            return await self._deletes.execute(request, name)
        if section == "quick-delete":
            return await self._deletes.quick(request, name)
        if section == "undo":
            return await self._deletes.undo(request, name)
        if section == "revert":
            return await self._lifecycle.revert(request, name)
        if section == "promote":
            return await self._lifecycle.promote(request, name)
        return Response("Not Found", 404, media_type="text/plain")

    def _common(self, request: Request, session: Session, role: Role) -> dict[str, Any]:
        flash = read_flash(request, session.csrf_token)
        return {
            "quick": request.query_params.get("quick") == "1" and role is Role.ADMIN,
            "flash_deleted": flash.get("deleted", ""),
            "flash_undo": flash.get("undo", ""),
            "flash_restored": flash.get("restored", ""),
            "flash_done": flash.get("done", ""),
            "flash_repository": request.path_params["rest"].partition(_SEPARATOR)[0].strip("/"),
            "flash_back": request.url.path + "?" + urlencode(without_flash(request)),
            "user": session.principal,
            "csrf_token": session.csrf_token,
            "active": "images",
            "host": self._registry_host(request),
            "may_push": role in (Role.WRITE, Role.ADMIN),
            "may_delete": role is Role.ADMIN,
            "repository_url": repository_url,
            "tag_url": tag_url,
            "image_url": image_url,
            "layer_url": layer_url,
        }

    async def _repository(self, request: Request, session: Session, name: str) -> Response:
        try:
            sort = TagSort(request.query_params.get("sort", TagSort.NAME))
        except ValueError:
            sort = TagSort.NAME
        offset = _offset(request.query_params.get("offset"))
        page = await run_in_threadpool(
            images.repository_page, self._manage, session.principal, name, sort, offset
        )
        storage = await run_in_threadpool(
            usage.repository_usage, self._manage, session.principal, name
        )
        promotions = await run_in_threadpool(
            lambda: promotion.history(self._manage, session.principal, repository=name, limit=20)
        )
        sync = await run_in_threadpool(
            imports.repository_sync, self._manage, session.principal, name
        )
        return self._render.page(
            "inspect/repository.html",
            page=page,
            repo=page.repository,
            storage=storage,
            promotions=promotions,
            sync=sync,
            **self._common(request, session, page.role),
        )

    async def _tag(self, request: Request, session: Session, name: str, tag: str) -> Response:
        detail = await run_in_threadpool(
            images.tag_detail, self._manage, session.principal, name, tag
        )
        return self._render.page(
            "inspect/tag.html", detail=detail, **self._common(request, session, detail.role)
        )

    async def _image(self, request: Request, session: Session, name: str, digest: str) -> Response:
        image = await run_in_threadpool(
            images.image_detail, self._manage, session.principal, name, digest
        )
        stage = promotion.stage_of(self._manage, name)
        later = self._manage.environments[stage.index + 1 :] if stage else ()
        return self._render.page(
            "inspect/image.html",
            image=image,
            promote_to=[environment.name for environment in later],
            **self._common(request, session, image.role),
        )


def _offset(text: str | None) -> int:
    try:
        return max(0, min(int(text or 0), 10_000_000))
    except ValueError:
        return 0
