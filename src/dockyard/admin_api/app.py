"""The admin API as one FastAPI app. Its routes live under /api/v1 and its documentation at
/api/docs (OpenAPI at /api/openapi.json): the root app sends every /api path here as is."""

from __future__ import annotations

from fastapi import FastAPI

from dockyard import __version__
from dockyard.admin_api import audit, grants, groups, namespaces, repositories, robots, tokens
from dockyard.admin_api import users as users_routes
from dockyard.admin_api.dependencies import ApiState
from dockyard.admin_api.errors import install_error_handlers
from dockyard.auth.authenticator import Authenticator
from dockyard.auth.manage import ManageContext
from dockyard.auth.principals import Principal

__all__ = ["create_admin_api"]


def create_admin_api(
    context: ManageContext,
    *,
    authenticator: Authenticator | None = None,
    operator: Principal | None = None,
) -> FastAPI:
    """Callers sign in through `authenticator` (a server); or, with `operator`, every
    request acts as that principal (the CLI on the data directory). Exactly one of the two."""
    if (authenticator is None) == (operator is None):
        raise ValueError("give an authenticator or an operator, not both or neither")
    app = FastAPI(
        title="Dockyard admin API",
        version=__version__,
        docs_url="/api/docs",
        openapi_url="/api/openapi.json",
        redoc_url=None,
    )
    app.state.admin = ApiState(context, authenticator, operator)
    install_error_handlers(app)
    routers = (users_routes, groups, namespaces, repositories, grants, robots, tokens, audit)
    for module in routers:
        app.include_router(module.router)
    return app
