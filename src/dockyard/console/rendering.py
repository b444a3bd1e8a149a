"""Templates (autoescaped, every one) and the responses built from them."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined
from starlette.responses import HTMLResponse, Response

from dockyard.auth.principals import Principal
from dockyard.console.security import PAGE_HEADERS

__all__ = ["Renderer", "ago", "filesize", "short_digest", "utc"]

_TEMPLATES = Path(__file__).parent / "templates"


class Renderer:
    """`administers(user)` says whether the sidebar links to Administration; `banner()` is
    the read-only maintenance message shown atop every page (None: no banner). Neither may
    block (they run on the event loop, for every page)."""

    def __init__(
        self,
        administers: Callable[[Principal], bool] | None = None,
        banner: Callable[[], str | None] | None = None,
    ) -> None:
        self._administers = administers
        self._banner = banner
        # autoescape=True, not select_autoescape: every template is HTML, whatever its name.
        self._env = Environment(
            loader=FileSystemLoader(_TEMPLATES),
            autoescape=True,
            undefined=StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
        )
        self._env.filters["ago"] = ago
        self._env.filters["utc"] = utc
        self._env.filters["short_digest"] = short_digest
        self._env.filters["filesize"] = filesize

    def page(self, template: str, status: int = 200, **context: Any) -> Response:
        user = context.get("user")
        if "administers" not in context:
            context["administers"] = (
                isinstance(user, Principal)
                and self._administers is not None
                and self._administers(user)
            )
        context.setdefault("maintenance_banner", self._banner() if self._banner else None)
        html = self._env.get_template(template).render(**context)
        return HTMLResponse(html, status, headers=PAGE_HEADERS)

    def fragment(self, template: str, status: int = 200, **context: Any) -> Response:
        """Part of a page, for htmx to swap in."""
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


def ago(timestamp: int, now: float | None = None) -> str:
    """`timestamp` (Unix seconds) as people say it: "just now", "5 minutes ago", "3 days ago"."""
    seconds = int((time.time() if now is None else now) - timestamp)
    if seconds < 60:
        return "just now"
    for size, unit in ((86400 * 365, "year"), (86400 * 30, "month"), (86400, "day"),
                       (3600, "hour"), (60, "minute")):  # fmt: skip
        if seconds >= size:
            count = seconds // size
            return f"{count} {unit}{'' if count == 1 else 's'} ago"
    return "just now"  # pragma: no cover - the loop ends at a minute


def utc(timestamp: int) -> str:
    """The exact time, for a `title`: `2026-11-28 01:23:45 UTC`."""
    return datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def short_digest(digest: str) -> str:
    """`sha256:` and the first 12 hex characters, as `docker images` shows an image ID."""
    algorithm, _, encoded = digest.partition(":")
    return f"{algorithm}:{encoded[:12]}"


def filesize(size: int) -> str:
    """Bytes as people read them, in powers of 1024 with the IEC names: `12.3 MiB`."""
    if size < 1024:
        return f"{size} B"
    value = float(size)
    for unit in ("KiB", "MiB", "GiB", "TiB"):
        value /= 1024
        if value < 1024 or unit == "TiB":
            return f"{value:.1f} {unit}"
    return f"{size} B"  # pragma: no cover - the loop returns at TiB
