"""``POST /api/mail/inbound``: a raw RFC 822 message, as mail providers' inbound webhooks
forward it, with the shared secret in ``X-Livedesk-Mail-Secret``."""

from __future__ import annotations

import hmac

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from chatserver.core.mail import MailRefused
from chatserver.web.http_body import BadRequest, read_body


async def inbound(request: Request) -> JSONResponse:
    settings = request.app.state.settings
    ingest = getattr(request.app.state, "mail_ingest", None)
    secret = settings.mail_inbound_secret
    if ingest is None or not secret:
        return JSONResponse({"error": "not_found", "message": "mail is off"}, status_code=404)
    presented = request.headers.get("x-livedesk-mail-secret", "")
    if not hmac.compare_digest(presented.encode(), secret.encode()):
        return JSONResponse({"error": "forbidden", "message": "bad secret"}, status_code=403)
    try:
        raw = await read_body(request, settings.mail_max_bytes, "message too large")
    except BadRequest as exc:
        return exc.response
    envelope_from = request.headers.get("x-envelope-from")
    rcpts = [r.strip() for r in request.headers.get("x-envelope-to", "").split(",") if r.strip()]
    try:
        outcome = await ingest.ingest(raw, envelope_from, rcpts)
    except MailRefused as exc:
        return JSONResponse(
            {"error": "mail_refused", "message": exc.reason}, status_code=exc.http_status
        )
    return JSONResponse({"outcome": outcome}, status_code=200 if outcome != "stored" else 201)


routes = [Route("/api/mail/inbound", inbound, methods=["POST"])]
