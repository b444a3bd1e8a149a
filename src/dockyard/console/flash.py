"""One-time messages after a redirect ("Deleted tag x. [Undo]"), carried in the query string
and signed with the session's own secret: a link made by someone else cannot put words on a
Dockyard page (content spoofing), and the messages need no server-side storage."""

from __future__ import annotations

import hashlib
import hmac

from starlette.requests import Request

__all__ = ["FLASH_KEYS", "flash_query", "read_flash", "without_flash"]

FLASH_KEYS = ("deleted", "undo", "restored", "done")
_SIGNATURE = "sig"
_MAX = 300


def _sign(secret: str, values: dict[str, str]) -> str:
    canonical = "\n".join(f"{key}={values.get(key, '')}" for key in FLASH_KEYS)
    return hmac.new(secret.encode(), canonical.encode(), hashlib.sha256).hexdigest()[:32]


def flash_query(secret: str, **values: str) -> dict[str, str]:
    """Query parameters carrying `values` (keys from FLASH_KEYS) and their signature."""
    kept = {key: value[:_MAX] for key, value in values.items() if key in FLASH_KEYS and value}
    return {**kept, _SIGNATURE: _sign(secret, kept)}


def read_flash(request: Request, secret: str) -> dict[str, str]:
    """The flash values of this request if signed with `secret`; otherwise none at all."""
    params = request.query_params
    values = {key: params[key][:_MAX] for key in FLASH_KEYS if params.get(key)}
    if not values:
        return {}
    if not hmac.compare_digest(_sign(secret, values), params.get(_SIGNATURE, "")):
        return {}
    return values


def without_flash(request: Request) -> list[tuple[str, str]]:
    """The request's query without the flash parameters, for links back to the page."""
    dropped = {*FLASH_KEYS, _SIGNATURE}
    return [(k, v) for k, v in request.query_params.multi_items() if k not in dropped]
