"""The dashboard's staffing panel and the router use one handle time and one SLA target."""

from __future__ import annotations

from types import SimpleNamespace

from chatserver.core.settings import Settings
from chatserver.services.dashboard import Board
from router import Router
from router.model import Snapshot


def board(settings: Settings, snapshot: Snapshot) -> Board:
    dispatch = SimpleNamespace(snapshot=lambda: snapshot)
    return Board(SimpleNamespace(settings=settings, dispatch=dispatch))


def test_staffing_before_any_measured_handle_time_uses_the_routers_prior() -> None:
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    # A node that routes nothing yet shares a snapshot with no handle time measured.
    staffing = board(settings, Snapshot(agents=(), queued=0)).staffing(0.01)
    fresh_router = Router(settings.routing.router_config()).snapshot(0.0)
    assert staffing["handle_s"] == settings.routing.default_handle_s == fresh_router.mean_handle_s


def test_the_sla_target_setting_reaches_the_board() -> None:
    settings = Settings(_env_file=None, sla_target_s=45, sla_target_share=0.9)  # type: ignore[call-arg]
    staffing = board(settings, Snapshot(agents=(), queued=0)).staffing(0.01)
    assert (staffing["target_s"], staffing["target_share"]) == (45, 0.9)
