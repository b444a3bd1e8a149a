"""The console's release-flow forms: revert a tag to an earlier digest (the tag page's
history) and promote an image into the next environment (the image page)."""

from __future__ import annotations

from urllib.parse import urlencode

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from dockyard.auth.errors import AccessError, InvalidRequest
from dockyard.auth.manage import ManageContext
from dockyard.console.deletes import Deletes
from dockyard.console.flash import flash_query
from dockyard.console.urls import image_url, tag_url
from dockyard.registry import promotion, tag_history

__all__ = ["Lifecycle"]


class Lifecycle:
    def __init__(self, manage: ManageContext, deletes: Deletes) -> None:
        self._manage = manage
        self._deletes = deletes

    async def revert(self, request: Request, name: str) -> Response:
        """POST `/images/<name>/-/revert` with `tag` and `digest`."""
        form = await self._deletes.signed_form(request)
        if isinstance(form, Response):
            return form
        session, posted = form
        fields = dict(reversed(posted))
        tag, digest = fields.get("tag", ""), fields.get("digest", "")
        address = request.client.host if request.client else None
        try:
            done = await run_in_threadpool(
                lambda: tag_history.revert_tag(
                    self._manage, session.principal, address, name, tag, digest,
                    override_immutable=bool(fields.get("override_immutable")),
                )
            )  # fmt: skip
        except AccessError as error:
            return self._deletes.refusal(session, error)
        note = f"{name}:{tag} now points to {done.digest}."
        query = flash_query(session.csrf_token, done=note)
        return RedirectResponse(f"{tag_url(name, tag)}?{urlencode(query)}", 303)

    async def promote(self, request: Request, name: str) -> Response:
        """POST `/images/<name>/-/promote` with `digest`, `to` and `tag`."""
        form = await self._deletes.signed_form(request)
        if isinstance(form, Response):
            return form
        session, posted = form
        fields = dict(reversed(posted))
        digest, to, tag = fields.get("digest", ""), fields.get("to", ""), fields.get("tag", "")
        address = request.client.host if request.client else None
        try:
            if not tag:
                raise InvalidRequest("Name the tag the image gets in the target.")
            done = await run_in_threadpool(
                promotion.promote, self._manage, session.principal, address,
                f"{name}@{digest}", to, tag,
            )  # fmt: skip
        except AccessError as error:
            return self._deletes.refusal(session, error)
        note = f"Promoted to {done.target_repository}:{done.target_tag}."
        query = flash_query(session.csrf_token, done=note)
        target = image_url(done.target_repository, done.digest)
        return RedirectResponse(f"{target}?{urlencode(query)}", 303)
