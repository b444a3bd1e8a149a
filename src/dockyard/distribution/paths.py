"""Route /v2 paths from the right end: repository names may contain `manifests`, `blobs`
or `tags` as components (`x/manifests/y`), so the route is named by the component just
before the last one (pitfalls §9). Paths are read raw: `a%2Fb` is not a name."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import unquote

__all__ = ["ROUTE_KEY", "Route", "match_route"]

ROUTE_KEY = "dockyard.route"  # ASGI scope key naming the route served, for metrics labels

_BY_KEYWORD = {"manifests": "manifest", "blobs": "blob", "referrers": "referrers"}


@dataclass(frozen=True, slots=True)
class Route:
    kind: str
    name: str
    reference: str


def _route(kind: str, name: str, reference: str = "") -> Route | None:
    if not name:
        return None
    # A digest's colon may arrive percent-encoded; the name must not be.
    return Route(kind, name, unquote(reference) if "%" in reference else reference)


def match_route(path: str) -> Route | None:
    """`path` is what follows `/v2/`, undecoded."""
    if path == "_catalog":
        return Route("catalog", "", "")
    head, _, last = path.rpartition("/")
    name, _, keyword = head.rpartition("/")
    if keyword in _BY_KEYWORD and last:
        if keyword == "blobs" and last == "uploads":  # `name/blobs/uploads` without slash
            return _route("uploads", name)
        return _route(_BY_KEYWORD[keyword], name, last)
    if keyword == "tags" and last == "list":
        return _route("tags", name)
    if keyword == "uploads":
        name, _, blobs = name.rpartition("/")
        if blobs == "blobs":
            return _route("uploads" if last == "" else "upload", name, last)
    return None
