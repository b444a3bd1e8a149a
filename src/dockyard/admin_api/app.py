"""The admin API as one FastAPI app. Its routes live under /api/v1 and its documentation at
/api/docs (OpenAPI at /api/openapi.json): the root app sends every /api path here as is."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles
from swagger_ui_bundle import swagger_ui_path

from dockyard import __version__
from dockyard.admin_api import audit, grants, groups, namespaces, repositories, robots, tokens
from dockyard.admin_api import deletes as delete_routes
from dockyard.admin_api import gc as gc_routes
from dockyard.admin_api import images as image_routes
from dockyard.admin_api import immutable as immutable_routes
from dockyard.admin_api import maintenance as maintenance_routes
from dockyard.admin_api import promotions as promotion_routes
from dockyard.admin_api import retention as retention_routes
from dockyard.admin_api import search as search_routes
from dockyard.admin_api import syncs as sync_routes
from dockyard.admin_api import tag_changes as tag_change_routes
from dockyard.admin_api import upstreams as upstream_routes
from dockyard.admin_api import usage as usage_routes
from dockyard.admin_api import users as users_routes
from dockyard.admin_api import webhooks as webhook_routes
from dockyard.admin_api.dependencies import ApiState
from dockyard.admin_api.errors import install_error_handlers
from dockyard.auth.authenticator import Authenticator
from dockyard.auth.manage import ManageContext
from dockyard.auth.principals import Principal
from dockyard.auth.sessions import SessionService
from dockyard.registry.upstream.imports import Importer

__all__ = ["create_admin_api"]


def create_admin_api(
    context: ManageContext,
    *,
    authenticator: Authenticator | None = None,
    operator: Principal | None = None,
    sessions: SessionService | None = None,
    importer: Importer | None = None,
) -> FastAPI:
    """Callers sign in through `authenticator` (a server), and with `sessions` also by the
    console's session cookie; or, with `operator`, every request acts as that principal
    (the CLI on the data directory). Exactly one of authenticator and operator."""
    if (authenticator is None) == (operator is None):
        raise ValueError("give an authenticator or an operator, not both or neither")
    app = FastAPI(
        title="Dockyard admin API",
        version=__version__,
        docs_url=None,
        openapi_url="/api/openapi.json",
        redoc_url=None,
    )
    _serve_docs_offline(app)
    app.state.admin = ApiState(context, authenticator, operator, sessions, importer)
    install_error_handlers(app)
    routers = (users_routes, groups, namespaces, repositories, grants, robots, tokens, audit)
    for module in (
        *routers,
        search_routes,
        delete_routes,
        image_routes,
        gc_routes,
        retention_routes,
        immutable_routes,
        promotion_routes,
        tag_change_routes,
        usage_routes,
        maintenance_routes,
        webhook_routes,
        upstream_routes,
        sync_routes,
    ):
        app.include_router(module.router)
    return app


def _serve_docs_offline(app: FastAPI) -> None:
    """Swagger UI at /api/docs from the vendored bundle: FastAPI's default loads it from a
    CDN, which a registry on a closed network cannot reach."""
    assets = "/api/docs/assets"
    app.mount(assets, StaticFiles(directory=str(swagger_ui_path)), name="swagger-ui")

    @app.get("/api/docs", include_in_schema=False)
    def docs() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url="/api/openapi.json",
            title="Dockyard admin API",
            swagger_js_url=f"{assets}/swagger-ui-bundle.js",
            swagger_css_url=f"{assets}/swagger-ui.css",
            swagger_favicon_url=f"{assets}/favicon-32x32.png",
        )
