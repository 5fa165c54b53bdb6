"""The WooCommerce webhook and the admin credits API, driven over HTTP against a real uvicorn
server on loopback, on SQLite."""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
import uvicorn
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import HTTPConnection

from chatserver.backends.db import make_engine
from chatserver.billing import ledger, woocommerce
from chatserver.core.settings import Settings
from chatserver.web.billing import MAX_WEBHOOK_BYTES, routes
from chatserver.web.http_body import MAX_BODY
from tests.integration.test_billing_ledger import build_schema

DATA = Path(__file__).parents[1] / "data" / "woocommerce"
SECRET = "wc-secret-for-tests"
SHOP = "https://shop.example.com"
EMAIL = "ada.lovelace@example.com"
ORDER = json.loads((DATA / "order_1234_processing.json").read_bytes())


@dataclass
class Server:
    base_url: str
    database_url: str
    published: list[tuple[str, int]] = field(default_factory=list)
    support: list[tuple[str, str, int]] = field(default_factory=list)


def _app(settings: Settings, server: Server) -> Starlette:
    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        # The engine belongs to the server's own event loop, like in the real app.
        app.state.engine = make_engine(settings.server.database_url)
        try:
            yield
        finally:
            await app.state.engine.dispose()

    async def publish_balance(email: str, balance: int) -> None:
        server.published.append((email, balance))

    async def on_credits_granted(email: str, number: str, credits: int) -> None:
        server.support.append((email, number, credits))

    app = Starlette(routes=routes, lifespan=lifespan)
    app.state.settings = settings
    app.state.publish_balance = publish_balance
    app.state.on_credits_granted = on_credits_granted
    return app


@contextlib.contextmanager
def serve(settings: Settings) -> Iterator[Server]:
    server = Server(base_url="", database_url=settings.server.database_url)
    config = uvicorn.Config(
        _app(settings, server), host="127.0.0.1", port=0, log_level="warning", lifespan="on"
    )
    uv = uvicorn.Server(config)
    thread = threading.Thread(target=uv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not uv.started:  # uvicorn offers no event to wait on; bounded poll
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.01)
    port = uv.servers[0].sockets[0].getsockname()[1]
    server.base_url = f"http://127.0.0.1:{port}"
    try:
        yield server
    finally:
        uv.should_exit = True
        thread.join(10)
        assert not thread.is_alive()


def _settings(tmp_path: Path, **overrides: Any) -> Settings:
    url = f"sqlite:///{tmp_path / 'shop.db'}"
    asyncio.run(build_schema(url))
    values: dict[str, Any] = dict(
        database_url=url,
        woocommerce_secret=SECRET,
        woocommerce_source=SHOP + "/",
        credit_packs=str(DATA / "packs.json"),
    )
    values.update(overrides)
    return Settings(**values)


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    with serve(_settings(tmp_path)) as running:
        yield running


@pytest.fixture
async def client(server: Server) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=server.base_url, timeout=30) as c:
        yield c


@pytest.fixture
async def db(server: Server) -> AsyncIterator[AsyncEngine]:
    engine = make_engine(server.database_url)
    try:
        yield engine
    finally:
        await engine.dispose()


def order_body(**changes: Any) -> bytes:
    data = {**ORDER, **changes}
    return json.dumps(data, indent=2).encode()


async def deliver(
    client: httpx.AsyncClient,
    body: bytes,
    topic: str = "order.updated",
    *,
    source: str = SHOP,
    signature: str | None = "sign",
) -> httpx.Response:
    headers = {
        "content-type": "application/json",
        "x-wc-webhook-source": source,
        "x-wc-webhook-topic": topic,
        "x-wc-webhook-resource": "order",
        "x-wc-webhook-event": topic.split(".")[1],
        "x-wc-webhook-id": "7",
        "x-wc-webhook-delivery-id": "5d1b0c2e9f8a7b6c5d4e3f2a1b0c9d8e",
    }
    if signature == "sign":
        signature = woocommerce.sign(SECRET, body)
    if signature is not None:
        headers["x-wc-webhook-signature"] = signature
    return await client.post("/integrations/woocommerce/webhook", content=body, headers=headers)


async def count(engine: AsyncEngine, table: sa.Table) -> int:
    async with engine.connect() as conn:
        return int((await conn.execute(sa.select(sa.func.count()).select_from(table))).scalar_one())


