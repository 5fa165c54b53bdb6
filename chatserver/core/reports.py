"""Service-level maths over plain conversation and message rows: no I/O, so the dashboard,
the reports and the tests all compute the same figures the same way.

Times are milliseconds since the epoch; days are UTC days.
"""

from __future__ import annotations

import csv
import io
import math
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from chatserver.core.spreadsheet import safe_cell

DAY_MS = 86_400_000
HOUR_MS = 3_600_000

Row = Mapping[str, Any]


def day_start_ms(day: date) -> int:
    return int(datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp() * 1000)


def today_utc(now_ms: int) -> date:
    return datetime.fromtimestamp(now_ms / 1000, UTC).date()


def percentile(values: Sequence[float], q: float) -> float | None:
    """Linear-interpolated percentile (q in [0, 1]); None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    pos = (len(ordered) - 1) * q
    lo, hi = math.floor(pos), math.ceil(pos)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)


def _mean(values: Sequence[float]) -> float | None:
    return sum(values) / len(values) if values else None


def _round(value: float | None, digits: int = 1) -> float | None:
    return None if value is None else round(value, digits)


def first_response_s(conv: Row) -> float | None:
    """From the visitor's first message (the conversation opening) to the first human reply."""
    if conv.get("first_human_reply_ms") is None:
        return None
    return max(0.0, (int(conv["first_human_reply_ms"]) - int(conv["created_ms"])) / 1000)


def resolution_s(conv: Row) -> float | None:
    if conv.get("closed_ms") is None:
        return None
    return max(0.0, (int(conv["closed_ms"]) - int(conv["created_ms"])) / 1000)


def abandoned(conv: Row) -> bool:
    """The visitor left before any human answered."""
    if conv.get("state") == "abandoned":
        return True
    return (
        conv.get("closed_ms") is not None
        and conv.get("first_human_reply_ms") is None
        and conv.get("closed_by") == "visitor"
    )


def response_times_s(messages: Iterable[Row]) -> list[float]:
    """Every agent reply's wait: from the first visitor text it answers to the reply.

    ``messages`` are text rows (author, created_ms, conversation_id) in seq order per
    conversation. Bot and system items neither start nor stop the clock.
    """
    waiting_since: dict[str, int] = {}
    out: list[float] = []
    for m in messages:
        conv = m["conversation_id"]
        if m["author"] == "visitor":
            waiting_since.setdefault(conv, m["created_ms"])
        elif m["author"] == "agent" and conv in waiting_since:
            out.append(max(0.0, (m["created_ms"] - waiting_since.pop(conv)) / 1000))
    return out


@dataclass(frozen=True, slots=True)
class ServiceLevels:
    conversations: int
    answered: int
    abandoned: int
    frt_p50_s: float | None
    frt_p90_s: float | None
    avg_response_s: float | None
    # Share answered within the target, of those answered, abandoned, or still unanswered
    # after the target (a chat waiting past it is already a miss, before anyone answers).
    within_target: float | None
    abandonment: float | None
    csat_avg: float | None
    csat_count: int
    target_s: float
    waiting_over_target: int = 0
    # E-mail conversations are held to their own target (hours, not seconds); the figures
    # above count each conversation against its own channel's target.
    mail_target_s: float | None = None
    # Per channel ("chat", "email"): conversations, answered, within_target, frt_p50_s,
    # target_s — so a slow mail day does not hide behind fast chats, nor the reverse.
    by_channel: dict[str, dict[str, Any]] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def channel_of(conv: Row) -> str:
    return "email" if conv.get("channel") == "email" else "chat"


def target_for(conv: Row, target_s: float, mail_target_s: float | None) -> float:
    """The service target the conversation is held to: its channel's."""
    if mail_target_s is not None and channel_of(conv) == "email":
        return mail_target_s
    return target_s


def waiting_over(conv: Row, target_s: float, now_ms: int) -> bool:
    """Still open, nobody human has answered, and the target has already passed."""
    return (
        conv.get("closed_ms") is None
        and conv.get("first_human_reply_ms") is None
        and not abandoned(conv)
        and (now_ms - conv["created_ms"]) / 1000 > target_s
    )


def _within(
    convs: Sequence[Row], target_s: float, mail_target_s: float | None, now_ms: int | None
) -> tuple[list[float], int, int, int]:
    """First responses, how many within their own target, abandoned, waiting past it."""
    frts: list[float] = []
    within = gone = late = 0
    for c in convs:
        target = target_for(c, target_s, mail_target_s)
        frt = first_response_s(c)
        if frt is not None:
            frts.append(frt)
            within += frt <= target
        gone += abandoned(c)
        late += now_ms is not None and waiting_over(c, target, now_ms)
    return frts, within, gone, late


def _channel_figures(
    convs: Sequence[Row], target_s: float, mail_target_s: float | None, now_ms: int | None
) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for channel in ("chat", "email"):
        mine = [c for c in convs if channel_of(c) == channel]
        if not mine:
            continue
        frts, within, gone, late = _within(mine, target_s, mail_target_s, now_ms)
        decided = len(frts) + gone + late
        out[channel] = {
            "conversations": len(mine),
            "answered": len(frts),
            "frt_p50_s": _round(percentile(frts, 0.5)),
            "within_target": _round(within / decided, 4) if decided else None,
            "target_s": target_for({"channel": channel}, target_s, mail_target_s),
        }
    return out


