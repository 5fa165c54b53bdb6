"""What a commit sets off (live/commits.py), without a server: the socket that sent a
message is acked before anyone hears the message and is its origin (left out of its
fan-out); a stored event reaches the hub's cache before it is published."""

from __future__ import annotations

from typing import Any

from chatserver.backends.bus import SUPERVISORS_CHANNEL, InMemoryBus, conversation_channel
from chatserver.core.protocol import OutFrame
from chatserver.live.commits import Commits


class Socket:
    """Records what is pushed to it, in order, with what was published by then."""

    def __init__(self, log: list[tuple[str, Any]]) -> None:
        self.log = log

    def push(self, frame: OutFrame) -> None:
        self.log.append(("push", frame.body))


def text_row(seq: int, client_msg_id: str) -> dict[str, Any]:
    return {
        "kind": "text",
        "conversation_id": "c1",
        "seq": seq,
        "author": "visitor",
        "created_ms": 1,
        "body": "hello",
        "client_msg_id": client_msg_id,
    }


def recording_bus(log: list[tuple[str, Any]]) -> InMemoryBus:
    bus = InMemoryBus(lambda channel, frame: log.append((channel, frame)))
    bus.subscribe(conversation_channel("c1"))
    bus.subscribe(SUPERVISORS_CHANNEL)
    return bus


def test_the_first_sender_is_acked_before_the_message_goes_out_and_is_its_origin() -> None:
    log: list[tuple[str, Any]] = []
    commits = Commits(recording_bus(log))
    first, retry = Socket(log), Socket(log)
    commits.waiting(first, "c1", "m1")  # type: ignore[arg-type]
    commits.waiting(retry, "c1", "m1")  # type: ignore[arg-type]
    commits.committed(text_row(4, "m1"))
    (kind, ack), (channel, frame) = log
    assert (kind, ack["type"], ack["seq"], ack["duplicate"]) == ("push", "ack", 4, False)
    assert channel == conversation_channel("c1") and frame.origin is first
    # The retry of the same send still waits (the hub acks it as a duplicate).
    assert commits.sending == {("c1", "m1"): [retry]}


def test_a_send_no_longer_waiting_is_not_acked_by_the_commit() -> None:
    log: list[tuple[str, Any]] = []
    commits = Commits(recording_bus(log))
    refused = Socket(log)
    commits.waiting(refused, "c1", "m1")  # type: ignore[arg-type]
    commits.not_waiting(refused, "c1", "m1")  # type: ignore[arg-type]
    commits.committed(text_row(5, "m1"))
    assert [entry[0] for entry in log] == [conversation_channel("c1")]
    assert log[0][1].origin is None and commits.sending == {}


def test_a_stored_event_reaches_the_cache_before_the_conversation_and_the_supervisors() -> None:
    log: list[tuple[str, Any]] = []
    commits = Commits(
        recording_bus(log), on_event=lambda conv, event, data: log.append(("cache", event))
    )
    commits.committed(
        {
            "kind": "event",
            "conversation_id": "c1",
            "seq": 6,
            "author": "system",
            "created_ms": 1,
            "body": "assigned",
            "data": '{"agent": {"id": 3}}',
        }
    )
    assert [entry[0] for entry in log] == ["cache", conversation_channel("c1"), SUPERVISORS_CHANNEL]
