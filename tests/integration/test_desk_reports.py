"""Service-level maths (chatserver/core/reports.py) on hand-made rows: no server needed."""

from __future__ import annotations

from datetime import date

from chatserver.core import reports

T0 = reports.day_start_ms(date(2026, 3, 1))


def conv(
    i: int, created: int, reply: int | None = None, closed: int | None = None, **extra: object
) -> dict:
    return {
        "id": f"c{i}",
        "created_ms": T0 + created * 1000,
        "first_human_reply_ms": None if reply is None else T0 + reply * 1000,
        "closed_ms": None if closed is None else T0 + closed * 1000,
        "state": "closed" if closed is not None else "active",
        "closed_by": extra.pop("closed_by", "agent"),
        **extra,
    }


def test_percentiles_interpolate_and_handle_empty_input() -> None:
    assert reports.percentile([], 0.5) is None
    assert reports.percentile([10, 20, 30, 40], 0.5) == 25
    assert reports.percentile([1, 2, 3, 4, 5, 6, 7, 8, 9, 10], 0.9) == 9.1


def test_service_levels_count_answers_abandonment_target_and_csat() -> None:
    convs = [
        conv(1, 0, reply=10, closed=100, csat_score=5),
        conv(2, 0, reply=50, closed=200, csat_score=3),
        conv(3, 0, closed=40, closed_by="visitor"),  # left before anyone answered
        conv(4, 0),  # still waiting
    ]
    sl = reports.service_levels(convs, [], target_s=30)
    assert (sl.conversations, sl.answered, sl.abandoned) == (4, 2, 1)
    assert sl.frt_p50_s == 30.0 and sl.frt_p90_s == 46.0
    assert sl.within_target == round(1 / 3, 4)  # one in target of two answered + one gone
    assert sl.abandonment == 0.25
    assert (sl.csat_avg, sl.csat_count) == (4.0, 2)


def test_response_times_start_at_the_first_unanswered_visitor_text() -> None:
    rows = [
        {"conversation_id": "a", "author": "visitor", "created_ms": 0},
        {"conversation_id": "a", "author": "visitor", "created_ms": 5_000},
        {"conversation_id": "a", "author": "agent", "created_ms": 20_000},
        {"conversation_id": "a", "author": "agent", "created_ms": 25_000},  # not a reply
        {"conversation_id": "a", "author": "visitor", "created_ms": 30_000},
        {"conversation_id": "a", "author": "agent", "created_ms": 34_000},
    ]
    assert reports.response_times_s(rows) == [20.0, 4.0]


def test_tag_breakdown_and_daily_trend() -> None:
    convs = [
        conv(1, 0, reply=5, closed=60, tags="billing,refund", csat_score=4),
        conv(2, 0, reply=5, closed=120, tags="billing"),
        conv(3, 0, reply=5, closed=86_400 + 30, tags=None),
    ]
    by_tag = {t["tag"]: t for t in reports.tag_breakdown(convs)}
    assert by_tag["billing"]["conversations"] == 2 and by_tag["billing"]["resolution_p50_s"] == 90.0
    assert by_tag["refund"]["csat_avg"] == 4.0 and "(untagged)" in by_tag
    trend = reports.daily_trend(convs, date(2026, 3, 1), 3)
    assert [d["closed"] for d in trend] == [2, 1, 0]
    assert trend[0]["csat_avg"] == 4.0 and trend[2]["resolution_p50_s"] is None


def test_csv_neutralises_spreadsheet_formulas() -> None:
    text = reports.daily_csv(
        [conv(1, 0, reply=3, closed=9, tags="=cmd|' /C calc'!A0", outcome="+1")], {}
    )
    line = text.splitlines()[1]
    assert "'=cmd" in line and ",'+1," in line


def test_chats_still_waiting_past_the_target_count_as_misses() -> None:
    convs = [
        conv(1, 0, reply=10, closed=100),  # answered within 30 s
        conv(2, 0),  # waiting 65 s at `now`: already a miss
        conv(3, 50),  # waiting 15 s: not decided yet
    ]
    now = T0 + 65_000
    sl = reports.service_levels(convs, [], target_s=30, now_ms=now)
    assert sl.within_target == 0.5
    assert sl.waiting_over_target == 1
