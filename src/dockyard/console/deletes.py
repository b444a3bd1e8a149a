"""Deleting from the console (issue 4, screen 7), over `registry.deletes`, which checks the
admin role and writes the audit log.

- A confirmation page for every kind (tags, images, a repository, a layer) that says exactly
  what goes and how many bytes become reclaimable; its button posts the same selection.
- Quick delete: a trash button per row (tags on the repository page, images in search
  results) that deletes at once, without a dialog, and offers Undo. With htmx the row is
  replaced in place by an "Undo" row; without JavaScript the page reloads with the same
  offer at the top.
- Multi-select: checkboxes on the tag table feed the confirmation page.

Every POST carries the session's CSRF token (form field or htmx header).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import urlencode

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from dockyard.auth.errors import AccessError, Conflict, Forbidden, InvalidRequest, NotFound
from dockyard.auth.manage import ManageContext
from dockyard.auth.permissions import is_registry_admin
from dockyard.auth.principals import Principal
from dockyard.auth.sessions import Session
from dockyard.console.flash import flash_query
from dockyard.console.rendering import Renderer
from dockyard.console.security import (
    CSRF_FIELD,
    CSRF_HEADER,
    FormTooLarge,
    csrf_matches,
    read_form_pairs,
    safe_next,
)
from dockyard.console.urls import image_url, layer_url, repository_url, tag_url
from dockyard.registry import deletes as service
from dockyard.registry import images
from dockyard.registry.deletes import DeleteKind, DeletePlan, DeleteResult

__all__ = ["Deletes"]

_CSRF_REFUSED = (
    "This form has expired or did not come from Dockyard. Reload the page and try again."
)
_MAX_SELECTED = 1000
_STATUS = {NotFound: 404, Forbidden: 403, Conflict: 409, InvalidRequest: 400}

SessionOf = Callable[[Request], Awaitable[Session | None]]


def _status(error: AccessError) -> int:
    for kind, status in _STATUS.items():
        if isinstance(error, kind):
            return status
    return 400


class Deletes:
    def __init__(
        self,
        manage: ManageContext,
        render: Renderer,
        session: SessionOf,
        to_signin: Callable[[Request], Response],
    ) -> None:
        self._manage = manage
        self._render = render
        self._session = session
        self._to_signin = to_signin

    # --- shared ---------------------------------------------------------------------------

    def _page(self, session: Session, template: str, status: int = 200, **ctx: Any) -> Response:
        return self._render.page(
            template,
            status,
            user=session.principal,
            csrf_token=session.csrf_token,
            active="images",
            repository_url=repository_url,
            tag_url=tag_url,
            image_url=image_url,
            **ctx,
        )

    def _refusal(self, session: Session, error: AccessError) -> Response:
        return self._page(session, "deletes/refused.html", _status(error), message=error.message)

    async def _posted(self, request: Request, session: Session) -> list[tuple[str, str]] | Response:
        """The form's fields, or the refusal page when the CSRF token is missing or wrong."""
        try:
            pairs = await read_form_pairs(request)
        except FormTooLarge:
            return self._render.plain(413, "That form was too large.")
        given = request.headers.get(CSRF_HEADER) or next(
            (value for key, value in pairs if key == CSRF_FIELD), None
        )
        if not csrf_matches(session.csrf_token, given):
            return self._render.plain(403, _CSRF_REFUSED)
        return pairs

    async def signed_form(
        self, request: Request
    ) -> tuple[Session, list[tuple[str, str]]] | Response:
        """For the console's other forms: the session and the posted fields, or the answer
        (sign in, CSRF refusal) to give instead."""
        session = await self._session(request)
        if session is None:
            return self._to_signin(request)
        posted = await self._posted(request, session)
        if isinstance(posted, Response):
            return posted
        return session, posted

    def refusal(self, session: Session, error: AccessError) -> Response:
        return self._refusal(session, error)

    @staticmethod
    def _address(request: Request) -> str | None:
        return request.client.host if request.client else None

    # --- confirmation ---------------------------------------------------------------------

    async def confirm(self, request: Request, name: str) -> Response:
        """GET `/images/<name>/-/delete?kind=tag&tag=a&tag=b` (or kind=manifest&digest=…,
        kind=repository): what would go, with the button that deletes it."""
        session = await self._session(request)
        if session is None:
            return self._to_signin(request)
        params = request.query_params
        kind = params.get("kind", "")
        tags = params.getlist("tag")[:_MAX_SELECTED]
        digests = params.getlist("digest")[:_MAX_SELECTED]
        caller = session.principal
        try:
            if kind == DeleteKind.MANIFEST and tags and not digests:  # ticked tags' images
                digests = await run_in_threadpool(
                    images.digests_of_tags, self._manage, caller, name, tags
                )
                tags = []
            plan = await run_in_threadpool(_plan, self._manage, caller, name, kind, tags, digests)
        except AccessError as error:
            return self._refusal(session, error)
        return self._page(
            session,
            "deletes/confirm.html",
            plan=plan,
            may_override=bool(plan.immutable)
            and is_registry_admin(self._manage.snapshot(), caller),
            repository=name,
            selected_tags=tags,
            selected_digests=digests,
            action=repository_url(name) + "/-/delete",
            back=repository_url(name),
        )

    async def execute(self, request: Request, name: str) -> Response:
        """POST `/images/<name>/-/delete`: the confirmed delete."""
        session = await self._session(request)
        if session is None:
            return self._to_signin(request)
        posted = await self._posted(request, session)
        if isinstance(posted, Response):
            return posted
        kind = next((value for key, value in posted if key == "kind"), "")
        tags = [value for key, value in posted if key == "tag"][:_MAX_SELECTED]
        digests = [value for key, value in posted if key == "digest"][:_MAX_SELECTED]
        override = any(key == "override_immutable" for key, _ in posted)
        caller, address = session.principal, self._address(request)
        try:
            result = await run_in_threadpool(
                _delete, self._manage, caller, address, name, kind, tags, digests, override
            )
        except AccessError as error:
            return self._refusal(session, error)
        if result.plan.kind is DeleteKind.REPOSITORY:
            flash = flash_query(session.csrf_token, deleted=f"Deleted the repository {name}.")
            return RedirectResponse("/images?" + urlencode(flash), 303)
        query = flash_query(session.csrf_token, deleted=_summary(result.plan))
        return RedirectResponse(f"{repository_url(name)}?{urlencode(query)}", 303)

    # --- quick delete and undo --------------------------------------------------------------

    async def quick(self, request: Request, name: str) -> Response:
        """POST `/images/<name>/-/quick-delete` with `tag` or `digest`: delete at once,
        undoable. htmx gets the row that replaces the deleted one; a plain form a redirect
        back to `next` with the undo offer."""
        session = await self._session(request)
        if session is None:
            return self._to_signin(request)
        posted = await self._posted(request, session)
        if isinstance(posted, Response):
            return posted
        fields = dict(reversed(posted))  # first value wins
        tag, digest = fields.get("tag"), fields.get("digest")
        back = safe_next(fields.get("next") or repository_url(name))
        caller, address = session.principal, self._address(request)
        try:
            if tag:
                result = await run_in_threadpool(
                    lambda: service.delete_tags(
                        self._manage, caller, address, name, [tag], undoable=True
                    )
                )
            elif digest:
                result = await run_in_threadpool(
                    lambda: service.delete_manifests(
                        self._manage, caller, address, name, [digest], undoable=True
                    )
                )
            else:
                return self._refusal(session, InvalidRequest("Choose something to delete."))
        except AccessError as error:
            if request.headers.get("hx-request"):
                return self._render.fragment(
                    "deletes/_failed_row.html", _status(error), message=error.message
                )
            return self._refusal(session, error)
        summary = _summary(result.plan)
        if request.headers.get("hx-request"):
            return self._render.fragment(
                "deletes/_undo_row.html",
                summary=summary,
                undo=result.undo,
                action=repository_url(name) + "/-/undo",
                back=back,
                csrf_token=session.csrf_token,
            )
        query = flash_query(session.csrf_token, deleted=summary, undo=result.undo or "")
        separator = "&" if "?" in back else "?"
        return RedirectResponse(f"{back}{separator}{urlencode(query)}", 303)

    async def undo(self, request: Request, name: str) -> Response:
        """POST `/images/<name>/-/undo` with `batch`: put back what a quick delete took."""
        session = await self._session(request)
        if session is None:
            return self._to_signin(request)
        posted = await self._posted(request, session)
        if isinstance(posted, Response):
            return posted
        fields = dict(reversed(posted))
        back = safe_next(fields.get("next") or repository_url(name))
        try:
            restored = await run_in_threadpool(
                service.undo,
                self._manage,
                session.principal,
                self._address(request),
                fields.get("batch", ""),
            )
        except AccessError as error:
            return self._refusal(session, error)
        what = ", ".join(tag.tag for tag in restored.tags) or f"{len(restored.manifests)} image(s)"
        separator = "&" if "?" in back else "?"
        target = f"{back}{separator}{urlencode(flash_query(session.csrf_token, restored=what))}"
        if request.headers.get("hx-request"):  # htmx follows this header, not a 303
            return Response(status_code=204, headers={"HX-Redirect": target})
        return RedirectResponse(target, 303)

    # --- layers -----------------------------------------------------------------------------

    async def layer(self, request: Request) -> Response:
        """GET `/layers/<digest>`: every image using the layer, and the purge button."""
        session = await self._session(request)
        if session is None:
            return self._to_signin(request)
        digest = request.path_params["digest"]
        try:
            plan = await run_in_threadpool(
                service.plan_layer_purge, self._manage, session.principal, digest
            )
        except AccessError as error:
            return self._refusal(session, error)
        return self._page(
            session,
            "deletes/layer.html",
            plan=plan,
            digest=digest,
            action=layer_url(digest),
            purged=request.query_params.get("purged"),
        )

    async def purge(self, request: Request) -> Response:
        """POST `/layers/<digest>`: delete every image using it, then the layer itself."""
        session = await self._session(request)
        if session is None:
            return self._to_signin(request)
        posted = await self._posted(request, session)
        if isinstance(posted, Response):
            return posted
        digest = request.path_params["digest"]
        if ("delete_images", "yes") not in posted:
            return self._refusal(
                session,
                InvalidRequest(
                    "A layer goes only with every image that uses it: tick the box that "
                    "deletes those images too."
                ),
            )
        try:
            result = await run_in_threadpool(
                service.purge_layer, self._manage, session.principal, self._address(request), digest
            )
        except AccessError as error:
            return self._refusal(session, error)
        return self._page(session, "deletes/purged.html", plan=result.plan, digest=digest)