async def balance(engine: AsyncEngine, email: str = EMAIL) -> ledger.Balance:
    return await ledger.get_balance(engine, email)


# --- the webhook ---------------------------------------------------------------------------


async def test_creation_ping_gets_200_and_changes_nothing(
    client: httpx.AsyncClient, db: AsyncEngine
) -> None:
    response = await client.post(
        "/integrations/woocommerce/webhook",
        content=b"webhook_id=7",
        headers={"content-type": "application/x-www-form-urlencoded"},
    )
    assert (response.status_code, response.content) == (200, b"")
    assert await count(db, ledger.deliveries) == 0
    assert await count(db, ledger.entries) == 0


async def test_same_delivery_replayed_five_times_grants_once(
    client: httpx.AsyncClient, db: AsyncEngine, server: Server
) -> None:
    body = order_body()
    responses = [await deliver(client, body) for _ in range(5)]
    assert [r.status_code for r in responses] == [200] * 5
    assert [r.json()["granted"] for r in responses] == [12, 0, 0, 0, 0]
    got = await balance(db)
    assert (got.balance, got.granted) == (12, 12)
    assert await count(db, ledger.deliveries) == 5  # every delivery is kept, raw
    assert server.published == [(EMAIL, 12)]
    assert server.support == [(EMAIL, "1234", 12)]
    [request] = await ledger.pending_support_requests(db)
    assert request.note == "Order #1234: 12 support sessions"
    assert await ledger.claim_support_request(db, request.id, 1)
    assert not await ledger.claim_support_request(db, request.id, 2)


async def test_raw_body_is_stored_byte_for_byte(client: httpx.AsyncClient, db: AsyncEngine) -> None:
    body = order_body()
    await deliver(client, body)
    async with db.connect() as conn:
        row = (await conn.execute(sa.select(ledger.deliveries))).one()
    assert (row.body, row.topic, row.outcome) == (body, "order.updated", "applied")


async def test_updated_before_created(client: httpx.AsyncClient, db: AsyncEngine) -> None:
    created = (DATA / "order_1234_pending_created.json").read_bytes()
    assert (await deliver(client, order_body(), "order.updated")).json()["outcome"] == "applied"
    late = await deliver(client, created, "order.created")
    assert (late.status_code, late.json()["outcome"]) == (200, "stale")
    assert (await balance(db)).balance == 12


async def test_processing_then_completed_grants_once(
    client: httpx.AsyncClient, db: AsyncEngine
) -> None:
    created = (DATA / "order_1234_pending_created.json").read_bytes()
    await deliver(client, created, "order.created")
    assert (await balance(db)).balance == 0  # pending: not paid yet
    await deliver(client, order_body())
    await deliver(
        client,
        order_body(status="completed", date_modified_gmt="2024-05-03T08:00:00"),
    )
    got = await balance(db)
    assert (got.balance, got.granted) == (12, 12)


async def test_refund_after_some_credits_were_used(
    client: httpx.AsyncClient, db: AsyncEngine, server: Server
) -> None:
    await deliver(client, order_body())
    for i in range(9):
        result = await ledger.debit_for_conversation(db, f"conv-{i}", EMAIL, 1)
        assert result.status == ledger.DebitStatus.CHARGED

    refunded = order_body(status="refunded", date_modified_gmt="2024-05-04T08:00:00")
    response = await deliver(client, refunded)
    assert response.json()["reversed"] == 3
    got = await balance(db)
    assert (got.balance, got.used, got.reversed) == (0, 9, 3)  # used stays used
    assert [f["kind"] for f in await ledger.open_flags(db)] == ["refund_of_used_credits"]
    assert server.published[-1] == (EMAIL, 0)

    # Credits bought later are not clawed back by a replay of the refund.
    await ledger.grant(db, EMAIL, 5, key="admin:later", now_ms=2)
    again = await deliver(client, refunded)
    assert (again.json()["reversed"], (await balance(db)).balance) == (0, 5)
    assert len(await ledger.open_flags(db)) == 1


