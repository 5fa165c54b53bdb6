"""The supervisor socket (live board, silent monitoring) and the reports, over the wire."""

from __future__ import annotations

import asyncio
import csv
import io
from collections.abc import Iterator
from pathlib import Path

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from tests.integration.conftest import make_settings, seed_agents
from tests.integration.test_desk_api import chat_with, login, online
from tests.live import Client, LiveServer


@pytest.fixture
def desk(tmp_path: Path) -> Iterator[LiveServer]:
    settings = make_settings(tmp_path)
    seed_agents(settings, ("ana@example.com", "agent", 2), ("sam@example.com", "supervisor", 5))
    live = LiveServer(settings).start()
    try:
        yield live
    finally:
        live.stop()


async def board_socket(server: LiveServer, cookie: str, origin: str | None = None) -> Client:
    ws = await connect(
        f"{server.ws_url}/ws/supervisor",
        subprotocols=["livedesk.v1.json"],  # type: ignore[list-item]
        origin=origin or server.url,  # type: ignore[arg-type]
        additional_headers={"Cookie": f"{server.settings.security.session_cookie}={cookie}"},
        max_size=None,
    )
    return Client(ws, "json")


async def test_only_supervisors_from_our_origin_open_the_board(desk: LiveServer) -> None:
    ana, sam = await login(desk, "ana@example.com"), await login(desk, "sam@example.com")
    with pytest.raises(InvalidStatus) as refused:
        await board_socket(desk, ana.cookie)
    assert refused.value.response.status_code == 403
    with pytest.raises(InvalidStatus):
        await board_socket(desk, sam.cookie, origin="https://evil.example")
    with pytest.raises(InvalidStatus):
        await board_socket(desk, "forged")
    board = await board_socket(desk, sam.cookie)
    first = await board.recv_type("board")
    assert first["full"] is True and "sla" in first and "staffing" in first


async def test_board_pushes_load_changes_within_a_second_and_ticks_steadily(
    desk: LiveServer,
) -> None:
    ana, sam = await login(desk, "ana@example.com"), await login(desk, "sam@example.com")
    agent = await online(desk, ana)
    board = await board_socket(desk, sam.cookie)
    first = await board.recv_type("board", full=True)
    ana_row = next(a for a in first["agents"] if a["id"] == str(ana.me["id"]))
    assert (ana_row["status"], ana_row["load"], ana_row["cap"]) == ("online", 0, 2)
    _, conv_id = await chat_with(desk, agent)
    loop = asyncio.get_running_loop()
    assigned_at = loop.time()
    frame = await board.recv_until(
        lambda f: any(a["id"] == str(ana.me["id"]) and a["load"] == 1 for a in f.get("agents", [])),
        timeout=3,
    )
    assert loop.time() - assigned_at <= 1.2
    row = next(a for a in frame["agents"] if a["id"] == str(ana.me["id"]))
    assert row["chats"] == [conv_id]
    # At least one frame a second even when nothing changes, each small.
    started = loop.time()
    quiet = [await board.recv_type("board", timeout=2) for _ in range(3)]
    assert loop.time() - started <= 3.5
    assert all(f["full"] is False for f in quiet)


async def test_silent_monitoring_replays_then_follows_without_a_trace(desk: LiveServer) -> None:
    ana, sam = await login(desk, "ana@example.com"), await login(desk, "sam@example.com")
    agent = await online(desk, ana)
    visitor, conv_id = await chat_with(desk, agent, text="first words")
    board = await board_socket(desk, sam.cookie)
    await board.send({"type": "watch", "conversation_id": conv_id, "after_seq": 0})
    replayed = await board.recv_type("message", conversation_id=conv_id)
    assert replayed["text"] == "first words"
    assert (await board.recv_type("watching"))["conversation_id"] == conv_id
    await visitor.send_text("live words")
    live = await board.recv_type("message", text="live words")
    assert live["author"] == "visitor"
    # The watcher leaves no read receipt and did not become anyone's agent.
    conv = await desk.app.state.store.get_conversation(conv_id)
    assert conv is not None and conv.agent_id == ana.me["id"] and conv.agent_seen_seq == 0
    await board.send({"type": "watch", "conversation_id": "nope", "after_seq": 0})
    assert (await board.recv_type("error"))["code"] == "forbidden"
    await board.send({"type": "send", "conversation_id": conv_id, "text": "x"})
    assert (await board.recv_type("error"))["code"] == "unknown_type"


async def test_reports_csv_tags_and_trend(desk: LiveServer) -> None:
    ana, sam = await login(desk, "ana@example.com"), await login(desk, "sam@example.com")
    agent = await online(desk, ana)
    _, conv_id = await chat_with(desk, agent)
    await agent.send_text("On its way.", conversation_id=conv_id)
    closed = await ana.post(
        f"/api/desk/conversations/{conv_id}/close", {"tags": ["=shipping"], "outcome": "resolved"}
    )
    assert closed.status_code == 200
    export = await sam.get("/api/desk/reports/daily.csv")
    assert export.status_code == 200 and export.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(export.text)))
    row = next(r for r in rows if r["conversation_id"] == conv_id)
    assert row["tags"] == "'=shipping"  # formula injection neutralised
    assert row["outcome"] == "resolved" and row["agent_name"] == "Ana" and row["abandoned"] == "no"
    assert float(row["first_response_s"]) >= 0
    tags = (await sam.get("/api/desk/reports/tags")).json()["tags"]
    assert tags[0]["tag"] == "=shipping" and tags[0]["conversations"] == 1
    trend = (await sam.get("/api/desk/reports/trend")).json()["days"]
    assert len(trend) == 14 and trend[-1]["closed"] == 1
    assert (
        await sam.get("/api/desk/reports/trend?from=2026-01-02&to=2026-01-01")
    ).status_code == 400
    board = (await sam.get("/api/desk/board")).json()
    today = board["sla"]["today"]
    assert today["conversations"] >= 1 and today["answered"] == 1 and today["within_target"] == 1.0