def service_levels(
    convs: Sequence[Row],
    messages: Iterable[Row],
    target_s: float = 30.0,
    now_ms: int | None = None,
    mail_target_s: float | None = None,
) -> ServiceLevels:
    """Figures for the conversations opened in one window (``convs``) and the replies
    written in it (``messages``); with ``now_ms``, chats still waiting past the target
    count as misses. E-mail conversations are held to ``mail_target_s`` when given."""
    frts, within, gone, late = _within(convs, target_s, mail_target_s, now_ms)
    decided = len(frts) + gone + late
    scores = [c["csat_score"] for c in convs if c.get("csat_score") is not None]
    return ServiceLevels(
        conversations=len(convs),
        answered=len(frts),
        abandoned=gone,
        frt_p50_s=_round(percentile(frts, 0.5)),
        frt_p90_s=_round(percentile(frts, 0.9)),
        avg_response_s=_round(_mean(response_times_s(messages))),
        within_target=_round(within / decided, 4) if decided else None,
        abandonment=_round(gone / len(convs), 4) if convs else None,
        csat_avg=_round(_mean(scores), 2),
        csat_count=len(scores),
        target_s=target_s,
        waiting_over_target=late,
        mail_target_s=mail_target_s,
        by_channel=_channel_figures(convs, target_s, mail_target_s, now_ms),
    )


def split_tags(tags: str | None) -> list[str]:
    return [t.strip() for t in (tags or "").split(",") if t.strip()]


def tag_breakdown(convs: Iterable[Row]) -> list[dict[str, Any]]:
    """Per tag: how many conversations, their median resolution time and average CSAT."""
    counts: Counter[str] = Counter()
    times: defaultdict[str, list[float]] = defaultdict(list)
    scores: defaultdict[str, list[float]] = defaultdict(list)
    for c in convs:
        for tag in split_tags(c.get("tags")) or ["(untagged)"]:
            counts[tag] += 1
            r = resolution_s(c)
            if r is not None:
                times[tag].append(r)
            if c.get("csat_score") is not None:
                scores[tag].append(c["csat_score"])
    return [
        {
            "tag": tag,
            "conversations": n,
            "resolution_p50_s": _round(percentile(times[tag], 0.5)),
            "csat_avg": _round(_mean(scores[tag]), 2),
        }
        for tag, n in counts.most_common()
    ]


def daily_trend(convs: Iterable[Row], first: date, days: int) -> list[dict[str, Any]]:
    """One point per UTC day from ``first``: closed conversations, resolution p50/p90, CSAT."""
    by_day: defaultdict[date, list[Row]] = defaultdict(list)
    for c in convs:
        if c.get("closed_ms") is not None:
            by_day[today_utc(c["closed_ms"])].append(c)
    out = []
    for i in range(days):
        day = first + timedelta(days=i)
        rows = by_day.get(day, [])
        res = [r for r in (resolution_s(c) for c in rows) if r is not None]
        scores = [c["csat_score"] for c in rows if c.get("csat_score") is not None]
        out.append(
            {
                "day": day.isoformat(),
                "closed": len(rows),
                "resolution_p50_s": _round(percentile(res, 0.5)),
                "resolution_p90_s": _round(percentile(res, 0.9)),
                "csat_avg": _round(_mean(scores), 2),
                "csat_count": len(scores),
            }
        )
    return out


CSV_COLUMNS = (
    "conversation_id",
    "created_utc",
    "state",
    "agent_id",
    "agent_name",
    "team",
    "language",
    "first_response_s",
    "resolution_s",
    "closed_by",
    "abandoned",
    "tags",
    "outcome",
    "csat_score",
    "channel",
    "chat_messages",
    "email_in",
    "email_out",
)


def _iso(ms: int | None) -> str:
    if ms is None:
        return ""
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat(timespec="seconds")


def _channel_cells(counts: Mapping[str, int] | None) -> list[int | str]:
    """Messages per channel: written in the chat, come in by mail, mails sent."""
    if counts is None:
        return ["", "", ""]
    return [counts.get("chat", 0), counts.get("email_in", 0), counts.get("email_out", 0)]


def daily_csv(convs: Iterable[Row], agent_names: Mapping[int, str]) -> str:
    buf = io.StringIO()
    out = csv.writer(buf, lineterminator="\n")
    out.writerow(CSV_COLUMNS)
    for c in convs:
        frt, res = first_response_s(c), resolution_s(c)
        out.writerow(
            [
                c["id"],
                _iso(c["created_ms"]),
                c["state"],
                c.get("agent_id") or "",
                safe_cell(agent_names.get(c.get("agent_id") or -1, "")),
                safe_cell(c.get("team")),
                safe_cell(c.get("language")),
                "" if frt is None else round(frt, 1),
                "" if res is None else round(res, 1),
                c.get("closed_by") or "",
                "yes" if abandoned(c) else "no",
                safe_cell(",".join(split_tags(c.get("tags")))),
                safe_cell(c.get("outcome")),
                "" if c.get("csat_score") is None else c["csat_score"],
                channel_of(c),
                *_channel_cells(c.get("messages_by_channel")),
            ]
        )
    return buf.getvalue()