async def test_cancelled_before_use_reverses_everything(
    client: httpx.AsyncClient, db: AsyncEngine
) -> None:
    await deliver(client, order_body())
    await deliver(client, order_body(status="cancelled", date_modified_gmt="2024-05-04T08:00:00"))
    got = await balance(db)
    assert (got.balance, got.granted, got.reversed) == (0, 12, 12)
    assert await ledger.open_flags(db) == []


async def test_refund_arriving_before_the_grant_it_reverses(
    client: httpx.AsyncClient, db: AsyncEngine
) -> None:
    await deliver(client, order_body(status="refunded", date_modified_gmt="2024-05-04T08:00:00"))
    await deliver(client, order_body())  # older: stale
    assert (await balance(db)).granted == 0


async def test_partial_refund_is_flagged_for_an_admin(
    client: httpx.AsyncClient, db: AsyncEngine
) -> None:
    partial = order_body(
        status="completed",
        refunds=[{"id": 901, "reason": "one session unused", "total": "-15.00"}],
        date_modified_gmt="2024-05-04T08:00:00",
    )
    await deliver(client, order_body())
    for _ in range(2):
        response = await deliver(client, partial)
    assert (await balance(db)).balance == 12  # not guessed
    flags = await ledger.open_flags(db)
    assert [(f["kind"], f["wc_order_id"]) for f in flags] == [("partial_refund", 1234)]
    assert "-15.00" in flags[0]["detail"]
    assert response.status_code == 200


@pytest.mark.parametrize("damage", ["tampered", "missing", "wrong_secret"])
async def test_bad_signature_is_401_and_leaves_no_trace(
    client: httpx.AsyncClient, db: AsyncEngine, damage: str
) -> None:
    body = order_body()
    signature: str | None = woocommerce.sign(SECRET, body)
    if damage == "tampered":
        tampered = bytearray(body)
        tampered[body.index(b'"quantity": 2') + len('"quantity": ')] = ord("9")
        body = bytes(tampered)
    elif damage == "missing":
        signature = None
    else:
        signature = woocommerce.sign("not-the-secret", body)
    response = await deliver(client, body, signature=signature)
    assert response.status_code == 401
    assert await count(db, ledger.entries) == 0
    assert await count(db, ledger.deliveries) == 0


async def test_malformed_json_is_400(client: httpx.AsyncClient, db: AsyncEngine) -> None:
    response = await deliver(client, b'{"id": 1234, "status": "processing", ')
    assert response.status_code == 400
    assert await count(db, ledger.entries) == 0
    assert [o for _, o in await ledger.delivery_outcomes(db)] == ["malformed"]


async def test_oversized_delivery_is_413_and_leaves_no_trace(
    client: httpx.AsyncClient, db: AsyncEngine
) -> None:
    body = order_body(customer_note="x" * (MAX_WEBHOOK_BYTES + 1))
    response = await deliver(client, body)
    assert (response.status_code, response.json()["error"]) == (413, "too_large")
    assert await count(db, ledger.entries) == 0
    assert await count(db, ledger.deliveries) == 0


async def test_unknown_sku_grants_nothing(client: httpx.AsyncClient, db: AsyncEngine) -> None:
    body = (DATA / "order_1300_unknown_sku.json").read_bytes()
    response = await deliver(client, body, "order.created")
    assert (response.status_code, response.json()["granted"]) == (200, 0)
    assert await count(db, ledger.entries) == 0
    assert await ledger.pending_support_requests(db) == []


@pytest.mark.parametrize(
    ("source", "topic", "status"),
    [
        ("https://evil.example.com", "order.updated", 403),
        (SHOP, "product.updated", 400),
        (SHOP, "action.woocommerce_order_status_completed", 400),
    ],
)
async def test_wrong_source_or_topic_moves_no_money(
    client: httpx.AsyncClient, db: AsyncEngine, source: str, topic: str, status: int
) -> None:
    response = await deliver(client, order_body(), topic, source=source)
    assert response.status_code == status
    assert await count(db, ledger.entries) == 0


async def test_source_with_trailing_slash_is_the_same_shop(
    client: httpx.AsyncClient, db: AsyncEngine
) -> None:
    assert (await deliver(client, order_body(), source=SHOP + "/")).status_code == 200
    assert (await balance(db)).balance == 12


