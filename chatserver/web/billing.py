"""HTTP adapters: the WooCommerce webhook and the admin credits API.

Optional hooks on ``app.state``, called after the ledger transaction committed:

* ``publish_balance(customer_email: str, balance: int) -> Awaitable[None]``: after any change.
* ``on_credits_granted(customer_email: str, order_number: str, credits: int) -> Awaitable[None]``:
  when an order first grants credits (a paid-support order). The request itself is in the
  ``support_requests`` outbox, written with the grant; the hub's billing worker opens the
  conversation from there (``chatserver.billing.due``), and this call only wakes it.
"""

from __future__ import annotations

import asyncio
import csv
import io
import logging
import os
import time
from collections.abc import AsyncIterator
from typing import Any

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from chatserver.billing import ledger, rules, woocommerce
from chatserver.billing.errors import (
    BillingError,
    IdempotencyConflict,
    InsufficientCredit,
    InvalidAmount,
    InvalidEmail,
    InvalidPacks,
    MalformedPayload,
)
from chatserver.core.spreadsheet import safe_row
from chatserver.web.http_body import BadRequest, json_object, read_body

log = logging.getLogger(__name__)

MAX_WEBHOOK_BYTES = 2 * 1024 * 1024
ADMIN_ROLE = "admin"


def _now_ms() -> int:
    return int(time.time() * 1000)


def _error(status: int, code: str, detail: str) -> JSONResponse:
    return JSONResponse({"error": code, "detail": detail}, status_code=status)


# --- credit packs: re-read only when the file changes -------------------------------------

_packs_cache: dict[str, tuple[tuple[int, int], dict[str, int]]] = {}


def load_packs(path: str) -> dict[str, int]:
    try:
        stat = os.stat(path)
        stamp = (stat.st_mtime_ns, stat.st_size)
        cached = _packs_cache.get(path)
        if cached is not None and cached[0] == stamp:
            return cached[1]
        with open(path, "rb") as f:
            packs = woocommerce.parse_packs(f.read())
    except OSError as exc:
        raise InvalidPacks(f"cannot read credit packs file {path}: {exc}") from exc
    _packs_cache[path] = (stamp, packs)
    return packs


# --- hooks ---------------------------------------------------------------------------------


async def _publish_balance(request: Request, email: str, balance: int) -> None:
    publish = getattr(request.app.state, "publish_balance", None)
    if publish is None:
        return
    try:
        await publish(email, balance)
    except Exception:  # the money moved and is committed; a lost live update is not fatal
        log.exception("publish_balance failed for %s", email)


async def _credits_granted(request: Request, request_info: ledger.SupportRequestInfo) -> None:
    hook = getattr(request.app.state, "on_credits_granted", None)
    if hook is None:
        return
    try:
        await hook(request_info.customer_email, request_info.order_number, request_info.credits)
    except Exception:  # the outbox row stays unclaimed for the hub to pick up
        log.exception("on_credits_granted failed for order #%s", request_info.order_number)


# --- WooCommerce ---------------------------------------------------------------------------


async def woocommerce_webhook(request: Request) -> Response:
    settings = request.app.state.settings
    engine = request.app.state.engine
    if not settings.billing.woocommerce_secret:
        return _error(404, "not_configured", "the WooCommerce integration is off")
    try:
        body = await read_body(request, MAX_WEBHOOK_BYTES, "delivery too large")
    except BadRequest as exc:
        return _error(exc.status, exc.code, exc.message)
    headers = request.headers
    signature = headers.get("x-wc-webhook-signature")
    if woocommerce.is_ping(body, signature):
        # WooCommerce saves a webhook only if this unsigned ping gets a 2xx.
        return Response(status_code=200)
    if not woocommerce.verify_signature(settings.billing.woocommerce_secret, body, signature):
        # Nothing is stored: strangers must not be able to fill the database.
        return _error(401, "bad_signature", "missing or wrong X-WC-Webhook-Signature")

    received_ms = _now_ms()
    delivery = await ledger.record_delivery(
        engine,
        body=body,
        headers={
            "source": headers.get("x-wc-webhook-source"),
            "topic": headers.get("x-wc-webhook-topic"),
            "delivery_id": headers.get("x-wc-webhook-delivery-id"),
            "webhook_id": headers.get("x-wc-webhook-id"),
        },
        received_ms=received_ms,
    )
    try:
        response, outcome, detail = await _handle_delivery(request, body)
    except Exception as exc:
        await ledger.finish_delivery(engine, delivery, "error", repr(exc), _now_ms())
        raise
    await ledger.finish_delivery(engine, delivery, outcome, detail, _now_ms())
    return response


