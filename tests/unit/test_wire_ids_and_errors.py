"""Ids leave as strings whoever built the frame, and an API crash still answers JSON."""

from __future__ import annotations

import json

from starlette.exceptions import HTTPException
from starlette.requests import Request

from chatserver.core.protocol import OutFrame, for_audience, message_frame
from chatserver.web.http_body import ERROR_HANDLERS


def test_integer_ids_become_strings_at_any_depth_and_nothing_else_changes() -> None:
    body = {
        "type": "welcome",
        "agent": {"id": 5, "name": "Ana", "status": "online"},
        "conversations": [{"conversation_id": "c1", "agent": {"id": 5}, "last_seq": 7}],
        "data": {"agent_id": 9, "flag": True, "count": 3},
        "seq": 4,
    }
    frame = OutFrame(body)
    assert frame.body["agent"]["id"] == "5"
    assert frame.body["conversations"][0]["agent"]["id"] == "5"
    assert frame.body["data"] == {"agent_id": "9", "flag": True, "count": 3}
    assert frame.body["seq"] == 4 and frame.body["conversations"][0]["last_seq"] == 7
    assert body["agent"]["id"] == 5  # the caller's dict is not changed under it


def test_a_frame_with_string_ids_is_kept_as_it_is() -> None:
    body = {"type": "ack", "conversation_id": "c1", "client_msg_id": "m1", "seq": 1}
    assert OutFrame(body).body is body


def test_a_stored_message_leaves_with_string_ids_though_its_frame_is_not_walked() -> None:
    row = {
        "kind": "text",
        "conversation_id": "c1",
        "seq": 3,
        "author": "agent",
        "author_id": 7,
        "author_name": "Ana",
        "body": "hello",
        "client_msg_id": "m1",
        "data": None,
        "created_ms": 1,
    }
    body = message_frame(row).body
    assert body["author_id"] == "7" and body["client_msg_id"] == "m1"
    assert body["seq"] == 3 and body["ts"] == 1
    # A bot message's data (the articles it offers) is walked: their ids are strings too.
    bot = {**row, "author": "bot", "author_id": None, "data": json.dumps({"articles": [{"id": 4}]})}
    assert message_frame(bot).body["articles"] == [{"id": "4"}]


def test_typing_and_seen_never_go_back_to_the_side_that_sent_them() -> None:
    typing = OutFrame({"type": "typing", "conversation_id": "c", "who": "visitor", "active": True})
    assert for_audience(typing, "visitor") is None and for_audience(typing, "agent") is typing
    seen = OutFrame({"type": "seen", "conversation_id": "c", "who": "agent", "seq": 3})
    assert for_audience(seen, "agent") is None and for_audience(seen, "visitor") is seen


def _request(path: str) -> Request:
    return Request({"type": "http", "method": "GET", "path": path, "headers": []})


async def test_a_crash_on_an_api_path_answers_json_and_a_page_answers_text() -> None:
    handler = ERROR_HANDLERS[500]
    api = await handler(_request("/api/boom"), RuntimeError("a bug"))
    assert api.status_code == 500 and json.loads(api.body)["error"] == "internal"
    assert b"a bug" not in api.body  # no internals leak
    page = await handler(_request("/boom"), RuntimeError("a bug"))
    assert page.status_code == 500 and page.media_type == "text/plain"


async def test_an_http_exception_on_an_api_path_is_json_with_its_headers() -> None:
    handler = ERROR_HANDLERS[HTTPException]
    exc = HTTPException(405, "Method Not Allowed", headers={"Allow": "POST"})
    answer = await handler(_request("/api/visitor/session"), exc)
    assert json.loads(answer.body) == {
        "error": "method_not_allowed",
        "message": "Method Not Allowed",
    }
    assert answer.headers["allow"] == "POST"
