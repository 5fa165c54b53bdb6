"""``livedesk credits ...`` against a real SQLite database, through argparse."""

from __future__ import annotations

import argparse
import asyncio
import csv
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from chatserver.cli import billing as cli
from chatserver.core.settings import get_settings
from tests.integration.test_billing_ledger import build_schema


@pytest.fixture
def database(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    asyncio.run(build_schema(url))
    monkeypatch.setenv("LIVEDESK_DATABASE_URL", url)
    get_settings.cache_clear()
    yield url
    get_settings.cache_clear()


def run(*argv: str) -> int:
    parser = argparse.ArgumentParser(prog="livedesk")
    cli.register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return int(args.func(args))


@pytest.mark.usefixtures("database")
def test_grant_balance_history_export(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    assert run("credits", "grant", "Ada@Example.com", "5", "--reason", "welcome") == 0
    assert run("credits", "grant", "ada@example.com", "2", "--action-id", "t-1") == 0
    assert run("credits", "grant", "ada@example.com", "2", "--action-id", "t-1") == 0
    capsys.readouterr()

    assert run("credits", "balance", "ADA@example.com", "--json") == 0
    balance = json.loads(capsys.readouterr().out)
    assert (balance["balance"], balance["granted"], balance["used"]) == (7, 7, 0)

    assert run("credits", "history", "ada@example.com", "--json") == 0
    history = json.loads(capsys.readouterr().out)
    assert [(e["amount"], e["reason"]) for e in history] == [(2, "granted by hand"), (5, "welcome")]

    out = tmp_path / "ledger.csv"
    assert run("credits", "export", "--out", str(out)) == 0
    with out.open(encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f))
    assert [(r["customer_email"], r["amount"]) for r in rows] == [
        ("ada@example.com", "5"),
        ("ada@example.com", "2"),
    ]


@pytest.mark.usefixtures("database")
def test_bad_input_is_an_error_not_a_grant(capsys: pytest.CaptureFixture[str]) -> None:
    assert run("credits", "grant", "not-an-email", "5") == 2
    assert run("credits", "grant", "ada@example.com", "0") == 2
    assert "error:" in capsys.readouterr().err
    assert run("credits", "balance", "ada@example.com", "--json") == 0
    assert json.loads(capsys.readouterr().out)["balance"] == 0
