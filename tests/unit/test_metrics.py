"""The per-message counters are plain numbers bumped on the loop; a scrape still sees them
as the counters they always were, under the same names."""

from __future__ import annotations

from prometheus_client import REGISTRY, generate_latest

from chatserver.runtime import metrics


def _sample(name: str, labels: dict[str, str] | None = None) -> float:
    value = REGISTRY.get_sample_value(name, labels or {})
    assert value is not None, name
    return value


def test_loop_counters_are_scraped_as_counters_under_their_names() -> None:
    frames = _sample("livedesk_frames_in_total")
    bot = _sample("livedesk_messages_total", {"author": "bot"})
    agent = _sample("livedesk_messages_total", {"author": "agent"})

    metrics.FRAMES_IN.inc()
    metrics.MESSAGES_BY_AUTHOR["bot"].inc(2)

    assert _sample("livedesk_frames_in_total") == frames + 1
    assert _sample("livedesk_messages_total", {"author": "bot"}) == bot + 2
    assert _sample("livedesk_messages_total", {"author": "agent"}) == agent
    text = generate_latest().decode()
    assert "# TYPE livedesk_commit_items_total counter" in text
    assert "# TYPE livedesk_frames_out_total counter" in text
