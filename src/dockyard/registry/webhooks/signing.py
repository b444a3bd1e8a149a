"""The signature every delivery carries, so a receiver can tell it came from us, unaltered
and recently (README, "Webhooks").

Header `Dockyard-Signature: t=<unix seconds>,v1=<hex>`, where `<hex>` is
HMAC-SHA256(secret, `<t>` + "." + body) over the exact body bytes received. A receiver
recomputes it, compares in constant time and refuses a `t` too far from its own clock
(`verify` uses 5 minutes): a captured request cannot be replayed later. Several `v1=`
entries may appear (a receiver accepts any): room for rotating secrets.
"""

from __future__ import annotations

import hashlib
import hmac

__all__ = ["SIGNATURE_HEADER", "TOLERANCE_SECONDS", "sign", "verify"]

SIGNATURE_HEADER = "Dockyard-Signature"
TOLERANCE_SECONDS = 300


def _mac(secret: str, timestamp: int, body: bytes) -> str:
    message = str(timestamp).encode() + b"." + body
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """The header's value for `body` sent at `timestamp`."""
    return f"t={timestamp},v1={_mac(secret, timestamp, body)}"


def verify(
    secret: str, header: str, body: bytes, now: int, tolerance: int = TOLERANCE_SECONDS
) -> bool:
    """Whether `header` signs `body` with `secret`, at most `tolerance` seconds from `now`."""
    timestamp: int | None = None
    macs: list[str] = []
    for part in header.split(","):
        key, _, value = part.strip().partition("=")
        if key == "t" and value.isdigit():
            timestamp = int(value)
        elif key == "v1":
            macs.append(value)
    if timestamp is None or abs(now - timestamp) > tolerance:
        return False
    expected = _mac(secret, timestamp, body)
    return any(hmac.compare_digest(expected, mac) for mac in macs)
