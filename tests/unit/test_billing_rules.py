"""The pure cores: WooCommerce parsing and signatures, and the billing policy maths."""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import hmac
import json
from pathlib import Path

import pytest

from chatserver.billing import rules, woocommerce
from chatserver.billing.errors import InvalidEmail, InvalidPacks, MalformedPayload
from chatserver.billing.rules import LineChange, StoredOrder
from chatserver.billing.woocommerce import Order, Refund

DATA = Path(__file__).parents[1] / "data" / "woocommerce"
PACKS = woocommerce.parse_packs((DATA / "packs.json").read_bytes())
BODY = (DATA / "order_1234_processing.json").read_bytes()


def order(**changes: object) -> Order:
    return dataclasses.replace(woocommerce.parse_order(BODY), **changes)  # type: ignore[arg-type]


# --- woocommerce ---------------------------------------------------------------------------


def test_signature_is_base64_hmac_sha256_of_the_raw_bytes() -> None:
    expected = base64.b64encode(hmac.new(b"s3cret", BODY, hashlib.sha256).digest()).decode()
    assert woocommerce.sign("s3cret", BODY) == expected
    assert woocommerce.verify_signature("s3cret", BODY, expected)


@pytest.mark.parametrize(
    "header",
    [None, "", "not base64", woocommerce.sign("other", BODY), "é" + woocommerce.sign("s", BODY)],
)
def test_wrong_or_missing_signature_is_refused(header: str | None) -> None:
    assert not woocommerce.verify_signature("s3cret", BODY, header)


def test_one_flipped_byte_breaks_the_signature() -> None:
    good = woocommerce.sign("s3cret", BODY)
    tampered = bytearray(BODY)
    tampered[100] ^= 0x01
    assert not woocommerce.verify_signature("s3cret", bytes(tampered), good)


def test_reserialised_json_is_not_the_signed_body() -> None:
    # Why we verify the raw bytes: the same JSON, re-encoded, no longer matches.
    reencoded = json.dumps(json.loads(BODY)).encode()
    assert reencoded != BODY
    assert not woocommerce.verify_signature("s3cret", reencoded, woocommerce.sign("s3cret", BODY))


def test_ping_is_the_unsigned_webhook_id_form() -> None:
    assert woocommerce.is_ping(b"webhook_id=17", None)
    assert not woocommerce.is_ping(b"webhook_id=17", "c2ln")
    assert not woocommerce.is_ping(b"webhook_id=17&x=1", None)
    assert not woocommerce.is_ping(BODY, None)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("https://Shop.Example.com/", "https://shop.example.com"),
        ("https://shop.example.com", "https://shop.example.com"),
        (" https://shop.example.com/store/ ", "https://shop.example.com/store"),
    ],
)
def test_source_normalisation(raw: str, expected: str) -> None:
    assert woocommerce.normalise_source(raw) == expected


def test_parse_order_reads_the_rest_shape() -> None:
    parsed = woocommerce.parse_order(BODY)
    assert (parsed.id, parsed.number, parsed.status) == (1234, "1234", "processing")
    assert parsed.email == "Ada.Lovelace@Example.COM"
    assert [(i.id, i.sku, i.product_id, i.quantity) for i in parsed.line_items] == [
        (315, "SUPPORT-5", 93, 2),
        (316, "", 77, 1),
        (317, "MUG-BLUE", 12, 1),
    ]
    assert parsed.modified_ms == 1714644005000  # 2024-05-02T10:00:05Z, the *_gmt field


@pytest.mark.parametrize(
    "body",
    [
        b"{not json",
        b"[1, 2]",
        b'{"status": "processing"}',
        b'{"id": "12", "status": "processing"}',
        b'{"id": 12}',
        b'{"id": 12, "status": "processing", "line_items": [{"id": 1, "quantity": "2"}]}',
        b'{"id": 12, "status": "processing", "line_items": [{"id": 1, "quantity": -1}]}',
        b'{"id": 12, "status": "processing", "line_items": {}}',
        b"\xff\xfe",
    ],
)
def test_malformed_orders_raise(body: bytes) -> None:
    with pytest.raises(MalformedPayload):
        woocommerce.parse_order(body)


def test_packs_file_must_map_keys_to_positive_integers() -> None:
    assert woocommerce.parse_packs('{"A": 1, " 77 ": 3}') == {"A": 1, "77": 3}
    for bad in ('{"A": 0}', '{"A": true}', '{"A": 1.5}', "[]", "nope"):
        with pytest.raises(InvalidPacks):
            woocommerce.parse_packs(bad)


