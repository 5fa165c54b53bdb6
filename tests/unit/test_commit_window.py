"""When the group commit's first message waits for others to share its transaction."""

from __future__ import annotations

from chatserver.core.commit_window import CommitWindow

WINDOW_S = 0.004


def arrivals(window: CommitWindow, start_s: float, gap_s: float, count: int) -> float:
    """``count`` arrivals ``gap_s`` apart from ``start_s``; the time of the last one."""
    now = start_s
    for i in range(count):
        now = start_s + i * gap_s
        window.arrived(now)
    return now


def test_a_quiet_desk_commits_each_message_at_once() -> None:
    window = CommitWindow(WINDOW_S)
    assert window.wait_s() == 0
    arrivals(window, 0.0, gap_s=2.0, count=50)  # a message every two seconds
    assert window.wait_s() == 0


def test_messages_closer_together_than_the_window_wait_for_company() -> None:
    window = CommitWindow(WINDOW_S)
    arrivals(window, 0.0, gap_s=0.001, count=50)  # 1,000 a second
    assert window.wait_s() == WINDOW_S


def test_arrivals_just_slower_than_the_window_do_not_wait() -> None:
    window = CommitWindow(WINDOW_S)
    arrivals(window, 0.0, gap_s=0.005, count=200)  # 200 a second: nobody to wait for
    assert window.wait_s() == 0


def test_a_rush_on_a_quiet_desk_is_recognised_within_ten_arrivals() -> None:
    window = CommitWindow(WINDOW_S)
    last = arrivals(window, 0.0, gap_s=2.0, count=20)
    arrivals(window, last + 0.001, gap_s=0.001, count=10)
    assert window.wait_s() == WINDOW_S


def test_one_long_gap_does_not_end_the_waiting_of_a_busy_desk() -> None:
    window = CommitWindow(WINDOW_S)
    last = arrivals(window, 0.0, gap_s=0.001, count=100)
    window.arrived(last + 3600.0)  # an hour's quiet counts as no more than any long gap
    assert window.wait_s() == WINDOW_S


def test_a_lull_ends_the_waiting() -> None:
    window = CommitWindow(WINDOW_S)
    last = arrivals(window, 0.0, gap_s=0.001, count=100)
    arrivals(window, last + 1.0, gap_s=1.0, count=20)  # the rush is over
    assert window.wait_s() == 0


def test_a_window_of_nothing_never_waits() -> None:
    window = CommitWindow(0.0)
    arrivals(window, 0.0, gap_s=0.0001, count=50)
    assert window.wait_s() == 0
