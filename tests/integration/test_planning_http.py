"""The supervisor's look-ahead over HTTP and the board socket, on stored histories of a known
shape: the forecast beside what arrived, the plan and its CSV, the measured cap curves and
accepting a cap, and the early warning pushed to supervisors."""

from __future__ import annotations

import csv
import io
import math
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from chatserver.core.settings import Settings
from tests.history import Chat, store_history, weekly_history, write_history
from tests.integration.conftest import BACKENDS, Backend, make_settings, seed_agents
from tests.integration.test_desk_api import login, online
from tests.integration.test_desk_supervisor import board_socket
from tests.live import LiveServer, connect_visitor

DAY_MS = 86_400_000
FAST_S, SLOW_S = 10, 120  # replies at up to 3 chats, and beyond (target 60 s)


def cap_history(agent_id: int, now_ms: int) -> list[Chat]:
    """For k = 1..5 the agent holds k chats at once for a few hours, a day apart; each chat
    is a run of exchanges answered in FAST_S seconds at up to three chats, SLOW_S beyond."""
    chats: list[Chat] = []
    for k in range(1, 6):
        start = now_ms - (k + 1) * DAY_MS
        exchanges = math.ceil(40 / k)
        for i in range(k):
            texts: list[tuple[str, int]] = []
            for j in range(exchanges):
                asked = start + 60_000 + j * 300_000 + i * 1000
                texts.append(("visitor", asked))
                texts.append(("agent", asked + 1000 * (FAST_S if k <= 3 else SLOW_S)))
            chats.append(
                Chat(
                    created_ms=start - 1000,
                    agent_id=agent_id,
                    assigned_ms=start + i,
                    closed_ms=start + exchanges * 300_000 + 120_000,
                    csat=5,
                    texts=texts,
                )
            )
    return chats


def start_desk(settings: Settings) -> LiveServer:
    seed_agents(settings, ("ana@example.com", "agent", 5), ("sam@example.com", "supervisor", 5))
    now = int(time.time() * 1000)
    today = datetime.now(UTC).date()
    history = weekly_history("UTC", 21, today, per_weekday=6, per_weekend=1)
    # What arrived today so far, beside the forecast.
    history += [Chat(created_ms=now - 2000 - i) for i in range(3)]
    write_history(settings, history + cap_history(1, now))
    live = LiveServer(settings).start()
    # When today's three arrived: the interval to find them in, even when the clock has
    # crossed into the next half hour since.
    live.arrived_s = (now - 2000) / 1000  # type: ignore[attr-defined]
    return live


@pytest.fixture
def desk(backend: Backend) -> Iterator[LiveServer]:
    """On both backend sets: the reads behind the look-ahead are plain SQL on either."""
    live = start_desk(backend.settings())
    try:
        yield live
    finally:
        live.stop()


@pytest.mark.parametrize("backend", BACKENDS, indirect=True)
async def test_forecast_shows_what_arrived_and_plans_against_agents_online(
    desk: LiveServer,
) -> None:
    sam, ana = await login(desk, "sam@example.com"), await login(desk, "ana@example.com")
    assert (await ana.get("/api/desk/forecast")).status_code == 403
    await online(desk, ana)
    got = await sam.get("/api/desk/forecast?days=2")
    assert got.status_code == 200, got.text
    body = got.json()
    intervals = body["intervals"]
    arrived = desk.arrived_s  # type: ignore[attr-defined]
    theirs = [
        iv
        for iv in intervals
        if datetime.fromisoformat(iv["start"]).timestamp()
        <= arrived
        < datetime.fromisoformat(iv["start"]).timestamp() + 1800
    ]
    assert len(theirs) == 1 and theirs[0]["actual"] == 3
    # Past intervals of today carry a count, future ones none.
    assert intervals[0]["actual"] is not None and intervals[-1]["actual"] is None
    assert body["online"] == 1 and body["cap"] == 5
    plan = body["plan"]
    assert plan and all(row["scheduled"] == 1 for row in plan)
    tomorrow = datetime.now(UTC).date() + timedelta(days=1)
    if tomorrow.weekday() < 5:
        ten = next(row for row in plan if row["start"].startswith(f"{tomorrow.isoformat()}T10:00"))
        assert ten["expected"] > 4 and ten["needed"] >= 1
        assert ten["service_level"] >= body["target_share"]

    csv_got = await sam.get("/api/desk/staffing.csv?days=1")
    assert csv_got.status_code == 200
    assert csv_got.headers["content-type"].startswith("text/csv")
    assert "attachment" in csv_got.headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(csv_got.text)))
    assert rows and {r["agents_scheduled"] for r in rows} == {"1"}
    assert (await ana.get("/api/desk/staffing.csv")).status_code == 403
    assert (await sam.get("/api/desk/forecast?days=99")).status_code == 400


