"""Reading a roster CSV: local times, the plan's own export, and refusals with their line."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from chatserver.core.roster import RosterError, parse_roster_csv

TZ = ZoneInfo("Europe/Ljubljana")


def ms(text: str) -> int:
    return round(datetime.fromisoformat(text).timestamp() * 1000)


def test_a_time_without_offset_is_the_desks_local_time_and_an_offset_is_kept() -> None:
    got = parse_roster_csv("Start,Agents\n2026-10-26T09:00,4\n2026-10-26T10:30:00+00:00,6\n\n", TZ)
    # 26 October is winter time in Ljubljana: 09:00 local is 08:00 UTC.
    assert got == {ms("2026-10-26T08:00:00+00:00"): 4, ms("2026-10-26T10:30:00+00:00"): 6}


def test_the_staffing_plans_export_reads_back_and_blank_agents_are_skipped() -> None:
    export = (
        "start_utc,expected_chats,agents_needed,service_level_needed,agents_scheduled,"
        "service_level_scheduled,short\n"
        "2026-12-07T09:00Z,12.50,3,0.8100,5,0.9500,0\n"
        "2026-12-07T09:30Z,10.00,3,0.8100,,,0\n"
    )
    start = datetime(2026, 12, 7, 9, 0, tzinfo=UTC).timestamp()
    assert parse_roster_csv(export, TZ) == {round(start * 1000): 5}


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("when,who\n", "start or start_utc"),
        ("start,agents\n2026-12-07T09:15,3\n", "line 2: '2026-12-07T09:15' does not start"),
        ("start,agents\n2026-12-07T09:00,3\nnext monday,2\n", "line 3"),
        ("start,agents\n2026-12-07T09:00,-1\n", "whole number"),
        ("start,agents\n2026-12-07T09:00,2\n2026-12-07T09:00,3\n", "listed twice"),
        ("start,agents\n2026-12-07T09:00\n", "too few columns"),
        ("", "empty"),
    ],
)
def test_a_roster_that_does_not_read_is_refused_with_where(text: str, words: str) -> None:
    with pytest.raises(RosterError, match=words):
        parse_roster_csv(text, TZ)