def test_line_credits_by_sku_else_product_id_times_quantity() -> None:
    assert rules.line_credits(order(), PACKS) == {315: 10, 316: 2, 317: 0}


# --- rules ---------------------------------------------------------------------------------


def test_email_normalisation() -> None:
    assert rules.normalise_email("  Ada.Lovelace@Example.COM ") == "ada.lovelace@example.com"
    for bad in ("", "ada", "@example.com", "ada@", "a da@example.com"):
        with pytest.raises(InvalidEmail):
            rules.normalise_email(bad)


@pytest.mark.parametrize(
    ("human_ms", "blocks"),
    [(0, 0), (1, 1), (30 * 60_000, 1), (30 * 60_000 + 1, 2), (61 * 60_000, 3)],
)
def test_every_started_block_counts(human_ms: int, blocks: int) -> None:
    assert rules.blocks_for_human_time(human_ms, 30) == blocks


def test_first_grant_writes_each_line_and_opens_a_request() -> None:
    plan = rules.plan_order(order(), PACKS, {}, 0, None)
    assert plan.changes == (LineChange(315, 10), LineChange(316, 2))
    assert plan.first_grant == 12
    assert not plan.partial_refund


def test_replaying_a_granted_order_writes_nothing() -> None:
    plan = rules.plan_order(order(status="completed"), PACKS, {315: 10, 316: 2}, 12, None)
    assert plan.changes == ()
    assert plan.first_grant == 0


def test_pending_and_on_hold_change_nothing() -> None:
    for status in ("pending", "on-hold", "failed"):
        assert rules.plan_order(order(status=status), PACKS, {315: 10}, 10, None).changes == ()


def test_refund_reverses_what_is_left_never_below_zero() -> None:
    # 12 granted, 9 used: only 3 can be taken back; 9 are written off, once.
    plan = rules.plan_order(order(status="refunded"), PACKS, {315: 10, 316: 2}, 3, None)
    assert sum(c.amount for c in plan.changes) == -3
    assert (plan.shortfall, plan.written_off) == (9, 9)
    stored = StoredOrder("refunded", 0, "a@b.c", written_off=9)
    # Replayed after the customer bought more elsewhere: nothing more is clawed back.
    again = rules.plan_order(order(status="refunded"), PACKS, {315: 7, 316: 2}, 50, stored)
    assert again.changes == ()
    assert again.written_off == 9


def test_restoring_a_refunded_order_grants_back_what_was_reversed() -> None:
    stored = StoredOrder("refunded", 0, "a@b.c", written_off=9)
    plan = rules.plan_order(order(status="completed"), PACKS, {315: 1, 316: 2}, 0, stored)
    assert plan.changes == (LineChange(315, 9),)
    assert plan.written_off == 0


def test_a_removed_line_is_reversed() -> None:
    edited = order(line_items=order().line_items[1:])
    plan = rules.plan_order(edited, PACKS, {315: 10, 316: 2}, 12, None)
    assert plan.changes == (LineChange(315, -10),)


def test_partial_refund_is_flagged_not_guessed() -> None:
    plan = rules.plan_order(
        order(refunds=(Refund(901, "-15.00"),)), PACKS, {315: 10, 316: 2}, 12, None
    )
    assert plan.partial_refund
    assert plan.changes == ()


def test_older_deliveries_are_stale_and_refunds_win_ties() -> None:
    current = order()
    stored = StoredOrder("processing", current.modified_ms, "a@b.c", 0)
    assert rules.is_stale(order(modified_ms=current.modified_ms - 1000), stored)
    assert not rules.is_stale(current, stored)
    assert not rules.is_stale(order(modified_ms=current.modified_ms + 1000), stored)
    refunded = StoredOrder("refunded", current.modified_ms, "a@b.c", 0)
    assert rules.is_stale(current, refunded)
    assert not rules.is_stale(order(status="refunded"), stored)
    assert not rules.is_stale(current, None)


def test_keys_are_distinct_per_shop_order_line_and_step() -> None:
    keys = {
        rules.order_line_key("https://a", 1, 1, 1),
        rules.order_line_key("https://b", 1, 1, 1),
        rules.order_line_key("https://a", 1, 1, 2),
        rules.order_line_key("https://a", 1, 2, 1),
        rules.order_line_key("https://a", 2, 1, 1),
    }
    assert len(keys) == 5
    assert rules.conversation_key("c1") == "conv:c1"
    assert rules.block_key("c1", 3) == "conv:c1:block:3"
