"""The settings are one nested object (``settings.<section>.<knob>``) whose knobs keep
their flat names outside Python: the environment variables, keywords and stored values."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from chatserver.core.settings import KNOBS, SECTION_OF, SECTIONS, Settings, settings_table


@pytest.mark.parametrize(
    ("variable", "raw", "path", "value"),
    [
        ("LIVEDESK_DB_POOL_SIZE", "7", "store.db_pool_size", 7),
        ("LIVEDESK_ACCEPT_TIMEOUT_S", "12.5", "routing.accept_timeout_s", 12.5),
        ("LIVEDESK_MAIL_FROM", "help@example.org", "mail.mail_from", "help@example.org"),
        ("LIVEDESK_AUTO_ACCEPT", "false", "routing.auto_accept", False),
        (
            "LIVEDESK_ALLOWED_ORIGINS",
            '["https://shop.example"]',
            "security.allowed_origins",
            ["https://shop.example"],
        ),
        (
            "LIVEDESK_CREDIT_PACK_CREDITS",
            '{"SKU-1": 3}',
            "billing.credit_pack_credits",
            {"SKU-1": 3},
        ),
        ("LIVEDESK_REOFFER_AFTER_S", "none", "routing.reoffer_after_s", None),
    ],
)
def test_a_flat_environment_variable_sets_its_nested_knob(
    monkeypatch: pytest.MonkeyPatch, variable: str, raw: str, path: str, value: Any
) -> None:
    monkeypatch.setenv(variable, raw)
    section, name = path.split(".")
    assert Settings().model_dump()[section][name] == value


def test_a_keyword_wins_over_the_environment_which_still_fills_the_rest_of_the_section(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("LIVEDESK_DB_POOL_SIZE", "7")
    monkeypatch.setenv("LIVEDESK_DB_BUSY_TIMEOUT_S", "3")
    settings = Settings(db_pool_size=9)
    assert settings.store.db_pool_size == 9
    assert settings.store.db_busy_timeout_s == 3.0


def test_a_section_refuses_a_name_it_does_not_have() -> None:
    with pytest.raises(ValidationError):
        Settings(store={"db_pool_sise": 3})


def test_updated_applies_flat_names_checked_and_refuses_unknown_ones() -> None:
    base = Settings(_env_file=None)  # type: ignore[call-arg]
    changed = base.updated({"sla_target_s": 45, "auto_accept": False})
    assert (changed.dashboard.sla_target_s, changed.routing.auto_accept) == (45.0, False)
    assert base.routing.auto_accept is True  # a copy: the original is untouched
    with pytest.raises(ValidationError):
        base.updated({"db_pool_size": 0})  # below its minimum
    with pytest.raises(KeyError):
        base.updated({"no_such_knob": 1})


def test_every_knob_has_one_section_and_is_read_by_its_flat_name() -> None:
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    assert set(SECTION_OF.values()) <= set(SECTIONS)
    for name, section in SECTION_OF.items():
        assert settings.knob(name) is getattr(getattr(settings, section), name)
        assert f"| `{name.upper()}` | `{section}.{name}` |" in settings_table()
    assert len(KNOBS) == len(SECTION_OF)
