"""A team's business hours: what it sets is its own, what it leaves out is the desk's."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from chatserver.core.hours import TeamSpec, desk_team_hours, team_hours
from chatserver.core.settings import Settings

# A Wednesday, 10:00 UTC (11:00 in Ljubljana, 13:00 in Moscow).
WEDNESDAY_10_UTC = datetime(2026, 3, 4, 10, 0, tzinfo=UTC)


def test_a_team_without_hours_of_its_own_keeps_the_desks() -> None:
    teams = team_hours(
        "mon-fri 09:00-17:00",
        ["2026-03-04"],
        "UTC",
        {"sales": TeamSpec(), "support": TeamSpec(holidays=[])},
    )
    sales, support = teams["sales"], teams["support"]
    assert sales is not None and support is not None
    assert not sales.is_open(WEDNESDAY_10_UTC)  # the desk's holiday
    assert support.is_open(WEDNESDAY_10_UTC)  # its own (empty) holidays instead


def test_a_teams_own_hours_and_zone_decide_when_it_is_open() -> None:
    teams = team_hours(
        None,
        [],
        "UTC",
        {
            "moscow": TeamSpec(hours="mon-fri 08:00-12:00", timezone="Europe/Moscow"),
            "always": TeamSpec(timezone="Europe/Moscow"),  # no hours anywhere: always open
        },
    )
    moscow = teams["moscow"]
    assert moscow is not None and not moscow.is_open(WEDNESDAY_10_UTC)  # 13:00 there
    assert moscow.is_open(datetime(2026, 3, 4, 6, 0, tzinfo=UTC))  # 09:00 there
    assert teams["always"] is None


def test_bad_team_hours_name_the_team() -> None:
    with pytest.raises(ValueError, match="'billing'"):
        team_hours(None, [], "UTC", {"billing": TeamSpec(hours="mon-fri 8-17")})
    with pytest.raises(ValueError, match="'billing'"):
        team_hours("mon 09:00-10:00", [], "UTC", {"billing": TeamSpec(timezone="Mars/Base")})


def test_the_settings_carry_team_hours_from_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(
        "LIVEDESK_TEAM_HOURS", '{"billing": {"hours": "mon-fri 08:00-12:00", "timezone": "UTC"}}'
    )
    monkeypatch.setenv("LIVEDESK_BUSINESS_HOURS", "mon-sun 00:00-23:59")
    teams = desk_team_hours(Settings().routing)
    billing = teams["billing"]
    assert billing is not None
    assert billing.is_open(WEDNESDAY_10_UTC)
    assert not billing.is_open(datetime(2026, 3, 4, 13, 0, tzinfo=UTC))
    with pytest.raises(ValueError):
        Settings(team_hours={"no,commas": {}})  # a team name is what agents.teams can hold
