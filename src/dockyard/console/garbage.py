"""Administration: garbage collection, for registry admins (the janitor's screen), over
`registry.gc`, which checks the role.

- `/admin/gc`: the settings in force, the review queues, the forms that start a dry run, a
  collection (both with a grace override) or a verification of the store, and the last runs.
- `/admin/gc/runs/<id>`: a run's figures and phase; what it removed, would remove (a dry
  run) or found (a verification); for a finished dry run, the button that collects with
  the same grace.
- `/admin/gc/runs/<id>/progress`: the changing part of that page, which htmx asks for
  every second while the run runs; the answer for an ended run no longer asks again.

Runs go in the background (`gc.start`): the POST answers 303 to the run's page at once.
Others are refused by the service, shown as on every Administration page (403).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from dockyard.auth.errors import AccessError, InvalidRequest
from dockyard.auth.manage import ManageContext
from dockyard.auth.principals import Principal
from dockyard.auth.sessions import Session
from dockyard.console.admin_kit import Desk, path_of
from dockyard.registry import gc
from dockyard.registry.gc import GcMode, RunItem, RunRow

__all__ = ["GarbageScreens", "run_url", "span"]

_RUNS_SHOWN = 20
_ITEMS_SHOWN = 1000
_MAX_GRACE = 3650 * 86_400  # ten years: beyond that, a typo
_MODES = {
    GcMode.DRY_RUN: "Dry run",
    GcMode.COLLECT: "Collection",
    GcMode.VERIFY: "Verification",
}
# the admin API's trigger; the CLI and the console start runs through it
_TRIGGERS = {"api": "on demand", "schedule": "schedule"}
# what each phase (registry.gc's `sink.beat`) means to the person watching
_PHASES = {
    "starting": "Starting",
    "recovering": "Removing bytes a crashed run left behind",
    "manifests": "Reviewing manifests",
    "blobs": "Reviewing blobs and repository links",
    "uploads": "Expiring abandoned uploads",
    "verifying": "Comparing the store with the database",
    "finished": "Finished",
}
_KINDS = {
    "manifest": "manifest",
    "link": "repository link",
    "blob": "blob",
    "upload": "upload session",
    "orphan": "file without a row",
    "missing": "row without a file",
    "corrupt": "corrupt file",
}


def run_url(run_id: int) -> str:
    return path_of("gc", "runs", str(run_id))


def span(seconds: int) -> str:
    """A length of time as people say it, to two units: `90 s` is `1 min 30 s`."""
    if seconds < 60:
        return f"{max(seconds, 0)} s"
    parts = []
    rest = seconds
    for size, unit in ((86_400, "day"), (3600, "h"), (60, "min"), (1, "s")):
        count, rest = divmod(rest, size)
        if count:
            plural = "s" if unit == "day" and count != 1 else ""
            parts.append(f"{count} {unit}{plural}")
    return " ".join(parts[:2])


def _mode(text: str) -> GcMode:
    try:
        return GcMode(text)
    except ValueError:
        raise InvalidRequest("choose a dry run, a collection or a verification") from None


def _grace(text: str) -> int | None:
    """The form's grace in seconds; empty: the setting."""
    text = text.strip()
    if not text:
        return None
    try:
        seconds = int(text)
    except ValueError:
        raise InvalidRequest("the grace period is a whole number of seconds") from None
    if seconds > _MAX_GRACE:
        raise InvalidRequest(f"the grace period is at most {_MAX_GRACE} seconds (ten years)")
    return seconds  # a negative one is the service's to refuse


class GarbageScreens:
    def __init__(self, desk: Desk) -> None:
        self._desk = desk

    @property
    def _ctx(self) -> ManageContext:
        return self._desk.manage

    def _helpers(self) -> dict[str, Any]:
        return {
            "modes": _MODES,
            "phases": _PHASES,
            "triggers": _TRIGGERS,
            "kinds": _KINDS,
            "run_url": run_url,
            "span": span,
            "items_shown": _ITEMS_SHOWN,
            "now": self._ctx.now(),
        }

    # --- the collection page ------------------------------------------------------------

    async def overview(self, request: Request) -> Response:
        """GET `/admin/gc`."""
        session = await self._desk.signed_in(request)
        return await self._overview(request, session)

    async def _overview(
        self,
        request: Request,
        session: Session,
        *,
        error: AccessError | None = None,
        grace: str | None = None,
    ) -> Response:
        try:
            data = await run_in_threadpool(_overview_data, self._ctx, session.principal)
        except AccessError as failure:
            return self._desk.failure(request, session, failure)
        settings = self._ctx.gc
        return self._desk.page(
            request,
            session,
            "gc/page.html",
            error=error,
            settings=settings,
            grace=str(settings.grace_seconds) if grace is None else grace,
            **data,
            **self._helpers(),
        )

    async def start(self, request: Request) -> Response:
        """POST `/admin/gc` with `mode` and `grace_seconds`: start a run, show its page."""
        session, form = await self._desk.form(request)
        grace = form.get("grace_seconds", "")
        try:
            mode = _mode(form.get("mode", ""))
            seconds = None if mode is GcMode.VERIFY else _grace(grace)
            row = await run_in_threadpool(gc.start, self._ctx, session.principal, mode, seconds)
        except AccessError as error:
            return await self._overview(request, session, error=error, grace=grace)
        return RedirectResponse(run_url(row.id), 303)

    # --- a run ------------------------------------------------------------------------------

    async def run(self, request: Request) -> Response:
        """GET `/admin/gc/runs/<id>`."""
        session = await self._desk.signed_in(request)
        run_id: int = request.path_params["run_id"]
        try:
            row, items = await run_in_threadpool(_run_data, self._ctx, session.principal, run_id)
        except AccessError as failure:
            return self._desk.failure(request, session, failure)
        return self._desk.page(
            request, session, "gc/run.html", run=row, items=items, **self._helpers()
        )

    async def progress(self, request: Request) -> Response:
        """GET `/admin/gc/runs/<id>/progress`: the run page's changing part, for htmx."""
        run_id: int = request.path_params["run_id"]
        session = await self._desk.session(request)
        if session is None:  # htmx would swap the sign-in page into the run's figures
            target = "/signin?next=" + quote(run_url(run_id), safe="/")
            return Response(status_code=204, headers={"HX-Redirect": target})
        try:
            row, items = await run_in_threadpool(_run_data, self._ctx, session.principal, run_id)
        except AccessError as failure:
            return self._desk.failure(request, session, failure)
        return self._desk.render.fragment(
            "gc/_run.html",
            run=row,
            items=items,
            csrf_token=session.csrf_token,
            **self._helpers(),
        )


def _overview_data(ctx: ManageContext, caller: Principal) -> dict[str, Any]:
    """Blocking. The last runs and the queues (Forbidden unless a registry admin)."""
    manifests, blobs = gc.queue_sizes(ctx, caller)
    return {
        "runs": gc.list_runs(ctx, caller, _RUNS_SHOWN),
        "queued_manifests": manifests,
        "queued_blobs": blobs,
    }


def _run_data(ctx: ManageContext, caller: Principal, run_id: int) -> tuple[RunRow, list[RunItem]]:
    """Blocking. The run, and once it has ended its first items (while it runs, only its
    figures are shown: the list would be re-sent every second)."""
    row = gc.get_run(ctx, caller, run_id)
    if row.status == "running":
        return row, []
    return row, gc.run_items(ctx, caller, run_id, limit=_ITEMS_SHOWN)
