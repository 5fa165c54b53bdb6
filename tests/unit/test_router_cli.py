"""``staffing`` and ``simulate`` subcommands registered on a plain argparse parser."""

from __future__ import annotations

import argparse
import io
import json

from router.cli import register


def run(argv: list[str]) -> tuple[int, str]:
    parser = argparse.ArgumentParser(prog="livedesk")
    register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    out = io.StringIO()
    code = args.func(args, out)
    return code, out.getvalue()


def test_staffing_json_is_one_line_with_the_agents_needed() -> None:
    code, text = run(
        [
            "staffing",
            "--arrivals-per-hour",
            "200",
            "--aht",
            "180",
            "--cap",
            "1",
            "--target-s",
            "20",
            "--json",
        ]
    )
    assert code == 0 and text.count("\n") == 1
    assert json.loads(text)["agents"] == 14


def test_staffing_human_report_names_the_figures() -> None:
    code, text = run(["staffing", "--arrivals-per-hour", "120", "--cap", "5"])
    assert code == 0
    assert "agents needed     8" in text and "occupancy" in text


def test_staffing_rejects_a_cap_outside_the_range() -> None:
    code, _ = run(["staffing", "--arrivals-per-hour", "120", "--cap", "12"])
    assert code == 2


def test_simulate_json_reports_waits_and_service_level() -> None:
    code, text = run(
        [
            "simulate",
            "--arrivals-per-hour",
            "60",
            "--agents",
            "3",
            "--cap",
            "2",
            "--hours",
            "5",
            "--patience",
            "300",
            "--bot-deflection",
            "0.2",
            "--json",
        ]
    )
    assert code == 0
    line = json.loads(text)
    assert {
        "wait_p50_s",
        "wait_p90_s",
        "wait_p99_s",
        "service_level",
        "abandon_rate",
        "occupancy",
    } <= set(line)
    assert line["arrived"] > 0
