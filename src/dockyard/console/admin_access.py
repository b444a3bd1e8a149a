"""Administration: the landing page (what the caller administers), namespaces with their
access policy and grants, and a repository's own policy and grants.

Namespace admins see only their namespaces, registry admins all; someone who administers
only single repositories reaches their access pages from the landing page.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from dockyard.auth.errors import AccessError, Forbidden, InvalidRequest
from dockyard.auth.manage import ManageContext, namespaces, repositories
from dockyard.auth.manage import grants as grant_service
from dockyard.auth.manage.references import TargetKind, parse_target
from dockyard.auth.manage.scope import AdminScope, administered
from dockyard.auth.permissions import namespace_of
from dockyard.auth.principals import Principal
from dockyard.auth.roles import Policy
from dockyard.auth.sessions import Session
from dockyard.console.admin_kit import Desk, address, done, grant_action, path_of
from dockyard.console.urls import repository_url
from dockyard.console.usage import QUOTA_ACTIONS, SPLIT_BUDGET, quota_action
from dockyard.registry import usage
from dockyard.registry.errors import NameInvalid
from dockyard.registry.names import validate_name

__all__ = ["Access"]

_REPOSITORIES_SHOWN = 100
_INHERIT = "inherit"


def _policy(text: str) -> Policy:
    try:
        return Policy(text)
    except ValueError:
        raise InvalidRequest("an access policy is private, shared or anonymous") from None


def _namespace_name(name: str) -> str:
    """One component of the OCI name grammar (the services expect it checked)."""
    try:
        valid = "/" not in name and validate_name(name) == name
    except NameInvalid:
        valid = False
    if not valid:
        raise InvalidRequest(
            "a namespace name is lower-case letters and digits, separated by . _ or -"
        )
    return name


def _must_administer(scope: AdminScope, namespace: str, repository: str | None = None) -> None:
    """Pages are offered to whoever administers them; the services check every change."""
    if scope.registry_admin or namespace in scope.namespaces:
        return
    if repository is not None and repository in scope.repositories:
        return
    what = f"repository {repository}" if repository else f"namespace {namespace}"
    raise Forbidden(f"you do not administer {what}")


class Access:
    def __init__(self, desk: Desk) -> None:
        self._desk = desk

    @property
    def _ctx(self) -> ManageContext:
        return self._desk.manage

    async def landing(self, request: Request) -> Response:
        session = await self._desk.signed_in(request)
        try:
            scope = await run_in_threadpool(administered, self._ctx, session.principal)
        except AccessError as failure:
            return self._desk.failure(request, session, failure)
        return self._desk.page(request, session, "admin/landing.html", scope=scope)

    # --- namespaces -------------------------------------------------------------------------

    async def namespace_list(self, request: Request) -> Response:
        return await self._namespaces_page(request, await self._desk.signed_in(request))

    async def _namespaces_page(
        self,
        request: Request,
        session: Session,
        *,
        error: AccessError | None = None,
        posted: dict[str, str] | None = None,
    ) -> Response:
        try:
            data = await run_in_threadpool(_namespaces_data, self._ctx, session.principal)
        except AccessError as failure:
            return self._desk.failure(request, session, failure)
        may_create = data["scope"].registry_admin or self._ctx.namespace_creation == "everyone"
        return self._desk.page(
            request,
            session,
            "admin/namespaces.html",
            error=error,
            posted=posted or {},
            may_create=may_create,
            **data,
        )

    async def create_namespace(self, request: Request) -> Response:
        session, form = await self._desk.form(request)
        name, policy = form.get("name", "").strip(), form.get("policy", "")
        try:
            await run_in_threadpool(
                namespaces.create_namespace,
                self._ctx,
                session.principal,
                address(request),
                _namespace_name(name),
                _policy(policy),
            )
        except AccessError as error:
            kept = {"name": name, "policy": policy}
            return await self._namespaces_page(request, session, error=error, posted=kept)
        return done(path_of("namespaces", name), "namespace-created")

    async def namespace(self, request: Request) -> Response:
        session = await self._desk.signed_in(request)
        return await self._namespace_page(request, session, request.path_params["name"])

    async def _namespace_page(
        self, request: Request, session: Session, name: str, *, error: AccessError | None = None
    ) -> Response:
        split = request.query_params.get("split") == "1"  # own/shared of a large namespace
        try:
            data = await run_in_threadpool(
                _namespace_data, self._ctx, session.principal, name, split
            )
        except AccessError as failure:
            return self._desk.failure(request, session, failure)
        return self._desk.page(request, session, "admin/namespace.html", error=error, **data)

    async def change_namespace(self, request: Request) -> Response:
        session, form = await self._desk.form(request)
        name = request.path_params["name"]
        try:
            key = await run_in_threadpool(
                self._namespace_action, session.principal, address(request), name, form
            )
        except AccessError as error:
            return await self._namespace_page(request, session, name, error=error)
        return done(path_of("namespaces", name), key)

    def _namespace_action(
        self, caller: Principal, at: str | None, name: str, form: dict[str, str]
    ) -> str:
        action = form.get("action", "")
        if action == "policy":
            policy = _policy(form.get("policy", ""))
            namespaces.set_namespace_policy(self._ctx, caller, at, name, policy)
            return "policy-set"
        if action in QUOTA_ACTIONS:
            return quota_action(self._ctx, caller, at, name, action, form)
        key = grant_action(self._ctx, caller, at, action, form, on=f"namespace:{name}")
        if key is None:
            raise InvalidRequest("unknown action")
        return key

    # --- repositories -----------------------------------------------------------------------

    async def repository(self, request: Request) -> Response:
        session = await self._desk.signed_in(request)
        return await self._repository_page(request, session, request.path_params["name"])

    async def _repository_page(
        self, request: Request, session: Session, name: str, *, error: AccessError | None = None
    ) -> Response:
        try:
            data = await run_in_threadpool(_repository_data, self._ctx, session.principal, name)
        except AccessError as failure:
            return self._desk.failure(request, session, failure)
        return self._desk.page(request, session, "admin/repository.html", error=error, **data)

    async def change_repository(self, request: Request) -> Response:
        session, form = await self._desk.form(request)
        name = request.path_params["name"]
        try:
            key = await run_in_threadpool(
                self._repository_action, session.principal, address(request), name, form
            )
        except AccessError as error:
            return await self._repository_page(request, session, name, error=error)
        return done("/admin/repositories/" + quote(name, safe="/"), key)

    def _repository_action(
        self, caller: Principal, at: str | None, name: str, form: dict[str, str]
    ) -> str:
        action = form.get("action", "")
        if action == "policy":
            chosen = form.get("policy", "")
            policy = None if chosen == _INHERIT else _policy(chosen)
            repositories.set_policy(self._ctx, caller, at, name, policy)
            return "policy-set"
        key = grant_action(self._ctx, caller, at, action, form, on=f"repository:{name}")
        if key is None:
            raise InvalidRequest("unknown action")
        return key


def _namespaces_data(ctx: ManageContext, caller: Principal) -> dict[str, Any]:
    scope = administered(ctx, caller)
    listed = namespaces.list_namespaces(ctx, caller)
    if not scope.registry_admin:
        listed = [view for view in listed if view.name in scope.namespaces]
    return {"scope": scope, "namespaces": listed}


def _namespace_data(
    ctx: ManageContext, caller: Principal, name: str, split: bool = False
) -> dict[str, Any]:
    view = namespaces.get_namespace(ctx, caller, name)
    _must_administer(administered(ctx, caller), name)
    inside = [
        grant
        for grant in grant_service.list_grants(ctx, caller)
        if (target := parse_target(grant.on)).kind is TargetKind.REPOSITORY
        and target.namespace == name
    ]
    page = repositories.list_repositories(ctx, caller, name, None, _REPOSITORIES_SHOWN)
    return {
        "namespace": view,
        "grants": grant_service.list_grants(ctx, caller, on=f"namespace:{name}"),
        "repository_grants": inside,
        "repositories": page.repositories,
        "more_repositories": page.next is not None,
        "target": f"namespace:{name}",
        "storage": usage.namespace_usage(
            ctx, caller, name, split_budget=None if split else SPLIT_BUDGET
        ),
        "repository_url": repository_url,
    }


def _repository_data(ctx: ManageContext, caller: Principal, name: str) -> dict[str, Any]:
    view = repositories.get_repository(ctx, caller, name)
    _must_administer(administered(ctx, caller), namespace_of(name), name)
    return {
        "repository": view,
        "grants": grant_service.list_grants(ctx, caller, on=f"repository:{name}"),
        "target": f"repository:{name}",
    }
