"""`repository:tag` and `repository@digest` as people type them (CLI, API bodies)."""

from __future__ import annotations

from dockyard.auth.errors import InvalidRequest
from dockyard.registry.digests import parse_digest
from dockyard.registry.errors import RegistryError
from dockyard.registry.names import validate_name, validate_tag

__all__ = ["parse_reference", "parse_tag_reference"]


def parse_reference(reference: str) -> tuple[str, str | None, str | None]:
    """`repo:tag` or `repo@digest` -> (repository, tag, digest)."""
    try:
        if "@" in reference:
            repository, _, digest = reference.partition("@")
            validate_name(repository)
            return repository, None, parse_digest(digest)
        repository, sep, tag = reference.rpartition(":")
        if not sep or "/" in tag:
            raise InvalidRequest(f"{reference!r}: expected REPOSITORY:TAG or REPOSITORY@DIGEST")
        validate_name(repository)
        validate_tag(tag)
    except RegistryError as err:
        raise InvalidRequest(f"{reference!r}: {err.message}") from None
    return repository, tag, None


def parse_tag_reference(reference: str) -> tuple[str, str]:
    """`repository:tag` -> (repository, tag)."""
    repository, tag, _ = parse_reference(reference)
    if tag is None:
        raise InvalidRequest(f"{reference!r}: expected REPOSITORY:TAG")
    return repository, tag
