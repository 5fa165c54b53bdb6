"""Reading small JSON request bodies strictly: one reader for every endpoint that takes
one, one exception (``BadRequest``: a status, a code and a reason) for every way a body can
be wrong. Endpoints answer ``exc.response`` ({"error": code, "message": reason}); the desk,
whose errors are Starlette's plain-text ones, raises ``HTTPException(exc.status,
exc.message)`` instead.

Every body is also checked for text no store can hold (``protocol.check_storable``, the
same check frames get), and ``store_error_response`` is the app-wide answer to a store
error no endpoint caught: a 4xx or a 503, never a 500."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

from starlette.exceptions import HTTPException
from starlette.requests import HTTPConnection
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.websockets import WebSocket

from chatserver.core.errors import BadData, CloseCode, StoreUnavailable
from chatserver.core.protocol import ProtocolError, check_storable

MAX_FIELD = 200
# No JSON body we take is near this: it only stops a client making us buffer megabytes.
MAX_BODY = 128 * 1024
JSON_TYPE = "application/json"


class BadRequest(Exception):
    """Raised while reading a body; ``response`` is what the client gets."""

    def __init__(self, message: str, status: int = 400, code: str = "invalid_field") -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.code = code

    @property
    def response(self) -> JSONResponse:
        return JSONResponse({"error": self.code, "message": self.message}, status_code=self.status)


def require_json(request: Any) -> None:
    """415 unless the body says it is JSON (what a cross-site form cannot send without a
    CORS preflight)."""
    if not request.headers.get("content-type", "").startswith(JSON_TYPE):
        raise BadRequest("send application/json", 415, "json_only")


async def read_body(
    request: Any, max_bytes: int = MAX_BODY, too_large: str = "body too large"
) -> bytes:
    """The raw body, refused with 413 as soon as it is longer than ``max_bytes`` (by its
    Content-Length, or while it streams in: never buffered whole)."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > max_bytes:
        raise BadRequest(too_large, 413, "too_large")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > max_bytes:
            raise BadRequest(too_large, 413, "too_large")
        chunks.append(chunk)
    return b"".join(chunks)


async def json_object(
    request: Any,
    *,
    max_bytes: int = MAX_BODY,
    too_large: str = "body too large",
    empty_is_object: bool = True,
    invalid: str = "invalid_field",
) -> dict[str, Any]:
    """The body as a JSON object. An empty body is ``{}`` unless ``empty_is_object`` is
    false; ``invalid`` is the error code for a body that is not a JSON object."""
    raw = await read_body(request, max_bytes, too_large)
    if not raw and empty_is_object:
        return {}
    try:
        body = json.loads(raw)
    except ValueError:
        raise BadRequest("body must be JSON", code=invalid) from None
    if not isinstance(body, dict):
        raise BadRequest("body must be a JSON object", code=invalid)
    try:
        check_storable(body)
    except ProtocolError as exc:
        raise BadRequest(exc.message, code=exc.code) from None
    return body


def optional_str(body: dict[str, Any], name: str, limit: int = MAX_FIELD) -> str | None:
    """A trimmed string field, None when absent or blank; BadRequest when not a string."""
    value = body.get(name)
    if value is None:
        return None
    if not isinstance(value, str) or len(value) > limit:
        raise BadRequest(f"`{name}` must be a string of at most {limit} characters")
    return value.strip() or None


async def store_error_response(conn: HTTPConnection, exc: Exception) -> Response | None:
    """The app's answer to a store error no endpoint caught, never a 500: a value the
    database refused is the client's 400 `invalid_field` (retrying cannot help), an outage
    a 503 `unavailable`. A websocket not yet serving frames is closed (1011: reconnect)."""
    if isinstance(conn, WebSocket):
        try:
            await conn.close(code=CloseCode.INTERNAL_ERROR)
        except RuntimeError:
            pass  # already closed
        return None
    if isinstance(exc, BadData):
        return BadRequest("the store cannot hold this; nothing was saved").response
    if isinstance(exc, StoreUnavailable):
        return JSONResponse(
            {"error": "unavailable", "message": "the store is unavailable; retry"},
            status_code=503,
            headers={"retry-after": "1"},
        )
    raise exc


# The stable `error` code of an HTTP error raised as a bare status (HTTPException, an
# unknown route or method, a crash): clients branch on it, as on the frames' codes.
STATUS_CODES: dict[int, str] = {
    400: "invalid_field",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "too_large",
    415: "json_only",
    429: "rate_limited",
    500: "internal",
    503: "unavailable",
}
# Paths whose every error is JSON ({"error", "message"}); the pages answer as pages.
JSON_PATHS = ("/api/", "/login", "/logout", "/integrations/")


def json_error(status: int, message: str, headers: Mapping[str, str] | None = None) -> JSONResponse:
    code = STATUS_CODES.get(status, "invalid_field" if status < 500 else "internal")
    return JSONResponse({"error": code, "message": message}, status_code=status, headers=headers)


def _wants_json(conn: HTTPConnection) -> bool:
    path: str = conn.scope.get("path", "")
    return path.startswith(JSON_PATHS)


async def http_error_response(conn: HTTPConnection, exc: Exception) -> Response:
    """An HTTPException (an endpoint's, or the router's 404/405) as JSON on the API."""
    assert isinstance(exc, HTTPException)
    if not _wants_json(conn):
        if exc.status_code in (204, 304):
            return Response(status_code=exc.status_code, headers=exc.headers)
        return PlainTextResponse(exc.detail, status_code=exc.status_code, headers=exc.headers)
    return json_error(exc.status_code, exc.detail, exc.headers)


async def server_error_response(conn: HTTPConnection, exc: Exception) -> Response:
    """A crash (Starlette logs it and re-raises after this): JSON on the API, never a
    traceback or an HTML page."""
    if not _wants_json(conn):
        return PlainTextResponse("Internal Server Error", status_code=500)
    return json_error(500, "internal error; the team has it in the logs")


# One handler for HTTP and websocket connections alike, which Starlette's types keep apart.
STORE_ERROR_HANDLERS: dict[Any, Callable[..., Any]] = {
    BadData: store_error_response,
    StoreUnavailable: store_error_response,
}
# The app's handlers: every error on an API path is JSON, whatever raised it.
ERROR_HANDLERS: dict[Any, Callable[..., Any]] = {
    **STORE_ERROR_HANDLERS,
    HTTPException: http_error_response,
    500: server_error_response,
}
