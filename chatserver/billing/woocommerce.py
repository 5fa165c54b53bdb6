"""WooCommerce webhooks, sans I/O: signature, ping, source and the order payload.

The body is the ``GET /wc/v3/orders/<id>`` JSON. Only the fields billing needs are read, and
everything is checked, because the shop's plugins can put anything there.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from chatserver.billing.errors import InvalidPacks, MalformedPayload

TOPICS = frozenset({"order.created", "order.updated", "order.deleted", "order.restored"})
DELETED_TOPIC = "order.deleted"

_PING = re.compile(rb"webhook_id=\d+")


@dataclass(frozen=True, slots=True)
class LineItem:
    id: int
    product_id: int
    variation_id: int
    sku: str
    quantity: int


@dataclass(frozen=True, slots=True)
class Refund:
    id: int
    total: str


@dataclass(frozen=True, slots=True)
class Order:
    id: int
    number: str
    status: str
    email: str | None
    modified_ms: int
    line_items: tuple[LineItem, ...]
    refunds: tuple[Refund, ...]


def sign(secret: str, body: bytes) -> str:
    """The value WooCommerce puts in ``X-WC-Webhook-Signature`` for ``body``."""
    digest = hmac.new(secret.encode(), body, hashlib.sha256).digest()
    return base64.b64encode(digest).decode("ascii")


def verify_signature(secret: str, body: bytes, header: str | None) -> bool:
    if not header:
        return False
    try:
        given = header.strip().encode("ascii")
    except UnicodeEncodeError:
        return False
    return hmac.compare_digest(sign(secret, body).encode("ascii"), given)


def is_ping(body: bytes, signature: str | None) -> bool:
    """The unsigned ``webhook_id=N`` form post WooCommerce sends when a webhook is saved."""
    return not signature and _PING.fullmatch(body.strip()) is not None


def normalise_source(url: str) -> str:
    """``https://Shop.example/`` and ``https://shop.example`` are the same shop."""
    parts = urlsplit(url.strip())
    path = parts.path.rstrip("/")
    return urlunsplit((parts.scheme.lower(), parts.netloc.lower(), path, parts.query, ""))


def parse_packs(text: str | bytes) -> dict[str, int]:
    """The credit packs file: ``{"SKU or product id": credits per unit}``."""
    try:
        raw = json.loads(text)
    except ValueError as exc:
        raise InvalidPacks(f"credit packs file is not JSON: {exc}") from exc
    if not isinstance(raw, dict):
        raise InvalidPacks("credit packs file must be a JSON object")
    packs: dict[str, int] = {}
    for key, value in raw.items():
        if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
            raise InvalidPacks(f"credits for {key!r} must be a positive integer")
        packs[key.strip()] = value
    return packs


def pack_key(item: LineItem) -> str:
    """SKU when the line has one, else the product id (the variation's, for a variation)."""
    if item.sku.strip():
        return item.sku.strip()
    return str(item.variation_id or item.product_id)


def parse_json_object(body: bytes) -> dict[str, Any]:
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise MalformedPayload(f"body is not JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise MalformedPayload("body is not a JSON object")
    return data


def parse_deleted_id(body: bytes) -> int:
    """``order.deleted`` carries only ``{"id": N}``."""
    return _int(parse_json_object(body), "id", required=True)


def parse_order(body: bytes) -> Order:
    data = parse_json_object(body)
    order_id = _int(data, "id", required=True)
    status = data.get("status")
    if not isinstance(status, str) or not status:
        raise MalformedPayload("order has no status")
    number = data.get("number")
    billing = data.get("billing")
    email = billing.get("email") if isinstance(billing, dict) else None
    items = data.get("line_items", [])
    refunds = data.get("refunds", [])
    if not isinstance(items, list) or not isinstance(refunds, list):
        raise MalformedPayload("line_items and refunds must be lists")
    return Order(
        id=order_id,
        number=str(number) if isinstance(number, str | int) and number != "" else str(order_id),
        status=status.removeprefix("wc-"),
        email=email.strip() if isinstance(email, str) and email.strip() else None,
        modified_ms=_modified_ms(data),
        line_items=tuple(_line_item(item) for item in items),
        refunds=tuple(_refund(refund) for refund in refunds),
    )


def _line_item(item: object) -> LineItem:
    if not isinstance(item, dict):
        raise MalformedPayload("a line item is not an object")
    sku = item.get("sku")
    if sku is not None and not isinstance(sku, str):
        raise MalformedPayload("line item sku must be a string")
    quantity = _int(item, "quantity", required=True)
    if quantity < 0:
        raise MalformedPayload("line item quantity is negative")
    return LineItem(
        id=_int(item, "id", required=True),
        product_id=_int(item, "product_id"),
        variation_id=_int(item, "variation_id"),
        sku=sku or "",
        quantity=quantity,
    )


def _refund(refund: object) -> Refund:
    if not isinstance(refund, dict):
        raise MalformedPayload("a refund is not an object")
    return Refund(id=_int(refund, "id"), total=str(refund.get("total", "")))


def _int(data: dict[str, Any], key: str, *, required: bool = False) -> int:
    value = data.get(key)
    if value is None and not required:
        return 0
    if isinstance(value, bool) or not isinstance(value, int):
        raise MalformedPayload(f"{key!r} must be an integer")
    return value


def _modified_ms(data: dict[str, Any]) -> int:
    # The *_gmt fields are UTC without an offset; the plain ones are shop-local time, so they
    # are only a fallback. Second precision: ties are settled in rules.is_stale.
    for key in ("date_modified_gmt", "date_created_gmt"):
        value = data.get(key)
        if isinstance(value, str) and value:
            try:
                parsed = datetime.fromisoformat(value)
            except ValueError as exc:
                raise MalformedPayload(f"{key} is not an ISO date") from exc
            if parsed.tzinfo is None:
                parsed = parsed.replace(tzinfo=UTC)
            return int(parsed.timestamp() * 1000)
    return 0
