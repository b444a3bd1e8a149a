"""Digests: parsing, validating and computing `algorithm:hex` strings."""

from __future__ import annotations

import hashlib
import re
from typing import Protocol

from dockyard.registry.errors import DigestInvalid

__all__ = [
    "SUPPORTED_ALGORITHMS",
    "Hasher",
    "algorithm_of",
    "compute",
    "new_hasher",
    "parse_digest",
]

# OCI image-spec §Digests: registered algorithms with their exact hex lengths.
SUPPORTED_ALGORITHMS = {"sha256": 64, "sha512": 128}
_DIGEST_RE = re.compile(r"([a-z0-9]+(?:[+._-][a-z0-9]+)*):([a-zA-Z0-9=_-]+)")


class Hasher(Protocol):
    def update(self, data: bytes, /) -> None: ...
    def hexdigest(self) -> str: ...


def parse_digest(value: str) -> str:
    """Return `value` if it is a supported, well-formed digest; raise DigestInvalid otherwise."""
    match = _DIGEST_RE.fullmatch(value)
    if not match:
        raise DigestInvalid("invalid digest", value)
    algorithm, encoded = match.groups()
    length = SUPPORTED_ALGORITHMS.get(algorithm)
    if length is None:
        raise DigestInvalid(f"unsupported digest algorithm {algorithm!r}", value)
    if len(encoded) != length or not re.fullmatch(r"[0-9a-f]+", encoded):
        raise DigestInvalid(f"{algorithm} digest must be {length} lowercase hex characters", value)
    return value


def algorithm_of(digest: str) -> str:
    return digest.split(":", 1)[0]


def new_hasher(algorithm: str) -> Hasher:
    if algorithm not in SUPPORTED_ALGORITHMS:
        raise DigestInvalid(f"unsupported digest algorithm {algorithm!r}")
    return hashlib.new(algorithm)


def compute(data: bytes, algorithm: str = "sha256") -> str:
    hasher = new_hasher(algorithm)
    hasher.update(data)
    return f"{algorithm}:{hasher.hexdigest()}"
