"""The mail routes: ``POST /api/mail/inbound`` (a raw RFC 822 message, as mail providers'
inbound webhooks forward it, with the shared secret in ``X-Livedesk-Mail-Secret``) and
``POST /api/visitor/transcript`` (a visitor asks for the transcript of a conversation by
mail)."""

from __future__ import annotations

import hmac

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from chatserver.backends import mail_outbox as outbox
from chatserver.backends.store import now_ms
from chatserver.core.mail import MailRefused
from chatserver.live.auth import origin_allowed
from chatserver.web.http_body import BadRequest, json_object, optional_str, read_body


async def inbound(request: Request) -> JSONResponse:
    settings = request.app.state.settings
    ingest = getattr(request.app.state, "mail_ingest", None)
    secret = settings.mail.mail_inbound_secret
    if ingest is None or not secret:
        return JSONResponse({"error": "not_found", "message": "mail is off"}, status_code=404)
    presented = request.headers.get("x-livedesk-mail-secret", "")
    if not hmac.compare_digest(presented.encode(), secret.encode()):
        return JSONResponse({"error": "forbidden", "message": "bad secret"}, status_code=403)
    try:
        raw = await read_body(request, settings.mail.mail_max_bytes, "message too large")
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


async def transcript(request: Request) -> JSONResponse:
    """The visitor's own conversation, mailed to the visitor's known address (or the one
    given now, kept as the visitor's). Once per conversation: asking again changes nothing."""
    state = request.app.state
    settings = state.settings
    if getattr(state, "mail_worker", None) is None:
        return JSONResponse({"error": "not_found", "message": "mail is off"}, status_code=404)
    try:
        if not origin_allowed(request, settings, for_visitor=True):
            raise BadRequest("origin not allowed", 403, "forbidden")
        body = await json_object(request)
        token = optional_str(body, "token", 1000)
        conversation_id = optional_str(body, "conversation_id", 64)
        email = optional_str(body, "email", 320)
        if email is not None and "@" not in email:
            raise BadRequest("`email` must be an e-mail address")
    except BadRequest as exc:
        return exc.response
    claims = state.tokens.read_visitor_token(token) if token else None
    conv = await state.store.get_conversation(conversation_id) if conversation_id else None
    if claims is None or conv is None or conv.visitor_id != claims.visitor_id:
        return JSONResponse({"error": "forbidden", "message": "not yours"}, status_code=403)
    visitor = await state.store.get_visitor(claims.visitor_id)
    if visitor is None:
        return JSONResponse({"error": "forbidden", "message": "unknown visitor"}, status_code=403)
    if email and not visitor.email and not visitor.customer_email:
        visitor.email = email
        await state.store.save_visitor(visitor)
    queued = await outbox.record_transcript(
        state.engine, conv.id, now_ms(), settings.mail.mail_reply_domain
    )
    earlier = [
        m for m in await outbox.mails(state.engine, conv.id) if m["kind"] == outbox.TRANSCRIPT
    ]
    if not queued and not earlier:
        return JSONResponse(
            {"error": "invalid_field", "message": "no e-mail address known"}, status_code=400
        )
    state.mail_worker.wake()
    return JSONResponse({"queued": queued}, status_code=202)


routes = [
    Route("/api/mail/inbound", inbound, methods=["POST"]),
    Route("/api/visitor/transcript", transcript, methods=["POST"]),
]
