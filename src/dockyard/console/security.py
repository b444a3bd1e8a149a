"""What every console response carries, and the checks every unsafe request passes.

- Headers (pitfalls §28): a CSP without inline scripts or styles, no framing, no sniffing,
  same-origin referrers, and `no-store` on pages (they hold CSRF tokens, later secrets).
- Cookies: the session id is HttpOnly and SameSite=Lax, Secure when served over https.
- CSRF: a signed-in form or htmx request sends the session's token (`X-CSRF-Token`, set on
  `<body hx-headers>`, or the `csrf_token` field); the sign-in form, before any session,
  uses a double-submit pair (a cookie and the same value in the form).
"""

from __future__ import annotations

from urllib.parse import parse_qsl, urlsplit

from starlette.requests import Request
from starlette.responses import Response

from dockyard.auth.sessions import SESSION_COOKIE, csrf_matches

__all__ = [
    "CSRF_COOKIE",
    "CSRF_FIELD",
    "CSRF_HEADER",
    "PAGE_HEADERS",
    "SESSION_COOKIE",
    "FormTooLarge",
    "clear_cookie",
    "csrf_matches",
    "read_form",
    "read_form_pairs",
    "safe_next",
    "set_cookie",
]

CSRF_COOKIE = "dockyard_csrf"  # the sign-in form's double-submit half, before a session
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"
_MAX_FORM_BYTES = 64 * 1024

PAGE_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; frame-ancestors 'none'; form-action 'self'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}


class FormTooLarge(Exception):
    """The request body is larger than any console form."""


async def read_form(request: Request) -> dict[str, str]:
    """An `application/x-www-form-urlencoded` body (the only kind the console's forms send);
    anything else reads as an empty form. The first value of a repeated field wins."""
    form: dict[str, str] = {}
    for key, value in await read_form_pairs(request):
        form.setdefault(key, value)
    return form


async def read_form_pairs(request: Request) -> list[tuple[str, str]]:
    """Every (field, value) of the form in order: for checkboxes sharing one name."""
    content_type = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if content_type != "application/x-www-form-urlencoded":
        return []
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > _MAX_FORM_BYTES:
            raise FormTooLarge
    return parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True)


def safe_next(value: str | None) -> str:
    """A local path to go to after signing in; anything else (absolute or scheme-relative
    URLs, backslashes browsers read as slashes, control characters) becomes `/`."""
    if not value or not value.startswith("/") or value.startswith(("//", "/\\")):
        return "/"
    if "\\" in value or any(ord(c) < 0x20 or ord(c) == 0x7F for c in value):
        return "/"
    parts = urlsplit(value)
    if parts.scheme or parts.netloc:
        return "/"
    return value


def set_cookie(
    response: Response, name: str, value: str, *, secure: bool, max_age: int | None = None
) -> None:
    response.set_cookie(
        name, value, max_age=max_age, path="/", secure=secure, httponly=True, samesite="lax"
    )


def clear_cookie(response: Response, name: str, *, secure: bool) -> None:
    response.delete_cookie(name, path="/", secure=secure, httponly=True, samesite="lax")
