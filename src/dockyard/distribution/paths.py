"""Route /v2 paths from the right end: repository names may contain `manifests`, `blobs`
or `tags` as components (`x/manifests/y`), so the name is whatever precedes the last
route keyword (pitfalls §9). Paths are read raw: `a%2Fb` is not a name."""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import unquote

__all__ = ["Route", "match_route"]

_ROUTES = [
    ("catalog", re.compile(r"_catalog")),
    ("tags", re.compile(r"(?P<name>.+)/tags/list")),
    ("manifest", re.compile(r"(?P<name>.+)/manifests/(?P<ref>[^/]+)")),
    ("uploads", re.compile(r"(?P<name>.+)/blobs/uploads/?")),
    ("upload", re.compile(r"(?P<name>.+)/blobs/uploads/(?P<ref>[^/]+)")),
    ("blob", re.compile(r"(?P<name>.+)/blobs/(?P<ref>[^/]+)")),
    ("referrers", re.compile(r"(?P<name>.+)/referrers/(?P<ref>[^/]+)")),
]


@dataclass(frozen=True, slots=True)
class Route:
    kind: str
    name: str
    reference: str


def match_route(raw_path: str) -> Route | None:
    """`raw_path` is what follows `/v2/`, undecoded."""
    for kind, pattern in _ROUTES:
        match = pattern.fullmatch(raw_path)
        if match:
            groups = match.groupdict()
            # A digest's colon may arrive percent-encoded; the name must not be.
            return Route(kind, groups.get("name") or "", unquote(groups.get("ref") or ""))
    return None