@pytest.mark.parametrize("backend", BACKENDS, indirect=True)
async def test_measured_cap_is_the_last_level_replies_stay_on_time_and_applies_on_accept(
    desk: LiveServer,
) -> None:
    sam, ana = await login(desk, "sam@example.com"), await login(desk, "ana@example.com")
    report = (await sam.get("/api/desk/caps")).json()
    overall = report["overall"]
    assert overall["recommended_cap"] == 3, overall["reason"]
    assert "4 chats" in overall["reason"]
    levels = {lv["concurrency"]: lv for lv in overall["levels"]}
    assert levels[2]["response_p90_s"] == FAST_S and levels[5]["response_p90_s"] == SLOW_S
    assert levels[3]["csat_mean"] == 5.0
    [mine] = [a for a in report["agents"] if a["agent_id"] == ana.me["id"]]
    assert mine["recommended_cap"] == 3 and mine["name"] == "Ana"

    await online(desk, ana)
    path = "/api/desk/caps/apply"
    body = {"cap": 3, "agent_ids": [ana.me["id"]]}
    assert (await sam.post(path, body, csrf=None)).status_code == 403
    assert (await ana.post(path, body)).status_code == 403  # agents may not
    assert (await sam.post(path, {"cap": 11, "agent_ids": [ana.me["id"]]})).status_code == 400
    done = await sam.post(path, body)
    assert done.status_code == 200 and done.json()["agents"] == [ana.me["id"]]
    listed = (await sam.get("/api/desk/agents")).json()["agents"]
    assert [a["cap"] for a in listed if a["id"] == ana.me["id"]] == [3]  # stored
    live = {int(a.id): a for a in desk.app.state.dispatch.snapshot().agents}
    assert live[ana.me["id"]].cap == 3


@pytest.fixture
def quick_warnings(tmp_path: Path) -> Iterator[LiveServer]:
    live = start_desk(make_settings(tmp_path, breach_repeat_s=1.0))
    try:
        yield live
    finally:
        live.stop()


async def test_chats_arriving_with_nobody_online_warn_supervisors_on_their_channel(
    quick_warnings: LiveServer,
) -> None:
    desk = quick_warnings
    sam = await login(desk, "sam@example.com")
    board = await board_socket(desk, sam.cookie)
    first = await board.recv_type("board", full=True)
    # Three chats this last hour and nobody online: the wait is already past target.
    assert first["breach"] is not None and first["breach"]["agents_now"] == 0
    visitor, _ = await connect_visitor(desk, codec="json")
    await visitor.recv_type("welcome")
    await visitor.send_text("is anyone there?")
    warning = await board.recv_type("breach_warning", timeout=15)
    assert warning["minutes_to_breach"] == 0 and warning["agents_now"] == 0
    assert warning["more_agents"] >= 1 and warning["agents_needed"] == warning["more_agents"]
    assert warning["arrivals_per_hour"] >= 3

    # Enough agents online and the warning goes away.
    ana = await login(desk, "ana@example.com")
    await online(desk, ana)
    cleared = await board.recv_until(
        lambda f: f.get("type") == "board" and "breach" in f and f["breach"] is None, timeout=15
    )
    assert cleared["staffing"]["online"] == 1


