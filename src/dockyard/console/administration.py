"""The Administration screens (issue screen 8): for registry admins, and for namespace and
repository admins on what they administer.

Users and groups (admin_people.py), namespaces, repositories and their grants
(admin_access.py), robots and the audit log (admin_robots.py), retention policies
(admin_retention.py), webhooks (admin_webhooks.py); admin_kit.py holds what
they share. Every page is a GET; every change is a CSRF-checked POST to the page it was
made on, answered by a 303 back to it (POST-redirect-GET) with a flash message, or by the
same page with the service's refusal and its status (400, 403, 404, 409).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from dockyard.auth.manage import ManageContext
from dockyard.auth.permissions import administers_something
from dockyard.auth.principals import Principal
from dockyard.auth.sessions import Session
from dockyard.console.admin_access import Access
from dockyard.console.admin_kit import Desk, guarded
from dockyard.console.admin_people import People
from dockyard.console.admin_retention import Retention
from dockyard.console.admin_robots import Robots
from dockyard.console.admin_webhooks import Webhooks
from dockyard.console.rendering import Renderer

__all__ = ["admin_nav", "admin_routes"]

_READ = ["GET", "HEAD"]
_WRITE = ["POST"]


def admin_nav(manage: ManageContext) -> Callable[[Principal], bool]:
    """Whether the sidebar offers Administration: from the snapshot the request's session
    was just checked against (no query on the event loop)."""
    return lambda principal: administers_something(manage.access.latest(), principal)


def admin_routes(
    manage: ManageContext,
    render: Renderer,
    session: Callable[[Request], Awaitable[Session | None]],
    to_signin: Callable[[Request], Response],
    registry_host: Callable[[Request], str],
) -> list[BaseRoute]:
    desk = Desk(manage, render, session, to_signin, registry_host)
    people, access, robots = People(desk), Access(desk), Robots(desk)
    kept, hooks = Retention(desk), Webhooks(desk)
    table: list[tuple[str, Callable[[Request], Awaitable[Response]], list[str]]] = [
        ("/admin", access.landing, _READ),
        ("/admin/users", people.user_list, _READ),
        ("/admin/users", people.create_user, _WRITE),
        ("/admin/users/{ref}", people.user, _READ),
        ("/admin/users/{ref}", people.change_user, _WRITE),
        ("/admin/groups", people.group_list, _READ),
        ("/admin/groups", people.create_group, _WRITE),
        ("/admin/groups/{ref}", people.group, _READ),
        ("/admin/groups/{ref}", people.change_group, _WRITE),
        ("/admin/namespaces", access.namespace_list, _READ),
        ("/admin/namespaces", access.create_namespace, _WRITE),
        ("/admin/namespaces/{name}", access.namespace, _READ),
        ("/admin/namespaces/{name}", access.change_namespace, _WRITE),
        ("/admin/repositories/{name:path}", access.repository, _READ),
        ("/admin/repositories/{name:path}", access.change_repository, _WRITE),
        ("/admin/robots", robots.robot_list, _READ),
        ("/admin/robots", robots.create_robot, _WRITE),
        ("/admin/robots/{name}", robots.change_robot, _WRITE),
        ("/admin/audit", robots.audit_log, _READ),
        ("/admin/retention", kept.page, _READ),
        ("/admin/retention", kept.change, _WRITE),
        ("/admin/webhooks", hooks.page, _READ),
        ("/admin/webhooks", hooks.change, _WRITE),
    ]
    return [Route(path, guarded(handler), methods=methods) for path, handler, methods in table]
