"""The supervisor's live board: one task builds the state once a second and pushes it,
encoded once, to every dashboard socket; the heavier service-level figures are refreshed
every few seconds; a ring buffer keeps the chart series.

Each tick sends only the agents whose row changed, so an idle floor costs a few hundred
bytes a second per dashboard however many agents there are.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from chatserver.backends import desk_queries as q
from chatserver.backends.bus import SUPERVISORS_CHANNEL
from chatserver.backends.store import now_ms
from chatserver.core import reports
from chatserver.core.protocol import OutFrame
from chatserver.live.connection import Connection
from chatserver.services import planning
from router.capfit import breach_warning
from router.forecast import INTERVAL_S
from router.staffing import erlang_c_staffing

log = logging.getLogger("livedesk.dashboard")

TICK_S = 1.0
# A stored event (assignment, close, transfer) brings the next tick forward, but never
# closer than this to the last one: prompt on a quiet floor, bounded on a busy one.
MIN_GAP_S = 0.25
SLA_EVERY_S = 5.0
SAMPLE_EVERY_S = 5.0
HISTORY_S = 6 * 3600
# The forecast behind the early warning is refitted this often (a fit reads weeks of rows).
FORECAST_EVERY_S = 600.0
# Replies the adaptive mode reads back, to find the visitor text each one answered.
ADAPTIVE_LOOKBACK_MS = 3600 * 1000
BREACH_FRAME = "breach_warning"


@dataclass(slots=True)
class Sample:
    ts: int
    queued: int
    load: float  # chats held, all agents
    capacity: int  # seats of online agents
    oldest_wait_s: float


def agent_row(a: Any) -> dict[str, Any]:
    return {
        "id": str(a.id),  # ids on the wire are strings
        "name": a.name,
        "status": a.status,
        "connected": a.connected,
        "load": a.load,
        "cap": a.cap,
        "chats": list(a.chats),
        "teams": sorted(a.teams),
        "languages": sorted(a.languages),
        "cap_warning": a.cap_warning,
    }


def _keyed(counts: dict[str | None, int]) -> dict[str, int]:
    return {(k or "-"): v for k, v in counts.items()}


class Board:
    def __init__(self, state: Any) -> None:
        self.state = state
        settings = state.settings
        self.target_s: float = settings.dashboard.sla_target_s
        self.target_share: float = settings.dashboard.sla_target_share
        self.mail_target_s: float = settings.mail.mail_sla_target_s
        self.subscribers: set[Connection] = set()
        self.history: deque[Sample] = deque(maxlen=int(HISTORY_S / SAMPLE_EVERY_S))
        self._agents: dict[str, dict[str, Any]] = {}
        self._last_queue: dict[str, Any] = {}
        self._slow: dict[str, Any] = {}
        self._slow_at = 0.0
        self._sample_at = 0.0
        self._task: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()
        self._waker: _Waker | None = None
        self.ticks = 0
        self._forecast: planning.LoadForecast | None = None
        self._forecast_at = -FORECAST_EVERY_S
        self.breach: dict[str, Any] | None = None
        self._breach_sent: tuple[int, float] | None = None  # (agents needed, when)
        self.adaptive = planning.AdaptiveCaps(settings.dashboard.reply_target_s, now_ms())

    # ------------------------------------------------------------------ lifecycle

    def ensure_started(self) -> None:
        if self._task is None or self._task.done():
            self._wake = asyncio.Event()
            self._task = asyncio.create_task(self._run(), name="livedesk-dashboard")
            # The hub publishes every stored event on the supervisors' channel; hearing
            # one only wakes the board early, so its frames are never relayed as such.
            self._waker = _Waker(self._wake, self.subscribers)
            self.state.hub.join(self._waker, SUPERVISORS_CHANNEL)

    async def stop(self) -> None:
        if self._waker is not None:
            self.state.hub.leave(self._waker, SUPERVISORS_CHANNEL)
            self._waker = None
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _run(self) -> None:
        while True:
            started = time.monotonic()
            self._wake.clear()
            try:
                await self.tick()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("dashboard tick failed")
            await asyncio.sleep(max(0.0, MIN_GAP_S - (time.monotonic() - started)))
            left = TICK_S - (time.monotonic() - started)
            if left > 0:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), left)

    # ------------------------------------------------------------------ state

    async def tick(self, *, fresh_figures: bool = False) -> None:
        self.ticks += 1
        clock = time.monotonic()
        sample_due = clock - self._sample_at >= SAMPLE_EVERY_S
        if not (self.subscribers or fresh_figures or sample_due):
            # Nobody watches: only the chart's samples are kept. A new dashboard's first
            # tick (``full_frame``) builds the rows afresh.
            return
        # The service levels read the day's texts: only worth it while someone watches (a
        # new dashboard asks for fresh ones), not on every tick of a busy, unwatched hub.
        stale = clock - self._slow_at >= SLA_EVERY_S or not self._slow
        if fresh_figures or (stale and self.subscribers):
            self._slow_at = clock
            self._slow = await self.slow_figures()
            slow_changed = True
        else:
            slow_changed = False
        snap = self.state.dispatch.snapshot()
        rows = {str(a.id): agent_row(a) for a in snap.agents}
        changed = [r for i, r in rows.items() if self._agents.get(i) != r]
        removed = [i for i in self._agents if i not in rows]
        self._agents = rows
        self._last_queue = self._queue(snap)
        point = None
        if sample_due:
            self._sample_at = clock
            sample = self._sample(snap, rows)
            self.history.append(sample)
            point = _point(sample)
        if not self.subscribers:
            return
        body: dict[str, Any] = {
            "type": "board",
            "ts": now_ms(),
            "full": False,
            "agents": changed,
            "removed": removed,
            "queue": self._last_queue,
        }
        if slow_changed:
            body.update(self._slow)
        if point is not None:
            body["point"] = point
        frame = OutFrame(body)
        for conn in tuple(self.subscribers):
            conn.push(frame)

    async def full_frame(self) -> OutFrame:
        """What a dashboard gets on connect: everything, the chart history included. A tick
        first (its differences go to the dashboards already open), so the new one starts
        from the present and the next tick's differences apply to it exactly."""
        await self.tick(fresh_figures=True)
        return OutFrame(
            {
                "type": "board",
                "ts": now_ms(),
                "full": True,
                "agents": list(self._agents.values()),
                "removed": [],
                "queue": self._last_queue,
                **self._slow,
                "series": [_point(s) for s in self.history],
            }
        )

    def _queue(self, snap: Any) -> dict[str, Any]:
        return {
            "length": snap.queued,
            "oldest_wait_s": None if snap.oldest_wait_s is None else round(snap.oldest_wait_s, 1),
            "by_team": _keyed(snap.queued_by_team),
            "by_language": _keyed(snap.queued_by_language),
            "bot_holds": self._slow.get("bot_holds", 0),
        }

    def _sample(self, snap: Any, rows: dict[str, dict[str, Any]]) -> Sample:
        online = [r for r in rows.values() if r["status"] == "online"]
        return Sample(
            ts=now_ms(),
            queued=snap.queued,
            load=sum(r["load"] for r in rows.values()),
            capacity=sum(r["cap"] for r in online),
            oldest_wait_s=round(snap.oldest_wait_s or 0.0, 1),
        )

    async def slow_figures(self) -> dict[str, Any]:
        """Service levels for today and the last hour, credits, bot holds and staffing."""
        now = now_ms()
        day0 = reports.day_start_ms(reports.today_utc(now))
        hour0 = now - reports.HOUR_MS
        since = min(day0, hour0)

        def read(conn: Any) -> tuple[Any, ...]:
            convs = q.conversations_created(conn, since, now + 1)
            texts = q.texts_between(conn, since, now + 1)
            return convs, texts, q.credits_spent(conn, day0), q.held_by_bot(conn)

        convs, texts, credits, bot = await self.state.store.read(read)
        today = reports.service_levels(
            [c for c in convs if c["created_ms"] >= day0],
            [m for m in texts if m["created_ms"] >= day0],
            self.target_s,
            now,
            self.mail_target_s,
        )
        hour_convs = [c for c in convs if c["created_ms"] >= hour0]
        hour = reports.service_levels(
            hour_convs,
            [m for m in texts if m["created_ms"] >= hour0],
            self.target_s,
            now,
            self.mail_target_s,
        )
        hour_rate = len(hour_convs) / 3600.0
        staffing = self.staffing(hour_rate)
        await self._refresh_forecast()
        self.breach = self.early_warning(hour_rate, staffing)
        # One node steps the caps (the routing one), so two nodes never step an agent twice.
        if self.state.settings.dashboard.adaptive_cap and self.state.dispatch.is_leader:
            await self.adapt_caps(now)
        return {
            "sla": {"today": today.as_dict(), "hour": hour.as_dict()},
            "credits_today": credits,
            "bot_holds": bot,
            "staffing": staffing,
            "breach": self.breach,
        }

    # ------------------------------------------------------------------ looking ahead

    async def _refresh_forecast(self) -> None:
        clock = time.monotonic()
        if clock - self._forecast_at < FORECAST_EVERY_S:
            return
        self._forecast_at = clock
        try:
            self._forecast = await planning.load_forecast(
                self.state.store, self.state.settings, now_s=time.time(), days=1
            )
        except planning.NotEnoughHistory:
            self._forecast = None

    def forecast_rate(self, now_s: float) -> float | None:
        """Arrivals a second the forecast expects in the interval now running."""
        if self._forecast is None:
            return None
        for iv in self._forecast.intervals:
            if iv.start <= now_s < iv.start + INTERVAL_S:
                return iv.expected / INTERVAL_S
        return None

    def early_warning(self, hour_rate: float, staffing: dict[str, Any]) -> dict[str, Any] | None:
        """``router.capfit.breach_warning`` on the queue now, at the higher of the forecast's
        rate and the last hour's (a surge the forecast missed still warns); a breach is
        pushed to every node's supervisors, once per change or ``BREACH_REPEAT_S``."""
        settings = self.state.settings
        # The hours as the admins set them (the desk's and every team's): while none is
        # open the bot holds everything, so there is no wait to warn of.
        if not self.state.dispatch.any_open():
            self._breach_sent = None
            return None
        snap = self.state.dispatch.snapshot()
        forecast = self.forecast_rate(time.time())
        rate = max(hour_rate, forecast or 0.0)
        warning = breach_warning(
            queued=snap.queued,
            arrivals_per_s=rate,
            agents=int(staffing["online"]),
            cap=int(staffing["cap"]),
            handle_s=float(staffing["handle_s"]),
            target_wait_s=self.target_s,
            horizon_s=settings.dashboard.breach_horizon_s,
            target_service_level=self.target_share,
        )
        if warning is None:
            self._breach_sent = None
            return None
        body = {
            **warning.as_dict(),
            "more_agents": max(0, warning.agents_needed - warning.agents_now),
            "arrivals_per_hour": round(rate * 3600, 1),
            "rate_from": "forecast" if forecast is not None and forecast >= hour_rate else "hour",
            "target_s": self.target_s,
        }
        clock = time.monotonic()
        last = self._breach_sent
        repeat = last is None or last[0] != warning.agents_needed
        repeat = repeat or (
            last is not None and clock - last[1] >= settings.dashboard.breach_repeat_s
        )
        if repeat and self.state.dispatch.is_leader:
            self._breach_sent = (warning.agents_needed, clock)
            self.state.hub.publish(SUPERVISORS_CHANNEL, {"type": BREACH_FRAME, **body})
        return body

    async def adapt_caps(self, now: int) -> None:
        """The adaptive mode: replies stored since the last look feed each agent's
        ``AdaptiveCap``; a changed effective cap goes to the router (not to the store)."""
        since = min(self.adaptive.seen_ms, now) - ADAPTIVE_LOOKBACK_MS

        def read(conn: Any) -> list[dict[str, Any]]:
            return q.texts_with_authors(conn, since, now + 1)

        texts = await self.state.store.read(read)
        agents = await self.state.store.list_agents()
        caps = {str(a.id): a.cap for a in agents if a.active}
        for agent_id, cap in self.adaptive.observe(texts, caps, time.time()).items():
            log.info("adaptive cap: agent %s now takes %d chats", agent_id, cap)
            await self.state.dispatch.agent_changed(int(agent_id), cap=cap)

    def staffing(self, arrivals_per_s: float) -> dict[str, Any]:
        snap = self.state.dispatch.snapshot()
        caps = sorted(a.cap for a in snap.agents) or [self.state.settings.routing.default_agent_cap]
        cap = max(1, min(10, caps[len(caps) // 2]))
        # The router's prior until it has measured some: one setting, shown and used alike.
        handle_s = snap.mean_handle_s or self.state.settings.routing.default_handle_s
        online = sum(1 for a in snap.agents if a.status == "online")
        base = {
            "arrivals_per_hour": round(arrivals_per_s * 3600, 1),
            "handle_s": round(handle_s, 1),
            "cap": cap,
            "online": online,
            "target_s": self.target_s,
            "target_share": self.target_share,
        }
        if arrivals_per_s <= 0:
            return {**base, "needed": 0, "service_level": None}
        result = erlang_c_staffing(
            arrivals_per_s,
            handle_s,
            cap=cap,
            target_service_level=self.target_share,
            target_answer_s=self.target_s,
        )
        return {**base, "needed": result.agents, "service_level": round(result.service_level, 3)}


class _Waker:
    """Stands in a hub channel like a socket; a frame only sets the board's event, but for
    an early warning (from whichever node routes), which goes on to this node's dashboards."""

    __slots__ = ("rooms", "_event", "_boards")
    role = "agent"  # staff: hears what supervisors may see (``protocol.AUDIENCES``)
    info: Mapping[str, Any] = MappingProxyType({})  # read by the fan-out like a socket's

    def __init__(self, event: asyncio.Event, boards: set[Connection]) -> None:
        self.rooms: set[str] = set()
        self._event = event
        self._boards = boards

    def push(self, frame: OutFrame) -> None:
        if frame.body.get("type") == BREACH_FRAME:
            for conn in tuple(self._boards):
                conn.push(frame)
            return
        self._event.set()


def _point(s: Sample) -> list[float]:
    return [s.ts / 1000, s.queued, s.load, s.capacity, s.oldest_wait_s]


def board_of(state: Any) -> Board:
    """The app's one board, started on first use (the hub may also start it at boot)."""
    board = getattr(state, "board", None)
    if board is None:
        board = Board(state)
        state.board = board
    board.ensure_started()
    return board


async def start(state: Any) -> None:
    """For the app's lifespan: sample the charts from boot, not from the first dashboard."""
    board_of(state)


async def stop(state: Any) -> None:
    board = getattr(state, "board", None)
    if board is not None:
        await board.stop()