def _plan(
    ctx: ManageContext, caller: Principal, name: str, kind: str, tags: list[str], digests: list[str]
) -> DeletePlan:
    """What the delete a confirmation page names would take (blocking)."""
    if kind == DeleteKind.TAG and tags:
        return service.plan_tag_delete(ctx, caller, name, tags)
    if kind == DeleteKind.MANIFEST and digests:
        return service.plan_manifest_delete(ctx, caller, name, digests)
    if kind == DeleteKind.REPOSITORY:
        return service.plan_repository_delete(ctx, caller, name)
    raise InvalidRequest("Choose something to delete.")


def _delete(
    ctx: ManageContext,
    caller: Principal,
    address: str | None,
    name: str,
    kind: str,
    tags: list[str],
    digests: list[str],
    override: bool,
) -> DeleteResult:
    """The confirmed delete (blocking); the same choices as `_plan`."""
    if kind == DeleteKind.TAG and tags:
        return service.delete_tags(ctx, caller, address, name, tags, override_immutable=override)
    if kind == DeleteKind.MANIFEST and digests:
        return service.delete_manifests(
            ctx, caller, address, name, digests, override_immutable=override
        )
    if kind == DeleteKind.REPOSITORY:
        return service.delete_repository(ctx, caller, address, name, override_immutable=override)
    raise InvalidRequest("Choose something to delete.")


def _summary(plan: DeletePlan) -> str:
    """One line saying what went, for the flash message."""
    if plan.kind is DeleteKind.TAG:
        names = ", ".join(f"{ref.repository}:{ref.tag}" for ref in plan.tags)
        return f"Deleted tag{'s' if len(plan.tags) != 1 else ''} {names}."
    images = len(plan.manifests)
    tags = len(plan.tags)
    return (
        f"Deleted {images} manifest{'s' if images != 1 else ''} and {tags} "
        f"tag{'s' if tags != 1 else ''} from {plan.target}."
    )
