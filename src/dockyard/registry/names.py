"""Repository names, tags and references per the OCI distribution spec grammar."""

from __future__ import annotations

import re

from dockyard.registry.errors import NameInvalid, TagInvalid

__all__ = ["MAX_NAME_LENGTH", "is_tag", "namespace_of", "validate_name", "validate_tag"]

# OCI dist-spec §Pulling manifests: <name> is path components separated by "/", each
# [a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*. Docker limits the whole name to 255 characters.
_COMPONENT = r"[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*"
_NAME_RE = re.compile(rf"{_COMPONENT}(?:/{_COMPONENT})*")
_TAG_RE = re.compile(r"[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}")
MAX_NAME_LENGTH = 255


def validate_name(name: str) -> str:
    if len(name) > MAX_NAME_LENGTH:
        raise NameInvalid(f"repository name longer than {MAX_NAME_LENGTH} characters", name)
    if not _NAME_RE.fullmatch(name):
        raise NameInvalid("invalid repository name", name)
    return name


def is_tag(reference: str) -> bool:
    return _TAG_RE.fullmatch(reference) is not None


def validate_tag(tag: str) -> str:
    if not is_tag(tag):
        raise TagInvalid("invalid tag", tag)
    return tag


def namespace_of(name: str) -> str:
    """The first path component: `dev/team/app` lives in namespace `dev`."""
    return name.split("/", 1)[0]