@pytest.fixture
def adaptive(tmp_path: Path) -> Iterator[LiveServer]:
    live = start_desk(make_settings(tmp_path, adaptive_cap=True))
    try:
        yield live
    finally:
        live.stop()


async def test_adaptive_mode_lowers_the_routers_cap_while_replies_are_slow(
    adaptive: LiveServer,
) -> None:
    desk = adaptive
    sam, ana = await login(desk, "sam@example.com"), await login(desk, "ana@example.com")
    await online(desk, ana)
    board = await board_socket(desk, sam.cookie)
    await board.recv_type("board", full=True)
    now = int(time.time() * 1000)
    # A reply stored now, 200 s after the visitor wrote: well past the 60 s reply target.
    slow = Chat(
        created_ms=now - 300_000,
        agent_id=ana.me["id"],
        assigned_ms=now - 290_000,
        closed_ms=now + 1000,
        texts=[("visitor", now - 200_000), ("agent", now)],
    )
    await store_history(desk.settings, [slow])
    lowered = await board.recv_until(
        # Socket frames carry ids as strings (docs/protocol.md); /api/me gives a number.
        lambda f: any(a["id"] == str(ana.me["id"]) and a["cap"] == 4 for a in f.get("agents", [])),
        timeout=15,
    )
    assert lowered["type"] == "board"
    listed = (await sam.get("/api/desk/agents")).json()["agents"]
    assert [a["cap"] for a in listed if a["id"] == ana.me["id"]] == [5]  # the stored cap stays


async def put_roster(sam: Any, text: str, *, csrf: bool = True, team: str = "") -> httpx.Response:
    headers = {**sam.headers, "content-type": "text/csv"}
    if csrf:
        headers["x-csrf-token"] = sam.csrf
    query = f"?team={team}" if team else ""
    async with httpx.AsyncClient(base_url=sam.server.url) as http:
        return await http.put(f"/api/desk/roster{query}", content=text, headers=headers)


@pytest.mark.parametrize("backend", BACKENDS, indirect=True)
async def test_the_plan_compares_with_the_stored_roster_where_it_has_the_interval(
    desk: LiveServer,
) -> None:
    sam, ana = await login(desk, "sam@example.com"), await login(desk, "ana@example.com")
    await online(desk, ana)
    before = (await sam.get("/api/desk/forecast?days=2")).json()
    assert before["rostered"] == 0
    # Three intervals after the current one (a boundary passing mid-test moves none of them).
    chosen = [row["start"] for row in before["plan"][1:4]]
    roster = "start,agents\n" + "".join(
        f"{start},{n}\n" for start, n in zip(chosen, (7, 0, 4), strict=True)
    )
    assert (await put_roster(sam, roster, csrf=False)).status_code == 403
    assert (await put_roster(ana, roster)).status_code == 403
    refused = await put_roster(sam, "start,agents\n2026-12-07T10:15:00+00:00,3\n")
    assert refused.status_code == 400 and "line 2" in refused.text
    stored = await put_roster(sam, roster)
    assert stored.status_code == 200, stored.text
    assert stored.json()["intervals"] == 3

    after = (await sam.get("/api/desk/forecast?days=2")).json()
    by_start = {row["start"]: row for row in after["plan"]}
    assert [by_start[s]["scheduled"] for s in chosen] == [7, 0, 4]
    assert by_start[chosen[1]]["short"] == by_start[chosen[1]]["needed"]
    others = [row["scheduled"] for s, row in by_start.items() if s not in chosen]
    assert set(others) == {1}  # no roster there: the agent online now
    assert after["rostered"] == 3

    # The plan's own export, filled in, uploads as it is; it replaces only what it lists.
    export = (await sam.get("/api/desk/staffing.csv?days=1")).text
    rows = list(csv.DictReader(io.StringIO(export)))
    chosen_at = {datetime.fromisoformat(s) for s in chosen}

    def at(row: dict[str, str]) -> datetime:
        return datetime.strptime(row["start_utc"], "%Y-%m-%dT%H:%MZ").replace(tzinfo=UTC)

    target = next(r for r in rows if at(r) not in chosen_at)
    filled = io.StringIO()
    writer = csv.DictWriter(filled, fieldnames=list(rows[0]))
    writer.writeheader()
    writer.writerow({**target, "agents_scheduled": "9"})
    writer.writerow({**rows[-1], "agents_scheduled": ""})  # left blank: not stored
    assert (await put_roster(sam, filled.getvalue())).status_code == 200
    listed = (await sam.get("/api/desk/roster?days=2")).json()["slots"]
    agents = {datetime.fromisoformat(s["start"]): s["agents"] for s in listed}
    assert agents == {**dict(zip(sorted(chosen_at), (7, 0, 4), strict=True)), at(target): 9}
    # Another team's roster is its own.
    assert (await sam.get("/api/desk/roster?team=sales")).json()["slots"] == []


