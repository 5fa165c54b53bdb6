"""Settings come from the environment; an optional timeout can be turned off there."""

from __future__ import annotations

import pytest

from chatserver.core.settings import KNOBS, Settings


def test_an_optional_timeout_is_turned_off_with_none_in_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("LIVEDESK_REOFFER_AFTER_S", "none")
    monkeypatch.setenv("LIVEDESK_FIRST_REPLY_TIMEOUT_S", "45")
    settings = Settings()
    assert settings.routing.reoffer_after_s is None
    assert settings.routing.first_reply_timeout_s == 45.0
    assert KNOBS["reoffer_after_s"].default == 60.0
