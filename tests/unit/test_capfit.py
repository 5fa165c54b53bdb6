"""The recommended cap, the adaptive cap and the early warning, on histories of known shape."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from router.capfit import (
    REASONS,
    AdaptiveCap,
    ChatSample,
    ReplySample,
    breach_warning,
    level_stats,
    recommend_cap,
)


def replies_growing_with_load(
    per_level: int = 60, seconds_per_chat: float = 10.0
) -> list[ReplySample]:
    """Reply times around ``seconds_per_chat`` × concurrency, levels 1–6."""
    rng = random.Random(4)
    out: list[ReplySample] = []
    for k in range(1, 7):
        for i in range(per_level):
            out.append(
                ReplySample(
                    agent_id=f"a{i % 5}",
                    team="support",
                    concurrency=k,
                    response_s=rng.uniform(0.5, 1.2) * seconds_per_chat * k,
                    first=i % 4 == 0,
                )
            )
    return out


def chats_rated(csat_by_level: dict[int, float], per_level: int = 40) -> list[ChatSample]:
    out: list[ChatSample] = []
    for k, mean in csat_by_level.items():
        low, high = int(mean), int(mean) + 1
        share_high = mean - low
        for i in range(per_level):
            score = high if i < round(share_high * per_level) else low
            out.append(ChatSample(f"a{i % 5}", "support", k, 300.0 + 30 * k, min(5, score)))
    return out


def test_the_cap_is_the_largest_concurrency_whose_replies_stay_within_target() -> None:
    # p90 ≈ 11.5 s × k: within 50 s up to 4 chats, over it at 5.
    rec = recommend_cap(replies_growing_with_load(), [], response_target_s=50)
    assert rec.recommended_cap == 4
    assert "5 chats" in rec.reason
    # The page says the same in the reader's language, from the code and its numbers.
    assert rec.reason_code == "reply_over_target"
    assert rec.reason_args["chats"] == 5 and rec.reason_args["target_s"] == 50
    assert rec.reason_args["p90_s"] > 50
    p90 = rec.reason_args["p90_s"]
    assert rec.reason == f"at 5 chats the reply p90 is {p90}s, over the 50s target"


def test_a_csat_drop_stops_the_climb_before_response_time_does() -> None:
    chats = chats_rated({1: 4.6, 2: 4.6, 3: 4.5, 4: 3.9, 5: 3.8})
    rec = recommend_cap(replies_growing_with_load(), chats, response_target_s=200)
    assert rec.recommended_cap == 3
    assert rec.csat_baseline == pytest.approx(4.6, abs=0.03)
    assert "CSAT" in rec.reason
    assert rec.reason_code == "csat_below_baseline" and rec.reason_args["chats"] == 4


def test_without_enough_replies_at_a_level_there_is_no_cap_above_it() -> None:
    replies = [r for r in replies_growing_with_load() if r.concurrency != 3]
    rec = recommend_cap(replies, [], response_target_s=500)
    assert rec.recommended_cap == 2
    assert "evidence ends at 3" in rec.reason
    assert (rec.reason_code, rec.reason_args) == ("evidence_ends", {"chats": 3, "replies": 0})
    nothing = recommend_cap([], [], response_target_s=60)
    assert nothing.recommended_cap is None and nothing.reason_code == "evidence_ends"


def test_level_stats_show_the_curves_the_dashboard_draws() -> None:
    levels = level_stats(replies_growing_with_load(), chats_rated({1: 4.0, 3: 3.0}))
    by_k = {level.concurrency: level for level in levels}
    assert [level.concurrency for level in levels] == [1, 2, 3, 4, 5, 6]
    p50s = [by_k[k].response_p50_s or 0.0 for k in range(1, 7)]
    assert p50s == sorted(p50s)
    assert by_k[3].csat_mean == pytest.approx(3.0)
    assert by_k[2].ratings == 0
    assert by_k[3].handle_mean_s == pytest.approx(390.0)


def test_the_adaptive_cap_steps_down_while_replies_are_slow_and_back_when_they_recover() -> None:
    cap = AdaptiveCap(cap=5, target_s=30, floor=3, hold_s=60)
    now = 0.0
    for _ in range(10):
        now += 10
        cap.observe(60, now)
    assert cap.effective == 3  # two steps in 100 s with a 60 s hold, never below the floor
    for _ in range(40):
        now += 10
        cap.observe(10, now)
    assert cap.effective == 5  # back to what the supervisor set, never above it


def test_one_slow_reply_does_not_move_the_cap() -> None:
    cap = AdaptiveCap(cap=5, target_s=30)
    for t in range(10):
        cap.observe(20, float(t))
    assert cap.observe(45, 11.0) == 5


def test_a_growing_queue_warns_with_the_minutes_left_and_the_agents_that_would_prevent_it() -> None:
    # 4 agents at cap 3 finish 4 · 2.5 / 480 ≈ 0.0208 chats/s; 0.03 arrive.
    warning = breach_warning(
        queued=0, arrivals_per_s=0.03, agents=4, cap=3, handle_s=480, target_wait_s=60
    )
    assert warning is not None
    pace = 4 * 2.5 / 480
    assert warning.minutes_to_breach == pytest.approx(60 * pace / (0.03 - pace) / 60)
    assert warning.agents_needed > 4
    assert warning.agents_needed * 2.5 / 480 > 0.03


def test_a_desk_that_keeps_up_gets_no_warning_and_a_breached_one_gets_zero_minutes() -> None:
    assert (
        breach_warning(
            queued=0, arrivals_per_s=0.01, agents=4, cap=3, handle_s=480, target_wait_s=60
        )
        is None
    )
    late = breach_warning(
        queued=30, arrivals_per_s=0.01, agents=2, cap=3, handle_s=480, target_wait_s=60
    )
    assert late is not None and late.minutes_to_breach == 0.0


def test_every_reason_code_is_said_by_the_dashboard_too() -> None:
    """The sentence is the CLI's (and a fallback's); the dashboard says each code itself."""
    script = (Path(__file__).parents[2] / "agentdesk/static/lookahead.js").read_text()
    for code in REASONS:
        assert f'case "{code}":' in script, code
