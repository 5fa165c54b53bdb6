"""Reading small JSON request bodies strictly: one answer (400 and a reason) for bad ones."""

from __future__ import annotations

import json
from typing import Any

from starlette.responses import JSONResponse

MAX_FIELD = 200


class BadRequest(Exception):
    """Raised while reading a body; ``response`` is what the client gets."""

    def __init__(self, message: str, status: int = 400, code: str = "invalid_field") -> None:
        super().__init__(message)
        self.response = JSONResponse({"error": code, "message": message}, status_code=status)


async def json_object(request: Any) -> dict[str, Any]:
    try:
        body = json.loads(await request.body() or b"{}")
    except ValueError:
        raise BadRequest("body must be JSON") from None
    if not isinstance(body, dict):
        raise BadRequest("body must be a JSON object")
    return body


def optional_str(body: dict[str, Any], name: str, limit: int = MAX_FIELD) -> str | None:
    """A trimmed string field, None when absent or blank; BadRequest when not a string."""
    value = body.get(name)
    if value is None:
        return None
    if not isinstance(value, str) or len(value) > limit:
        raise BadRequest(f"`{name}` must be a string of at most {limit} characters")
    return value.strip() or None
