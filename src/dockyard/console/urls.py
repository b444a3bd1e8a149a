"""Console addresses of repositories, tags and images (repository names hold slashes; the
pages after a name start with `/-/`, which no repository name can contain)."""

from __future__ import annotations

from urllib.parse import quote

__all__ = ["image_url", "layer_url", "repository_url", "tag_url"]


def repository_url(name: str) -> str:
    return "/images/" + quote(name, safe="/")


def tag_url(name: str, tag: str) -> str:
    return f"{repository_url(name)}/-/tags/{quote(tag, safe='')}"


def image_url(name: str, digest: str) -> str:
    return f"{repository_url(name)}/-/manifests/{quote(digest, safe=':')}"


def layer_url(digest: str) -> str:
    return "/layers/" + quote(digest, safe=":")