@pytest.mark.parametrize("backend", BACKENDS, indirect=True)
async def test_an_accepted_cap_is_recorded_with_who_when_and_before_and_after(
    desk: LiveServer,
) -> None:
    sam, ana = await login(desk, "sam@example.com"), await login(desk, "ana@example.com")
    path = "/api/desk/caps/apply"
    bad = {"cap": 3, "agent_ids": [ana.me["id"]], "recommended": 99}
    assert (await sam.post(path, bad)).status_code == 400
    assert (await sam.get("/api/desk/caps/audit")).json()["entries"] == []  # nothing half-done
    t0 = time.time()
    done = await sam.post(path, {"cap": 3, "agent_ids": [ana.me["id"]], "recommended": 3})
    assert done.status_code == 200, done.text
    assert done.json()["changed"] == [{"agent_id": ana.me["id"], "before": 5, "after": 3}]
    await sam.post(path, {"cap": 4, "agent_ids": [ana.me["id"]]})
    assert (await ana.get("/api/desk/caps/audit")).status_code == 403
    latest, first = (await sam.get("/api/desk/caps/audit")).json()["entries"]
    assert (latest["before"], latest["after"], latest["recommended"]) == (3, 4, None)
    assert (first["before"], first["after"], first["recommended"]) == (5, 3, 3)
    assert first["agent_name"] == "Ana" and first["agent_id"] == ana.me["id"]
    assert first["actor"] == "sam@example.com" and first["actor_id"] == sam.me["id"]
    assert first["scope"] == "agents"
    assert t0 - 1 <= datetime.fromisoformat(first["at"]).timestamp() <= time.time() + 1


def closed_day() -> str:
    """A day that is never today (UTC): hours open only then are closed now."""
    return ("mon", "tue", "wed", "thu", "fri", "sat", "sun")[(datetime.now(UTC).weekday() + 3) % 7]


@pytest.fixture(params=["desk_closed", "team_open"])
def closed_desk(
    request: pytest.FixtureRequest, tmp_path: Path
) -> Iterator[tuple[LiveServer, bool]]:
    team_open = request.param == "team_open"
    team_hours = {"billing": {"hours": "mon-sun 00:00-23:59"}} if team_open else {}
    settings = make_settings(
        tmp_path,
        business_hours=f"{closed_day()} 03:00-03:01",
        timezone="UTC",
        team_hours=team_hours,
    )
    live = start_desk(settings)
    try:
        yield live, team_open
    finally:
        live.stop()


async def test_the_early_warning_follows_the_teams_hours_not_only_the_desks(
    closed_desk: tuple[LiveServer, bool],
) -> None:
    # The desk's own hours are closed; with a team open, its chats still wait for a person.
    desk, team_open = closed_desk
    sam = await login(desk, "sam@example.com")
    board = await board_socket(desk, sam.cookie)
    first = await board.recv_type("board", full=True)
    if team_open:
        assert first["breach"] is not None and first["breach"]["agents_now"] == 0
    else:
        assert first["breach"] is None  # the bot holds everything: no wait to warn of
