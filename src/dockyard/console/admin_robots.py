"""Administration: robot accounts (whoever administers their targets) and the audit log
(registry admins).

A robot's secret exists only in the answer to the form that created it: the result page
is rendered from that POST (never a redirect, which would put it in a URL or in storage),
with `Cache-Control: no-store` as every console page. Reloading it re-sends the form,
which the service refuses (the name is taken): the secret is shown exactly once.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from dockyard.auth.errors import AccessError, InvalidRequest
from dockyard.auth.manage import ManageContext, audit, robots
from dockyard.auth.manage.scope import administered
from dockyard.auth.manage.views import AuditPage
from dockyard.auth.principals import Principal
from dockyard.auth.sessions import Session
from dockyard.console.admin_kit import Desk, address, done, path_of

__all__ = ["GRANT_ROWS", "Robots"]

GRANT_ROWS = 3  # grant rows in the creation form; more can be added by creating again
_AUDIT_PAGE = 50
_FILTERS = ("actor", "action", "target", "since", "until")
_MAX_FILTER = 256


def _robot_grants(form: dict[str, str]) -> list[tuple[str, str]]:
    """The (role, target) pairs of the form's filled rows."""
    wanted = []
    for row in range(GRANT_ROWS):
        role, on = form.get(f"role_{row}", ""), form.get(f"on_{row}", "").strip()
        if role and on:
            wanted.append((role, on))
        elif on:
            raise InvalidRequest(f"choose a role for {on}")
    return wanted


def _expiry(text: str) -> int | None:
    if not text.strip():
        return None
    try:
        return int(text)
    except ValueError:
        raise InvalidRequest("the expiry is a number of days, or empty for never") from None


class Robots:
    def __init__(self, desk: Desk) -> None:
        self._desk = desk

    @property
    def _ctx(self) -> ManageContext:
        return self._desk.manage

    async def robot_list(self, request: Request) -> Response:
        return await self._robots_page(request, await self._desk.signed_in(request))

    async def _robots_page(
        self,
        request: Request,
        session: Session,
        *,
        error: AccessError | None = None,
        posted: dict[str, str] | None = None,
    ) -> Response:
        try:
            data = await run_in_threadpool(_robots_data, self._ctx, session.principal)
        except AccessError as failure:
            return self._desk.failure(request, session, failure)
        return self._desk.page(
            request,
            session,
            "admin/robots.html",
            error=error,
            posted=posted or {},
            grant_rows=range(GRANT_ROWS),
            now=self._ctx.now(),
            **data,
        )

    async def create_robot(self, request: Request) -> Response:
        session, form = await self._desk.form(request)
        name = form.get("name", "").strip()
        description = form.get("description", "").strip() or None
        try:
            created = await run_in_threadpool(
                robots.create_robot,
                self._ctx,
                session.principal,
                address(request),
                name,
                _robot_grants(form),
                description,
                _expiry(form.get("expires_in_days", "")),
            )
        except AccessError as error:
            kept = {key: value for key, value in form.items() if key != "csrf_token"}
            return await self._robots_page(request, session, error=error, posted=kept)
        return self._desk.page(
            request,
            session,
            "admin/robot_created.html",
            status=201,
            robot=created.robot,
            secret=created.secret,
            host=self._desk.registry_host(request),
        )

    async def change_robot(self, request: Request) -> Response:
        session, form = await self._desk.form(request)
        name = request.path_params["name"]
        try:
            if form.get("action") != "revoke":
                raise InvalidRequest("unknown action")
            await run_in_threadpool(
                robots.revoke_robot, self._ctx, session.principal, address(request), name
            )
        except AccessError as error:
            return await self._robots_page(request, session, error=error)
        return done(path_of("robots"), "robot-revoked")

    # --- audit ------------------------------------------------------------------------------

    async def audit_log(self, request: Request) -> Response:
        session = await self._desk.signed_in(request)
        filters = {key: request.query_params.get(key, "").strip()[:_MAX_FILTER] for key in _FILTERS}
        before = request.query_params.get("before", "")
        try:
            page = await run_in_threadpool(
                _audit_page, self._ctx, session.principal, filters, before
            )
        except AccessError as error:
            if isinstance(error, InvalidRequest):  # a filter to correct, on the same page
                return self._desk.page(
                    request,
                    session,
                    "admin/audit.html",
                    error=error,
                    filters=filters,
                    events=[],
                    older_url=None,
                    newest_url=None,
                )
            return self._desk.failure(request, session, error)
        chosen = {key: value for key, value in filters.items() if value}
        older = "/admin/audit?" + urlencode({**chosen, "before": page.next}) if page.next else None
        newest = "/admin/audit?" + urlencode(chosen) if before else None
        return self._desk.page(
            request,
            session,
            "admin/audit.html",
            filters=filters,
            events=page.events,
            older_url=older,
            newest_url=newest,
        )


def _robots_data(ctx: ManageContext, caller: Principal) -> dict[str, Any]:
    scope = administered(ctx, caller)
    return {
        "robots": robots.list_robots(ctx, caller),
        "targets": [*scope.namespaces, *scope.repositories],
    }


def _moment(text: str, name: str) -> int | None:
    """`2026-11-28`, `2026-11-28T09:30` (a datetime-local field) or with a zone; UTC if
    none."""
    if not text:
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise InvalidRequest(f"{name} is a date and time like 2026-11-28T09:30") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp())


def _audit_page(
    ctx: ManageContext, caller: Principal, filters: dict[str, str], before: str
) -> AuditPage:
    try:
        before_id = int(before) if before else None
    except ValueError:
        raise InvalidRequest("not a page of the audit log") from None
    return audit.list_events(
        ctx,
        caller,
        by=filters["actor"] or None,
        action=filters["action"] or None,
        target=filters["target"] or None,
        since=_moment(filters["since"], "From"),
        until=_moment(filters["until"], "Until"),
        before=before_id,
        limit=_AUDIT_PAGE,
    )
