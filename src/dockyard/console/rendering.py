"""Templates (autoescaped, every one) and the responses built from them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined
from starlette.responses import HTMLResponse, Response

from dockyard.console.security import PAGE_HEADERS

__all__ = ["Renderer"]

_TEMPLATES = Path(__file__).parent / "templates"


class Renderer:
    def __init__(self) -> None:
        # autoescape=True, not select_autoescape: every template is HTML, whatever its name.
        self._env = Environment(
            loader=FileSystemLoader(_TEMPLATES),
            autoescape=True,
            undefined=StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
        )

    def page(self, template: str, status: int = 200, **context: Any) -> Response:
        html = self._env.get_template(template).render(**context)
        return HTMLResponse(html, status, headers=PAGE_HEADERS)

    @staticmethod
    def plain(status: int, message: str) -> Response:
        """A bare page for refusals (CSRF failures): nothing from the request is echoed."""
        body = (
            "<!doctype html><html lang=en><meta charset=utf-8><title>Dockyard</title>"
            f"<p>{message}</p><p><a href=/>Back to Dockyard</a></p></html>"
        )
        return HTMLResponse(body, status, headers=PAGE_HEADERS)
