"""The settings table of docs/operations.md is the settings object's, row for row."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

from chatserver.core.settings import KNOBS, ROUTER_NAMES, Settings, settings_table
from router.config import RouterConfig

DOC = Path(__file__).resolve().parents[2] / "docs" / "operations.md"


def documented_table() -> str:
    text = DOC.read_text(encoding="utf-8")
    found = re.search(r"<!-- settings-table[^>]*-->\n(.*?)<!-- /settings-table -->", text, re.S)
    assert found, "docs/operations.md lost its settings-table markers"
    return found.group(1)


def test_every_setting_is_documented_and_no_documented_row_is_stale() -> None:
    documented = documented_table()
    names = set(re.findall(r"^\| \w+ \| `(\w+)` \|", documented, re.M))
    assert names == {name.upper() for name in KNOBS}
    assert documented == settings_table(), (
        "docs/operations.md's settings table differs from the settings: paste "
        "chatserver.core.settings.settings_table() between its markers"
    )


def test_every_setting_has_a_doc_string_and_a_section() -> None:
    for name, field in KNOBS.items():
        assert field.description, f"{name} has no doc string"
        assert isinstance(field.json_schema_extra, dict) and field.json_schema_extra["section"]


def test_the_router_config_is_built_from_the_settings_with_the_router_defaults() -> None:
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    assert settings.routing.router_config() == RouterConfig()
    for field in dataclasses.fields(RouterConfig):
        assert ROUTER_NAMES.get(field.name, field.name) in KNOBS, field.name


def test_a_routing_setting_reaches_the_router() -> None:
    settings = Settings(accept_timeout_s=12.5, routing_policy="round_robin")
    assert settings.routing.router_config().accept_timeout_s == 12.5
    assert settings.routing.router_config().policy == "round_robin"


def test_sla_target_is_a_declared_setting_read_from_the_environment(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("LIVEDESK_SLA_TARGET_S", "45")
    assert Settings().dashboard.sla_target_s == 45.0
