"""The sans-I/O wire core: decoding, strict checks, encoding once per codec."""

from __future__ import annotations

import json

import msgpack
import pytest

from chatserver.core.protocol import (
    Close,
    OutFrame,
    ProtocolError,
    Send,
    choose_subprotocol,
    decode,
    parse_client_frame,
    token_from_subprotocols,
)


def parse(obj, role="visitor"):
    return parse_client_frame(obj, role, max_text_chars=10)


def test_first_offered_livedesk_subprotocol_wins_and_none_means_msgpack() -> None:
    assert choose_subprotocol(["livedesk.v1.json", "livedesk.v1.msgpack"]) == (
        "json",
        "livedesk.v1.json",
    )
    assert choose_subprotocol(["livedesk.token.abc", "livedesk.v1.msgpack"]) == (
        "msgpack",
        "livedesk.v1.msgpack",
    )
    assert choose_subprotocol([]) == ("msgpack", None)


def test_token_is_read_from_the_offer_only_with_its_prefix() -> None:
    assert token_from_subprotocols(["livedesk.v1.json", "livedesk.token.T0k"]) == "T0k"
    assert token_from_subprotocols(["livedesk.v1.json"]) is None


@pytest.mark.parametrize(
    ("data", "codec"),
    [
        (b"\xc1", "msgpack"),
        ("{not json", "json"),
        ("[1,2]", "json"),
        (msgpack.packb("str"), "msgpack"),
        ("text", "msgpack"),
    ],
)
def test_undecodable_or_non_map_frames_are_bad_frames(data, codec) -> None:
    with pytest.raises(ProtocolError) as err:
        decode(data, codec)
    assert err.value.code == "bad_frame"


def test_maps_with_non_string_keys_are_bad_frames() -> None:
    with pytest.raises(ProtocolError):
        decode(msgpack.packb({1: "x"}), "msgpack")


@pytest.mark.parametrize(
    "bad", [0, 1, True, False, None, [], ["a"], {}, 1.0, "", "a b", "x" * 65, "é"]
)
def test_ids_are_strict_strings(bad) -> None:
    with pytest.raises(ProtocolError) as err:
        parse({"type": "seen", "conversation_id": bad, "seq": 1})
    assert err.value.code == "invalid_field"


@pytest.mark.parametrize("bad", [-1, True, 1.0, "1", None, 2**53])
def test_seq_is_a_non_negative_integer_never_a_bool(bad) -> None:
    with pytest.raises(ProtocolError):
        parse({"type": "resume", "conversation_id": "abc", "after_seq": bad})


def test_text_over_the_limit_has_its_own_code_and_keeps_the_ref() -> None:
    with pytest.raises(ProtocolError) as err:
        parse({"type": "send", "text": "x" * 11, "client_msg_id": "m1"})
    assert (err.value.code, err.value.ref) == ("text_too_long", "m1")


def test_visitor_may_omit_the_conversation_but_an_agent_may_not() -> None:
    assert parse({"type": "send", "text": "hi", "client_msg_id": "m1"}) == Send(None, "hi", "m1")
    assert parse({"type": "close"}) == Close(None)
    with pytest.raises(ProtocolError):
        parse({"type": "send", "text": "hi", "client_msg_id": "m1"}, role="agent")


def test_agents_only_frames_are_unknown_to_visitors() -> None:
    with pytest.raises(ProtocolError) as err:
        parse({"type": "status", "status": "away"})
    assert err.value.code == "unknown_type"
    assert parse({"type": "status", "status": "away"}, role="agent").status == "away"


def test_out_frame_is_encoded_once_per_codec() -> None:
    frame = OutFrame({"type": "message", "text": "Čao ćirilica ђ"})
    packed = frame.encoded("msgpack")
    assert frame.encoded("msgpack") is packed
    assert msgpack.unpackb(packed) == frame.body
    text = frame.encoded("json")
    assert frame.encoded("json") is text and json.loads(text) == frame.body
