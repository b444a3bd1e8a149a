"""Administration: webhooks (registry admins). One page lists the endpoints, offers a form
to add one, and shows the delivery log (status, attempts, last error, next attempt) with a
button to send a delivery again; a row's buttons enable, disable or remove its endpoint.

The secret exists only in the answer to the form that made it (as a robot's): the result
page is rendered from that POST, never a redirect, and the service never returns it again.
"""

from __future__ import annotations

from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from dockyard.auth.errors import AccessError, InvalidRequest
from dockyard.auth.manage import ManageContext
from dockyard.auth.principals import Principal
from dockyard.auth.sessions import Session
from dockyard.console.admin_kit import Desk, address, done
from dockyard.registry import webhooks
from dockyard.registry.webhooks import EndpointSpec

__all__ = ["ACTIONS", "Webhooks"]

ACTIONS = ("push", "delete", "promote", "tag-move")
_PATH = "/admin/webhooks"
_LOG_ROWS = 100


def _page_data(ctx: ManageContext, caller: Principal, endpoint: str | None) -> dict[str, Any]:
    return {
        "endpoints": webhooks.list_endpoints(ctx, caller),
        "deliveries": webhooks.deliveries(ctx, caller, endpoint=endpoint, limit=_LOG_ROWS),
        "shown_endpoint": endpoint,
    }


def _spec(form: dict[str, str]) -> EndpointSpec:
    patterns = form.get("repositories", "").replace(",", "\n").splitlines()
    return EndpointSpec(
        url=form.get("url", ""),
        actions=[a for a in ACTIONS if form.get(f"action_{a}") == "on"],
        repositories=[p.strip() for p in patterns if p.strip()],
        enabled=True,
        verify_tls=form.get("verify_tls") == "on",
    )


class Webhooks:
    def __init__(self, desk: Desk) -> None:
        self._desk = desk

    @property
    def _ctx(self) -> ManageContext:
        return self._desk.manage

    async def page(self, request: Request) -> Response:
        session = await self._desk.signed_in(request)
        return await self._render(request, session)

    async def _render(
        self,
        request: Request,
        session: Session,
        *,
        error: AccessError | None = None,
        posted: dict[str, str] | None = None,
    ) -> Response:
        endpoint = request.query_params.get("endpoint") or None
        try:
            data = await run_in_threadpool(_page_data, self._ctx, session.principal, endpoint)
        except AccessError as failure:
            return self._desk.failure(request, session, failure)
        return self._desk.page(
            request, session, "admin/webhooks.html", error=error, actions=ACTIONS,
            posted=posted if posted is not None else {"verify_tls": "on"},
            now=self._ctx.now(), **data,
        )  # fmt: skip

    async def change(self, request: Request) -> Response:
        session, form = await self._desk.form(request)
        action, caller, where = form.get("action", ""), session.principal, address(request)
        name = form.get("name", "").strip()
        try:
            if action == "create":
                made = await run_in_threadpool(
                    webhooks.create_endpoint, self._ctx, caller, where, name, _spec(form)
                )
                return self._desk.page(
                    request, session, "admin/webhook_created.html", status=201,
                    endpoint=made.endpoint.row, secret=made.secret,
                )  # fmt: skip
            if action in ("enable", "disable"):
                spec = EndpointSpec(enabled=action == "enable")
                await run_in_threadpool(
                    webhooks.update_endpoint, self._ctx, caller, where, name, spec
                )
                return done(_PATH, f"webhook-{action}d")
            if action == "remove":
                await run_in_threadpool(webhooks.delete_endpoint, self._ctx, caller, where, name)
                return done(_PATH, "webhook-removed")
            if action == "redeliver":
                try:
                    delivery = int(form.get("delivery", ""))
                except ValueError:
                    raise InvalidRequest("not a delivery") from None
                await run_in_threadpool(webhooks.redeliver, self._ctx, caller, where, delivery)
                return done(_PATH, "webhook-redelivered")
            raise InvalidRequest("unknown action")
        except AccessError as error:
            kept = {k: v for k, v in form.items() if k != "csrf_token"}
            return await self._render(request, session, error=error, posted=kept)
