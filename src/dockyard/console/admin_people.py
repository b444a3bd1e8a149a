"""Administration: users and groups, with membership from both sides (registry admins).

A user's page shows their identity and source, the admin flag, disable/enable, delete,
a password reset for local users, the groups they belong to and the grants they hold; a
group's page shows its members (added and removed there or from the user's page) and
its grants.
"""

from __future__ import annotations

from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from dockyard.auth.errors import AccessError, InvalidRequest
from dockyard.auth.manage import ManageContext, groups, users
from dockyard.auth.manage import grants as grant_service
from dockyard.auth.manage.references import LOCAL, qualified
from dockyard.auth.principals import Principal
from dockyard.auth.sessions import Session
from dockyard.console.admin_kit import Desk, address, done, grant_action, path_of

__all__ = ["People"]

_YES = "yes"


def _confirmed(form: dict[str, str], what: str) -> None:
    if form.get("confirm") != _YES:
        raise InvalidRequest(f"tick the box to confirm that {what} goes")


class People:
    def __init__(self, desk: Desk) -> None:
        self._desk = desk

    @property
    def _ctx(self) -> ManageContext:
        return self._desk.manage

    # --- users ------------------------------------------------------------------------------

    async def user_list(self, request: Request) -> Response:
        return await self._users_page(request, await self._desk.signed_in(request))

    async def _users_page(
        self,
        request: Request,
        session: Session,
        *,
        error: AccessError | None = None,
        posted: dict[str, str] | None = None,
    ) -> Response:
        try:
            listed = await run_in_threadpool(users.list_users, self._ctx, session.principal)
        except AccessError as failure:
            return self._desk.failure(request, session, failure)
        people = [(qualified(view.source, view.name), view) for view in listed]
        return self._desk.page(
            request,
            session,
            "admin/users.html",
            error=error,
            people=people,
            posted=posted or {},
            min_password=users.MIN_PASSWORD_LENGTH,
        )

    async def create_user(self, request: Request) -> Response:
        session, form = await self._desk.form(request)
        name = form.get("name", "").strip()
        try:
            await run_in_threadpool(
                users.create_user,
                self._ctx,
                session.principal,
                address(request),
                name,
                form.get("password", ""),
                form.get("admin") == _YES,
            )
        except AccessError as error:
            kept = {"name": name, "admin": form.get("admin", "")}
            return await self._users_page(request, session, error=error, posted=kept)
        return done(path_of("users", name), "user-created")

    async def user(self, request: Request) -> Response:
        session = await self._desk.signed_in(request)
        return await self._user_page(request, session, request.path_params["ref"])

    async def _user_page(
        self, request: Request, session: Session, ref: str, *, error: AccessError | None = None
    ) -> Response:
        try:
            data = await run_in_threadpool(_user_data, self._ctx, session.principal, ref)
        except AccessError as failure:
            return self._desk.failure(request, session, failure)
        return self._desk.page(
            request,
            session,
            "admin/user.html",
            error=error,
            min_password=users.MIN_PASSWORD_LENGTH,
            **data,
        )

    async def change_user(self, request: Request) -> Response:
        session, form = await self._desk.form(request)
        ref = request.path_params["ref"]
        try:
            target, key = await run_in_threadpool(
                self._user_action, session.principal, address(request), ref, form
            )
        except AccessError as error:
            return await self._user_page(request, session, ref, error=error)
        return done(target, key)

    def _user_action(
        self, caller: Principal, at: str | None, ref: str, form: dict[str, str]
    ) -> tuple[str, str]:
        """Blocking: (where to go, the flash message's key)."""
        action, ctx, page = form.get("action", ""), self._ctx, path_of("users", ref)
        if action in ("admin", "unadmin"):
            users.update_user(ctx, caller, at, ref, admin=action == "admin")
        elif action in ("disable", "enable"):
            users.update_user(ctx, caller, at, ref, disabled=action == "disable")
        elif action == "password":
            if form.get("password", "") != form.get("password_again", ""):
                raise InvalidRequest("the two passwords differ")
            users.set_password(ctx, caller, at, ref, form.get("password", ""))
            return page, "password-set"
        elif action == "join":
            groups.add_member(ctx, caller, at, form.get("group", ""), ref)
            return page, "member-added"
        elif action == "leave":
            groups.remove_member(ctx, caller, at, form.get("group", ""), ref)
            return page, "member-removed"
        elif action == "delete":
            _confirmed(form, f"user {ref}")
            users.delete_user(ctx, caller, at, ref)
            return "/admin/users", "user-deleted"
        else:
            key = grant_action(ctx, caller, at, action, form)
            if key is None:
                raise InvalidRequest("unknown action")
            return page, key
        return page, "user-updated"

    # --- groups -----------------------------------------------------------------------------

    async def group_list(self, request: Request) -> Response:
        return await self._groups_page(request, await self._desk.signed_in(request))

    async def _groups_page(
        self,
        request: Request,
        session: Session,
        *,
        error: AccessError | None = None,
        posted: dict[str, str] | None = None,
    ) -> Response:
        try:
            listed = await run_in_threadpool(groups.list_groups, self._ctx, session.principal)
        except AccessError as failure:
            return self._desk.failure(request, session, failure)
        teams = [(qualified(view.source, view.name), view) for view in listed]
        return self._desk.page(
            request, session, "admin/groups.html", error=error, teams=teams, posted=posted or {}
        )

    async def create_group(self, request: Request) -> Response:
        session, form = await self._desk.form(request)
        name = form.get("name", "").strip()
        try:
            await run_in_threadpool(
                groups.create_group, self._ctx, session.principal, address(request), name
            )
        except AccessError as error:
            return await self._groups_page(request, session, error=error, posted={"name": name})
        return done(path_of("groups", name), "group-created")

    async def group(self, request: Request) -> Response:
        session = await self._desk.signed_in(request)
        return await self._group_page(request, session, request.path_params["ref"])

    async def _group_page(
        self, request: Request, session: Session, ref: str, *, error: AccessError | None = None
    ) -> Response:
        try:
            data = await run_in_threadpool(_group_data, self._ctx, session.principal, ref)
        except AccessError as failure:
            return self._desk.failure(request, session, failure)
        return self._desk.page(request, session, "admin/group.html", error=error, **data)

    async def change_group(self, request: Request) -> Response:
        session, form = await self._desk.form(request)
        ref = request.path_params["ref"]
        try:
            target, key = await run_in_threadpool(
                self._group_action, session.principal, address(request), ref, form
            )
        except AccessError as error:
            return await self._group_page(request, session, ref, error=error)
        return done(target, key)

    def _group_action(
        self, caller: Principal, at: str | None, ref: str, form: dict[str, str]
    ) -> tuple[str, str]:
        action, ctx, page = form.get("action", ""), self._ctx, path_of("groups", ref)
        member = form.get("member", "").strip()
        if action == "add":
            groups.add_member(ctx, caller, at, ref, member)
            return page, "member-added"
        if action == "remove":
            groups.remove_member(ctx, caller, at, ref, member)
            return page, "member-removed"
        if action == "delete":
            _confirmed(form, f"group {ref}")
            groups.delete_group(ctx, caller, at, ref)
            return "/admin/groups", "group-deleted"
        key = grant_action(ctx, caller, at, action, form)
        if key is None:
            raise InvalidRequest("unknown action")
        return page, key


