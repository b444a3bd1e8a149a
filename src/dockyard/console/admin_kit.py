"""What every Administration screen shares: the signed-in check, CSRF-checked forms, the
one table from service errors to statuses, flash messages and POST-redirect-GET.

The services (auth.manage) make every permission decision; these screens only choose what
to offer, and show the services' refusals as a message on the page, never a stack trace.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlencode

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from dockyard.auth import errors as e
from dockyard.auth.manage import ManageContext
from dockyard.auth.manage import grants as grant_service
from dockyard.auth.permissions import is_registry_admin
from dockyard.auth.principals import Principal
from dockyard.auth.sessions import Session
from dockyard.console.rendering import Renderer
from dockyard.console.security import (
    CSRF_FIELD,
    CSRF_HEADER,
    FormTooLarge,
    csrf_matches,
    read_form,
)

__all__ = [
    "Desk",
    "Refused",
    "address",
    "done",
    "error_status",
    "grant_action",
    "guarded",
    "path_of",
]

_CSRF_REFUSED = (
    "This form has expired or did not come from Dockyard. Reload the page and try again."
)
# Most specific first: the first isinstance match wins (AlreadyExists is a Conflict).
_STATUS: list[tuple[type[e.AccessError], int]] = [
    (e.NotFound, 404),
    (e.Forbidden, 403),
    (e.Conflict, 409),
    (e.InvalidRequest, 400),
    (e.Unavailable, 503),
]
# Flash messages come from this table by key: a link cannot make the page say anything else.
_FLASH = {
    "user-created": "User created.",
    "user-updated": "User updated.",
    "user-deleted": "User deleted.",
    "password-set": "Password changed.",
    "group-created": "Group created.",
    "group-deleted": "Group deleted.",
    "member-added": "Member added.",
    "member-removed": "Member removed.",
    "namespace-created": "Namespace created.",
    "policy-set": "Access policy changed.",
    "quota-set": "Storage quota set.",
    "quota-cleared": "Storage quota removed.",
    "grant-set": "Role granted.",
    "grant-revoked": "Role revoked.",
    "robot-revoked": "Robot revoked.",
    "retention-saved": "Retention policy saved (disabled: simulate it, then enable it).",
    "retention-enabled": "Retention policy saved and enabled.",
    "retention-deleted": "Retention policy removed.",
    "retention-ran": "Retention policy run: removed tags are listed below, restorable.",
    "tag-restored": "Tag restored.",
    "webhook-enabled": "Webhook enabled.",
    "webhook-disabled": "Webhook disabled: new events are not sent to it.",
    "webhook-removed": "Webhook removed, with its delivery log.",
    "webhook-redelivered": "The delivery will be sent again within seconds.",
}


class Refused(Exception):
    """A request the screen itself turns away (signed out, a failed CSRF check, a form
    too large), carrying the response to send."""

    def __init__(self, response: Response) -> None:
        super().__init__("refused")
        self.response = response


def error_status(error: e.AccessError) -> int:
    for cls, status in _STATUS:
        if isinstance(error, cls):
            return status
    return 500


def _sentence(message: str) -> str:
    """Service messages are lower-case fragments ("user jane exists"): as a sentence,
    unless they start with a reference, which keeps its case ("user:jane not found")."""
    text = message.strip()
    if not text:
        return "That did not work."
    if ":" not in text.split(" ", 1)[0]:
        text = text[0].upper() + text[1:]
    return text if text.endswith((".", "!", "?")) else text + "."


def path_of(*parts: str) -> str:
    """`/admin/...` with each part escaped as one path segment."""
    return "/admin/" + "/".join(quote(part, safe="") for part in parts)


@dataclass(frozen=True)
class Desk:
    """Handed to every screen module by the console: sessions and pages work as on the
    other screens."""

    manage: ManageContext
    render: Renderer
    session: Callable[[Request], Awaitable[Session | None]]
    to_signin: Callable[[Request], Response]
    registry_host: Callable[[Request], str]  # the host name `docker login` needs

    async def signed_in(self, request: Request) -> Session:
        session = await self.session(request)
        if session is None:
            raise Refused(self.to_signin(request))
        return session

    async def form(self, request: Request) -> tuple[Session, dict[str, str]]:
        """The session and the posted form, whose CSRF token must be the session's."""
        session = await self.signed_in(request)
        try:
            form = await read_form(request)
        except FormTooLarge:
            raise Refused(self.render.plain(413, "That form was too large.")) from None
        given = request.headers.get(CSRF_HEADER) or form.get(CSRF_FIELD)  # htmx: the header
        if not csrf_matches(session.csrf_token, given):
            raise Refused(self.render.plain(403, _CSRF_REFUSED))
        return session, form

    def registry_admin(self, session: Session) -> bool:
        """For choosing what to offer (the services decide): the snapshot the session was
        just checked against, so no query."""
        return is_registry_admin(self.manage.access.latest(), session.principal)

    def page(
        self,
        request: Request,
        session: Session,
        template: str,
        *,
        error: e.AccessError | None = None,
        status: int = 200,
        **context: Any,
    ) -> Response:
        """An Administration page; with `error`, its message shown and its status."""
        flash = _FLASH.get(request.query_params.get("done", ""))
        return self.render.page(
            template,
            error_status(error) if error is not None else status,
            user=session.principal,
            csrf_token=session.csrf_token,
            active="admin",
            registry_admin=self.registry_admin(session),
            error=_sentence(error.message) if error is not None else None,
            flash=None if error is not None else flash,
            **context,
        )

    def failure(self, request: Request, session: Session, error: e.AccessError) -> Response:
        """A page that could not be shown at all (not found, not allowed)."""
        return self.page(request, session, "admin/refused.html", error=error)


def address(request: Request) -> str | None:
    return request.client.host if request.client else None


def done(path: str, key: str, query: Mapping[str, str] | None = None) -> Response:
    """POST-redirect-GET: 303 to `path`, the flash message named by its key."""
    return RedirectResponse(f"{path}?{urlencode({**(query or {}), 'done': key})}", 303)


def guarded(
    handler: Callable[[Request], Awaitable[Response]],
) -> Callable[[Request], Awaitable[Response]]:
    """Turns `Refused` into its response, so handlers can raise it from any depth."""

    async def route(request: Request) -> Response:
        try:
            return await handler(request)
        except Refused as refused:
            return refused.response

    return route


_PRINCIPAL_KINDS = ("user", "group", "robot")


def grant_action(
    ctx: ManageContext,
    caller: Principal,
    address: str | None,
    action: str,
    form: Mapping[str, str],
    on: str | None = None,
) -> str | None:
    """Blocking. The `grant` (on the page's own target `on`) and `revoke` (of the row's
    `to` and `on`: the service checks the caller administers it) actions of the access
    pages; None for any other action."""
    if action == "grant" and on is not None:
        kind, name = form.get("kind", ""), form.get("name", "").strip()
        if kind not in _PRINCIPAL_KINDS or not name:
            raise e.InvalidRequest("choose user, group or robot and give a name")
        role = form.get("role", "")
        grant_service.set_grant(ctx, caller, address, role, f"{kind}:{name}", on)
        return "grant-set"
    if action == "revoke":
        grant_service.revoke_grant(ctx, caller, address, form.get("to", ""), form.get("on", ""))
        return "grant-revoked"
    return None