async def _handle_delivery(request: Request, body: bytes) -> tuple[Response, str, str]:
    settings = request.app.state.settings
    engine = request.app.state.engine
    headers = request.headers
    if not settings.billing.woocommerce_source:
        return (
            _error(403, "source_not_configured", "set LIVEDESK_WOOCOMMERCE_SOURCE"),
            "rejected_source",
            "no source configured",
        )
    source = woocommerce.normalise_source(settings.billing.woocommerce_source)
    given_source = woocommerce.normalise_source(headers.get("x-wc-webhook-source", ""))
    if given_source != source:
        return (
            _error(403, "wrong_source", "X-WC-Webhook-Source is not the configured shop"),
            "rejected_source",
            given_source,
        )
    topic = headers.get("x-wc-webhook-topic", "")
    if topic not in woocommerce.TOPICS:
        return (
            _error(400, "wrong_topic", f"topic {topic!r} not accepted"),
            "rejected_topic",
            topic,
        )

    try:
        if topic == woocommerce.DELETED_TOPIC:
            result = await ledger.flag_deleted_order(
                engine, source, woocommerce.parse_deleted_id(body), _now_ms()
            )
        else:
            order = woocommerce.parse_order(body)
            packs = (
                await asyncio.to_thread(load_packs, settings.billing.credit_packs)
                if settings.billing.credit_packs
                else {}
            )
            # The packs saved in the admin screen win over the file's.
            packs = {**packs, **settings.billing.credit_pack_credits}
            result = await ledger.apply_order(engine, source, order, packs, _now_ms())
    except MalformedPayload as exc:
        return _error(400, "malformed", str(exc)), "malformed", str(exc)

    if result.outcome == "refused":
        detail = f"flags={list(result.flags)}"
        return (
            _error(422, "amount_out_of_range", "the order's credits are out of bounds"),
            "refused",
            detail,
        )
    if result.moved and result.customer_email is not None and result.balance is not None:
        await _publish_balance(request, result.customer_email, result.balance)
    if result.support_request is not None:
        await _credits_granted(request, result.support_request)
    payload = {
        "outcome": result.outcome,
        "granted": result.granted,
        "reversed": result.reversed,
        "flags": list(result.flags),
    }
    detail = f"granted={result.granted} reversed={result.reversed} flags={list(result.flags)}"
    return JSONResponse(payload), result.outcome, detail


# --- admin API -----------------------------------------------------------------------------


async def _require_admin(request: Request) -> Any:
    # the hub's auth; imported late on purpose
    from chatserver.live.auth import require_csrf, require_role

    if request.method == "GET":
        return await require_role(request, ADMIN_ROLE)
    # Cookie-authenticated writes want what every desk write wants: the session's CSRF
    # token and, from a browser, our own Origin.
    principal = await require_csrf(request, ADMIN_ROLE)
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type != "application/json":
        raise HTTPException(415, "send application/json")
    return principal


def _email_param(request: Request) -> str:
    try:
        return rules.normalise_email(request.path_params["email"])
    except InvalidEmail as exc:
        raise HTTPException(400, str(exc)) from exc


async def credits_show(request: Request) -> Response:
    await _require_admin(request)
    email = _email_param(request)
    engine = request.app.state.engine
    try:
        limit = min(int(request.query_params.get("limit", "100")), 1000)
    except ValueError:
        return _error(400, "invalid_field", "limit must be an integer")
    balance = await ledger.get_balance(engine, email)
    entries = await ledger.history(engine, email, limit=limit)
    return JSONResponse({**balance.as_dict(), "history": [e.as_dict() for e in entries]})


async def credits_grant(request: Request) -> Response:
    return await _admin_write(request, "grant")


async def credits_adjust(request: Request) -> Response:
    return await _admin_write(request, "adjust")


async def _admin_write(request: Request, kind: str) -> Response:
    principal = await _require_admin(request)
    email = _email_param(request)
    try:
        data = await json_object(request, empty_is_object=False, invalid="invalid_json")
    except BadRequest as exc:
        return _error(exc.status, exc.code, exc.message)
    amount, reason, action_id = data.get("amount"), data.get("reason", ""), data.get("action_id")
    if isinstance(amount, bool) or not isinstance(amount, int):
        return _error(400, "invalid_field", "amount must be an integer")
    if not isinstance(reason, str) or not isinstance(action_id, str) or not action_id.strip():
        return _error(400, "invalid_field", "reason must be a string, action_id non-empty")
    if len(action_id) > 200:
        return _error(400, "invalid_field", "action_id is too long")
    write = ledger.grant if kind == "grant" else ledger.adjust
    try:
        result = await write(
            request.app.state.engine,
            email,
            amount,
            key=rules.admin_key(action_id.strip()),
            reason=reason,
            actor=principal.email,
            now_ms=_now_ms(),
        )
    except InvalidAmount as exc:
        return _error(400, "invalid_field", str(exc))
    except InsufficientCredit as exc:
        return _error(409, "insufficient_credit", str(exc))
    except IdempotencyConflict as exc:
        return _error(409, "conflict", str(exc))
    except BillingError as exc:
        return _error(400, "invalid_field", str(exc))
    if result.created:
        await _publish_balance(request, email, result.balance)
    return JSONResponse(
        {"entry": result.entry.as_dict(), "created": result.created, "balance": result.balance},
        status_code=201 if result.created else 200,
    )


def ledger_csv_header() -> list[str]:
    return list(ledger.EXPORT_COLUMNS)


async def csv_lines(engine: Any) -> AsyncIterator[str]:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(ledger_csv_header())
    async for entry in ledger.export_entries(engine):
        writer.writerow(safe_row(entry.as_dict().values()))
        if buffer.tell() > 64 * 1024:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue()


async def credits_export(request: Request) -> Response:
    await _require_admin(request)
    return StreamingResponse(
        csv_lines(request.app.state.engine),
        media_type="text/csv; charset=utf-8",
        headers={"content-disposition": 'attachment; filename="livedesk-credits.csv"'},
    )


routes: list[Route] = [
    Route("/integrations/woocommerce/webhook", woocommerce_webhook, methods=["POST"]),
    # Before /api/credits/{email}, which would otherwise match "export.csv".
    Route("/api/credits/export.csv", credits_export, methods=["GET"]),
    Route("/api/credits/{email}", credits_show, methods=["GET"]),
    Route("/api/credits/{email}/grant", credits_grant, methods=["POST"]),
    Route("/api/credits/{email}/adjust", credits_adjust, methods=["POST"]),
]