def _user_data(ctx: ManageContext, caller: Principal, ref: str) -> dict[str, Any]:
    """Blocking: everything the user's page shows."""
    person = users.get_user(ctx, caller, ref)
    ref = qualified(person.source, person.name)
    member_of = groups.groups_of(ctx, caller, ref)
    joined = {group.id for group in member_of}
    return {
        "person": person,
        "ref": ref,
        "local": person.source == LOCAL,
        "member_of": [(qualified(g.source, g.name), g) for g in member_of],
        "joinable": [
            g.name
            for g in groups.list_groups(ctx, caller)
            if g.source == LOCAL and g.id not in joined
        ],
        "grants": grant_service.list_grants(ctx, caller, to=f"user:{ref}"),
    }


def _group_data(ctx: ManageContext, caller: Principal, ref: str) -> dict[str, Any]:
    """Blocking: everything the group's page shows."""
    team = groups.get_group(ctx, caller, ref)
    ref = qualified(team.source, team.name)
    members = team.members or ()
    return {
        "team": team,
        "ref": ref,
        "local": team.source == LOCAL,
        "members": members,
        "addable": [
            qualified(u.source, u.name)
            for u in users.list_users(ctx, caller)
            if qualified(u.source, u.name) not in members
        ],
        "grants": grant_service.list_grants(ctx, caller, to=f"group:{ref}"),
    }
