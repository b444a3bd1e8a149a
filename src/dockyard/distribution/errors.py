"""Domain errors in the distribution spec's terms: one table of status and code."""

from __future__ import annotations

import json
from typing import Any

from starlette.responses import Response

from dockyard.registry import errors as e

__all__ = ["error_response", "status_and_code"]

# Most specific classes first: the first isinstance match wins.
_TABLE: list[tuple[type[e.RegistryError], int, str]] = [
    (e.RangeInvalid, 416, "BLOB_UPLOAD_INVALID"),
    (e.ManifestTooLarge, 413, "MANIFEST_INVALID"),
    (e.ParameterInvalid, 400, "UNSUPPORTED"),
    (e.NameInvalid, 400, "NAME_INVALID"),
    (e.NameUnknown, 404, "NAME_UNKNOWN"),
    (e.TagInvalid, 400, "MANIFEST_INVALID"),
    (e.DigestInvalid, 400, "DIGEST_INVALID"),
    (e.BlobUnknown, 404, "BLOB_UNKNOWN"),
    (e.BlobUploadUnknown, 404, "BLOB_UPLOAD_UNKNOWN"),
    (e.BlobUploadInvalid, 400, "BLOB_UPLOAD_INVALID"),
    (e.SizeInvalid, 400, "SIZE_INVALID"),
    (e.ManifestUnknown, 404, "MANIFEST_UNKNOWN"),
    (e.ManifestInvalid, 400, "MANIFEST_INVALID"),
    (e.ManifestBlobUnknown, 400, "MANIFEST_BLOB_UNKNOWN"),
    (e.Unsupported, 405, "UNSUPPORTED"),
    (e.Unauthorized, 401, "UNAUTHORIZED"),
    (e.Denied, 403, "DENIED"),
    (e.TooManyRequests, 429, "TOOMANYREQUESTS"),
    # Not in the OCI list; distribution's code for 503, which clients retry.
    (e.StorageUnavailable, 503, "UNAVAILABLE"),
    (e.UpstreamFailed, 503, "UNAVAILABLE"),
]


def status_and_code(error: e.RegistryError) -> tuple[int, str]:
    for cls, status, code in _TABLE:
        if isinstance(error, cls):
            return status, code
    return 500, "UNKNOWN"


def error_body(code: str, message: str, detail: Any = None) -> bytes:
    entry: dict[str, Any] = {"code": code, "message": message}
    if detail is not None:
        entry["detail"] = detail
    return json.dumps({"errors": [entry]}).encode()


def error_response(
    error: e.RegistryError, head: bool = False, headers: dict[str, str] | None = None
) -> Response:
    status, code = status_and_code(error)
    body = b"" if head else error_body(code, error.message, error.detail)
    response = Response(body, status_code=status, media_type="application/json", headers=headers)
    if head:
        response.headers["content-length"] = "0"
    return response
