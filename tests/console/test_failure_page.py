"""A console page that fails says which dependency is down instead of showing an error
page (issue 4, screen 9), and shows nothing of the request or the exception."""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path

import anyio
import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from dockyard.auth.manage import ManageContext
from dockyard.console.app import _guarded
from dockyard.console.overview import OverviewScreens
from dockyard.console.rendering import Renderer
from dockyard.storage.filesystem import FilesystemBlobStore
from fixtures.manage import unreachable_directory

_DETAIL = "<b>secret-detail-from-the-exception</b>"


async def _failing(request: Request) -> Response:
    raise RuntimeError(_DETAIL)


def _get(ctx: ManageContext, path: str) -> httpx.Response:
    async def no_session(request: Request) -> None:
        return None

    screens = OverviewScreens(
        ctx, Renderer(), no_session, lambda r: Response(status_code=303),
        lambda r: "registry.example", lambda r: "https://registry.example",
    )  # fmt: skip
    route = _guarded(Route("/boom", _failing), screens.failure_page)
    transport = httpx.ASGITransport(app=Starlette(routes=[route]))

    async def call() -> httpx.Response:
        async with httpx.AsyncClient(transport=transport, base_url="http://console") as client:
            return await client.get(path)

    return anyio.run(call)


def test_a_fault_with_every_dependency_up_says_it_is_ours(
    ctx: ManageContext, tmp_path: Path
) -> None:
    ctx = dataclasses.replace(ctx, store=FilesystemBlobStore(tmp_path / "store"))
    response = _get(ctx, "/boom")
    assert response.status_code == 500
    assert "This page could not be shown" in response.text
    assert "fault in Dockyard" in response.text
    assert "secret-detail" not in response.text


def test_a_dependency_that_is_down_is_named(ctx: ManageContext, tmp_path: Path) -> None:
    store = FilesystemBlobStore(tmp_path / "store")
    shutil.rmtree(tmp_path / "store")  # the disk went away
    ctx = dataclasses.replace(ctx, store=store, directories=[unreachable_directory("corp")])
    response = _get(ctx, "/boom")
    assert response.status_code == 503
    assert "Dockyard cannot reach something it depends on" in response.text
    assert "<strong>storage</strong>" in response.text
    assert "<strong>directory corp</strong>" in response.text
    assert "<strong>database</strong>" not in response.text
    assert "secret-detail" not in response.text
