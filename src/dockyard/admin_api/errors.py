"""The admin API's one error table: domain errors (auth.errors) and refusals of the API
itself become a status and `{"errors": [{"code": ..., "message": ...}]}`, as /v2 answers.

Validation errors never echo the input (it may hold a password, pitfalls §29): only where
the problem is and what is wrong.
"""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from dockyard.auth import errors as e

__all__ = ["ApiRefusal", "error_response", "install_error_handlers"]

# Most specific classes first: the first isinstance match wins.
_TABLE: list[tuple[type[e.AccessError], int, str]] = [
    (e.NotFound, 404, "NOT_FOUND"),
    (e.Forbidden, 403, "DENIED"),
    (e.Conflict, 409, "CONFLICT"),
    (e.InvalidRequest, 400, "INVALID"),
    (e.Unavailable, 503, "UNAVAILABLE"),
    (e.ReadOnly, 405, "UNSUPPORTED"),  # as /v2 answers in maintenance mode
]
_CODE_OF_STATUS = {
    400: "INVALID",
    401: "UNAUTHORIZED",
    403: "DENIED",
    404: "NOT_FOUND",
    405: "UNSUPPORTED",
    409: "CONFLICT",
    429: "TOOMANYREQUESTS",
    503: "UNAVAILABLE",
}


class ApiRefusal(Exception):
    """A refusal made by the API layer itself (no or bad credentials, rate limiting, a route
    reserved to registry admins)."""

    def __init__(
        self, status: int, code: str, message: str, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers


def error_response(
    status: int, errors: list[dict[str, str]], headers: dict[str, str] | None = None
) -> JSONResponse:
    return JSONResponse({"errors": errors}, status_code=status, headers=headers)


async def _access_error(request: Request, exc: Exception) -> JSONResponse:
    if not isinstance(exc, e.AccessError):  # registered for this class only
        raise exc
    for cls, status, code in _TABLE:
        if isinstance(exc, cls):
            return error_response(status, [{"code": code, "message": exc.message}])
    return error_response(500, [{"code": "UNKNOWN", "message": exc.message}])


async def _refusal(request: Request, exc: Exception) -> JSONResponse:
    if not isinstance(exc, ApiRefusal):  # registered for this class only
        raise exc
    return error_response(exc.status, [{"code": exc.code, "message": exc.message}], exc.headers)


async def _invalid(request: Request, exc: Exception) -> JSONResponse:
    if not isinstance(exc, RequestValidationError):  # registered for this class only
        raise exc
    errors = []
    for error in exc.errors():
        location = ".".join(str(part) for part in error.get("loc", ()))
        message = str(error.get("msg", "invalid"))
        errors.append(
            {"code": "INVALID", "message": f"{location}: {message}", "location": location}
        )
    return error_response(400, errors or [{"code": "INVALID", "message": "invalid request"}])


async def _http(request: Request, exc: Exception) -> JSONResponse:
    if not isinstance(exc, StarletteHTTPException):  # registered for this class only
        raise exc
    code = _CODE_OF_STATUS.get(exc.status_code, "UNKNOWN")
    headers = dict(exc.headers) if exc.headers else None
    return error_response(exc.status_code, [{"code": code, "message": str(exc.detail)}], headers)


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(e.AccessError, _access_error)
    app.add_exception_handler(ApiRefusal, _refusal)
    app.add_exception_handler(RequestValidationError, _invalid)
    app.add_exception_handler(StarletteHTTPException, _http)
