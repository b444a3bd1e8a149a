"""Robot secrets and personal access tokens: high-entropy, so a SHA-256 is enough to store.

A secret reads `dkyr_<id>_<random>` (robot) or `dkyp_<id>_<random>` (personal token): the id
finds the row without scanning, the random part is compared by its hash in constant time
(pitfalls §25). Clients send it as the password of `docker login`.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from enum import StrEnum

__all__ = ["SecretKind", "TokenSecret", "hash_secret", "matches", "new_secret", "parse_secret"]

_RANDOM_BYTES = 32
_PATTERN = re.compile(r"^dky([rp])_([1-9][0-9]{0,17})_([A-Za-z0-9_-]{43})$")


class SecretKind(StrEnum):
    ROBOT = "r"
    PERSONAL = "p"


@dataclass(frozen=True, slots=True)
class TokenSecret:
    kind: SecretKind
    row_id: int
    random: str

    def render(self) -> str:
        return f"dky{self.kind}_{self.row_id}_{self.random}"


def new_secret() -> tuple[str, str]:
    """A fresh random part and its hash; the full secret is rendered once the row has an id."""
    random = secrets.token_urlsafe(_RANDOM_BYTES)
    return random, hash_secret(random)


def hash_secret(random: str) -> str:
    return hashlib.sha256(random.encode()).hexdigest()


def parse_secret(text: str) -> TokenSecret | None:
    match = _PATTERN.match(text)
    if match is None:
        return None
    return TokenSecret(SecretKind(match[1]), int(match[2]), match[3])


def matches(secret: TokenSecret, stored_hash: str) -> bool:
    return hmac.compare_digest(hash_secret(secret.random), stored_hash)