async def test_deleted_order_is_flagged_and_moves_no_money(
    client: httpx.AsyncClient, db: AsyncEngine
) -> None:
    await deliver(client, order_body())
    response = await deliver(client, b'{"id": 1234}', "order.deleted")
    assert response.status_code == 200
    assert (await balance(db)).balance == 12
    assert [f["kind"] for f in await ledger.open_flags(db)] == ["order_deleted"]


def test_webhook_is_off_without_a_secret(tmp_path: Path) -> None:
    with serve(_settings(tmp_path, woocommerce_secret=None)) as running:
        response = httpx.post(
            running.base_url + "/integrations/woocommerce/webhook", content=b"{}", timeout=10
        )
    assert response.status_code == 404


# --- the admin API -------------------------------------------------------------------------


@dataclass
class FakePrincipal:
    email: str
    csrf: str = "test-csrf"


@pytest.fixture
def fake_auth(monkeypatch: pytest.MonkeyPatch) -> None:
    """Stands in for the hub's session auth: the role comes from a test header."""
    import chatserver.live.auth

    async def require_role(conn: HTTPConnection, *roles: str) -> FakePrincipal:
        role = conn.headers.get("x-test-role")
        if role is None:
            raise HTTPException(401, "log in first")
        if role not in roles:
            raise HTTPException(403, "your role may not do this")
        return FakePrincipal(email="boss@example.com")

    monkeypatch.setattr(chatserver.live.auth, "require_role", require_role)


ADMIN = {"x-test-role": "admin", "x-csrf-token": "test-csrf"}


@pytest.mark.usefixtures("fake_auth")
async def test_admin_grant_adjust_show_and_export(
    client: httpx.AsyncClient, server: Server
) -> None:
    url = "/api/credits/Ada.Lovelace@Example.com"
    grant = {"amount": 5, "reason": "goodwill", "action_id": "a-1"}
    first = await client.post(url + "/grant", json=grant, headers=ADMIN)
    replay = await client.post(url + "/grant", json=grant, headers=ADMIN)
    assert (first.status_code, replay.status_code) == (201, 200)
    assert replay.json()["entry"]["id"] == first.json()["entry"]["id"]
    assert first.json()["entry"]["actor"] == "boss@example.com"

    too_much = {"amount": -6, "reason": "typo", "action_id": "a-2"}
    assert (await client.post(url + "/adjust", json=too_much, headers=ADMIN)).status_code == 409
    fix = {"amount": -2, "reason": "typo", "action_id": "a-3"}
    assert (await client.post(url + "/adjust", json=fix, headers=ADMIN)).json()["balance"] == 3
    reuse = {"amount": 9, "reason": "", "action_id": "a-1"}
    assert (await client.post(url + "/grant", json=reuse, headers=ADMIN)).status_code == 409

    shown = (await client.get(url, headers=ADMIN)).json()
    assert (shown["balance"], shown["granted"], shown["adjusted"]) == (3, 5, -2)
    assert [e["idempotency_key"] for e in shown["history"]] == ["admin:a-3", "admin:a-1"]
    assert server.published == [(EMAIL, 5), (EMAIL, 3)]

    export = await client.get("/api/credits/export.csv", headers=ADMIN)
    assert export.status_code == 200
    lines = export.text.strip().splitlines()
    assert lines[0].startswith("id,customer_email,kind,amount,idempotency_key")
    assert len(lines) == 3 and "admin:a-1" in lines[1]


@pytest.mark.usefixtures("fake_auth")
@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({"amount": 0, "action_id": "z"}, 400),
        ({"amount": -1, "action_id": "z"}, 400),
        ({"amount": "5", "action_id": "z"}, 400),
        ({"amount": True, "action_id": "z"}, 400),
        ({"amount": 5}, 400),
        ([5], 400),
    ],
)
async def test_admin_grant_validates(client: httpx.AsyncClient, body: Any, status: int) -> None:
    response = await client.post("/api/credits/a@b.example/grant", json=body, headers=ADMIN)
    assert response.status_code == status


