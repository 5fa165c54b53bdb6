"""``protocol.for_audience``: each frame as each audience may see it."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from chatserver.core.protocol import AUDIENCES, HIDDEN_EVENT, OutFrame, for_audience

PROTOCOL_MD = Path(__file__).parents[2] / "docs" / "protocol.md"


def event(name: str, **data: Any) -> OutFrame:
    return OutFrame(
        {
            "type": "event",
            "conversation_id": "c1",
            "seq": 7,
            "author": "system",
            "ts": 1,
            "event": name,
            "data": data,
        }
    )


def test_staff_get_every_frame_as_it_is() -> None:
    for frame in (event("handoff", summary="s"), event("transferred", note="n"), event("x")):
        assert for_audience(frame, "agent") is frame


def test_a_staff_only_event_reaches_the_visitor_as_a_hidden_item_keeping_its_seq() -> None:
    seen = for_audience(event("handoff", summary="asked about a refund"), "visitor")
    assert seen is not None
    assert (seen.body["event"], seen.body["seq"], seen.body["data"]) == (HIDDEN_EVENT, 7, {})
    assert "refund" not in str(seen.encoded("json"))


def test_staff_only_fields_are_removed_from_the_visitors_copy() -> None:
    frame = event("transferred", to_agent="2", to_team=None, note="angry", override=True)
    seen = for_audience(frame, "visitor")
    assert seen is not None and seen is not frame
    assert seen.body["data"] == {"to_agent": "2", "to_team": None}
    assert frame.body["data"]["note"] == "angry"  # the staff's frame is untouched


def test_an_undeclared_kind_reaches_staff_only() -> None:
    hidden = for_audience(event("new_kind", secret="x"), "visitor")
    assert hidden is not None and hidden.body["event"] == HIDDEN_EVENT
    assert for_audience(OutFrame({"type": "new_frame"}), "visitor") is None
    assert for_audience(OutFrame({"type": "suggestions", "items": []}), "visitor") is None
    assert for_audience(OutFrame({"type": "queue", "position": 1}), "agent") is None


def test_every_event_and_frame_audience_is_stated_in_protocol_md() -> None:
    """docs/protocol.md's audience table mirrors ``protocol.AUDIENCES``, row by row."""
    text = PROTOCOL_MD.read_text()
    section = text.split("### Audiences", 1)[1].split("\n## ", 1)[0]
    rows = dict(re.findall(r"^\| `([a-z_:]+)` \| ([^|]+?) \|", section, re.M))
    stated = {
        kind: (
            ", ".join(sorted(reach.audience)),
            ", ".join(f"`{f}`" for f in sorted(reach.staff_fields)) or "—",
        )
        for kind, reach in AUDIENCES.items()
    }
    assert {k: v[0] for k, v in stated.items()} == rows
    for kind, (_, fields) in stated.items():
        assert f"| `{kind}` | {stated[kind][0]} | {fields} |" in section