@pytest.mark.usefixtures("fake_auth")
async def test_admin_grant_refuses_a_huge_or_non_json_body_and_moves_nothing(
    client: httpx.AsyncClient, db: AsyncEngine
) -> None:
    url = "/api/credits/a@b.example/grant"
    huge = {"amount": 5, "reason": "r" * (MAX_BODY + 1), "action_id": "big"}
    too_large = await client.post(url, json=huge, headers=ADMIN)
    assert (too_large.status_code, too_large.json()["error"]) == (413, "too_large")
    not_json = await client.post(
        url, content=b"amount=5", headers={**ADMIN, "content-type": "application/json"}
    )
    assert (not_json.status_code, not_json.json()["error"]) == (400, "invalid_json")
    assert await count(db, ledger.entries) == 0


@pytest.mark.usefixtures("fake_auth")
async def test_admin_api_needs_the_admin_role(client: httpx.AsyncClient, db: AsyncEngine) -> None:
    grant = {"amount": 5, "reason": "", "action_id": "x"}
    url = "/api/credits/a@b.example/grant"
    assert (await client.post(url, json=grant)).status_code == 401
    assert (await client.post(url, json=grant, headers={"x-test-role": "agent"})).status_code == 403
    assert (await client.get("/api/credits/export.csv")).status_code == 401
    # A form post (what a cross-site page can send without preflight) is refused.
    form = await client.post(url, data={"amount": "5"}, headers=ADMIN)
    assert form.status_code == 415
    assert await count(db, ledger.entries) == 0


@pytest.mark.usefixtures("fake_auth")
async def test_export_csv_neutralises_formulas_in_emails_and_reasons_as_the_report_does(
    client: httpx.AsyncClient,
) -> None:
    import csv
    import io

    from chatserver.core import reports
    from chatserver.core.spreadsheet import safe_cell

    evil = '=hyperlink("evil.example";"x")@evil.example'
    reasons = ["@SUM(1+1)", "+1", "-2+3", "\tcmd", "\rcmd", "plain"]
    for i, reason in enumerate(reasons):
        body = {"amount": 2, "reason": reason, "action_id": f"f-{i}"}
        response = await client.post(f"/api/credits/{evil}/grant", json=body, headers=ADMIN)
        assert response.status_code == 201
    fix = {"amount": -1, "reason": "=1+1", "action_id": "f-fix"}
    assert (await client.post(f"/api/credits/{evil}/adjust", json=fix, headers=ADMIN)).is_success

    export = await client.get("/api/credits/export.csv", headers=ADMIN)
    rows = list(csv.DictReader(io.StringIO(export.text)))
    assert {row["customer_email"] for row in rows} == {"'" + evil}
    assert reports.safe_cell is safe_cell  # the daily report applies the very same rule
    expected = [safe_cell(r) for r in reasons] + ["'=1+1"]
    assert [row["reason"] for row in rows] == expected
    assert expected[:5] == ["'@SUM(1+1)", "'+1", "'-2+3", "'\tcmd", "'\rcmd"]
    # Numbers stay numbers: a negative amount is not a formula to neutralise.
    assert [row["amount"] for row in rows][-1] == "-1"


@pytest.mark.usefixtures("fake_auth")
async def test_admin_grants_near_2_to_the_62_are_refused_with_a_clear_400(
    client: httpx.AsyncClient, db: AsyncEngine
) -> None:
    url = "/api/credits/a@b.example"
    for i in range(2):
        body = {"amount": 2**62 + i, "reason": "", "action_id": f"huge-{i}"}
        response = await client.post(url + "/grant", json=body, headers=ADMIN)
        assert (response.status_code, response.json()["error"]) == (400, "invalid_field")
        assert "at most" in response.json()["detail"]
    assert await count(db, ledger.entries) == 0
    shown = await client.get(url, headers=ADMIN)  # the customer stays readable
    assert (shown.status_code, shown.json()["balance"]) == (200, 0)


async def test_an_order_of_10_to_the_12_units_is_refused_with_a_422_and_moves_nothing(
    client: httpx.AsyncClient, db: AsyncEngine, server: Server
) -> None:
    items = [dict(item) for item in ORDER["line_items"]]
    items[0]["quantity"] = 10**12
    response = await deliver(client, order_body(line_items=items))
    assert (response.status_code, response.json()["error"]) == (422, "amount_out_of_range")
    assert await count(db, ledger.entries) == 0
    assert [f["kind"] for f in await ledger.open_flags(db)] == ["amount_out_of_range"]
    assert (await ledger.delivery_outcomes(db))[-1][1] == "refused"
    assert server.published == [] and server.support == []
