"""Every JSON body goes through chatserver/web/http_body.py: what the knowledge-base editor,
the desk and login answer for each way a body can be wrong (status and body, as before the
readers were folded into one), and that an oversized body is refused while it streams."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from chatserver.web.http_body import BadRequest, optional_str
from tests.integration.conftest import AGENT_PASSWORD
from tests.integration.test_desk_api import chat_with, desk, login, online  # noqa: F401
from tests.live import LiveServer, desk_headers

ARTICLE = {"id": "a-1", "lang": "en", "title": "Gift wrapping", "body": "3 EUR.", "tags": []}


async def chunks(data: bytes, size: int = 16 * 1024) -> AsyncIterator[bytes]:
    """A body sent chunked: no Content-Length to refuse it by, only its bytes."""
    for start in range(0, len(data), size):
        yield data[start : start + size]


async def as_supervisor(server: LiveServer) -> dict[str, str]:
    return await desk_headers(server, "sam@example.com", AGENT_PASSWORD)


async def post(server: LiveServer, path: str, headers: dict[str, str], **kw: Any) -> Any:
    async with httpx.AsyncClient(base_url=server.url) as http:
        return await http.post(path, headers=headers, **kw)


# ---------------------------------------------------------------------------- the kb editor


@pytest.mark.parametrize(
    ("extra", "content", "status", "error"),
    [
        (
            {"content-type": "text/plain"},
            b"{}",
            415,
            {"error": "json_only", "message": "send application/json"},
        ),
        (  # the origin is checked first, with the CSRF token, as everywhere in the desk
            {"content-type": "text/plain", "origin": "https://evil.example"},
            b"{}",
            403,
            {"error": "forbidden", "message": "cross-origin request refused"},
        ),
        (
            {"content-type": "application/json", "origin": "https://evil.example"},
            b"{}",
            403,
            {"error": "forbidden", "message": "cross-origin request refused"},
        ),
        (
            {"content-type": "application/json"},
            b"{nope",
            400,
            {"error": "invalid_json", "message": "body must be JSON"},
        ),
        (
            {"content-type": "application/json"},
            b"",
            400,
            {"error": "invalid_json", "message": "body must be JSON"},
        ),
        (
            {"content-type": "application/json"},
            b"[1, 2]",
            400,
            {"error": "invalid_json", "message": "body must be a JSON object"},
        ),
        (
            {"content-type": "application/json"},
            b'{"x": "' + b"y" * (256 * 1024) + b'"}',
            413,
            {"error": "too_large", "message": "article too large"},
        ),
    ],
)
async def test_kb_editor_refuses_bad_bodies_as_before(
    desk: LiveServer,  # noqa: F811
    extra: dict[str, str],
    content: bytes,
    status: int,
    error: dict[str, str],
) -> None:
    headers = {**await as_supervisor(desk), **extra}
    for path in ("/api/kb/articles", "/api/canned"):
        refused = await post(desk, path, headers, content=content)
        assert (refused.status_code, refused.json()) == (status, error), path


async def test_kb_editor_refuses_an_oversized_body_while_it_streams(
    desk: LiveServer,  # noqa: F811
) -> None:
    headers = {**await as_supervisor(desk), "content-type": "application/json"}
    # A raw chunked upload that stops writing once it has passed the 256 KiB cap, then waits
    # for the answer: the server must refuse while the body streams, before it ends. (An
    # HTTP client that keeps writing into a connection the server closed sees a reset.)
    reader, writer = await asyncio.open_connection("127.0.0.1", desk.port)
    head = [b"POST /api/kb/articles HTTP/1.1", b"host: 127.0.0.1", b"transfer-encoding: chunked"]
    head += [f"{k}: {v}".encode() for k, v in headers.items()]
    writer.write(b"\r\n".join(head) + b"\r\n\r\n" + b"7\r\n" + b'{"x": "' + b"\r\n")
    chunk = b"y" * (16 * 1024)
    try:
        for _ in range(256 // 16 + 2):  # past the cap, never the end of the body
            writer.write(b"%x\r\n" % len(chunk) + chunk + b"\r\n")
            await writer.drain()
        head_of_answer = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
        assert head_of_answer.startswith(b"HTTP/1.1 413")
    finally:
        writer.close()


async def test_kb_editor_still_takes_a_good_body_and_names_a_bad_field(
    desk: LiveServer,  # noqa: F811
) -> None:
    headers = await as_supervisor(desk)
    saved = await post(desk, "/api/kb/articles", headers, json=ARTICLE)
    assert saved.status_code == 200 and saved.json()["id"] == "a-1"
    bad = await post(desk, "/api/canned", headers, json={"shortcut": "hi", "text": 3})
    assert bad.status_code == 400 and bad.json()["error"] == "invalid_field"


# ---------------------------------------------------------------------------- the desk


@pytest.mark.parametrize(
    ("content_type", "content", "status", "text"),
    [
        ("text/plain", b"{}", 415, "send application/json"),
        ("application/json", b"{nope", 400, "body must be JSON"),
        ("application/json", b"[1]", 400, "body must be a JSON object"),
        # An empty body is an empty object, which then lacks the password.
        ("application/json", b"", 400, "`password` must be 10 to 1024 characters"),
        ("application/json", b'{"p": "' + b"y" * (128 * 1024) + b'"}', 413, "body too large"),
    ],
)
async def test_desk_refuses_bad_bodies_with_a_json_error_naming_what_is_wrong(
    desk: LiveServer,  # noqa: F811
    content_type: str,
    content: bytes,
    status: int,
    text: str,
) -> None:
    ana = await login(desk, "ana@example.com")
    path = f"/api/desk/agents/{ana.me['id']}/password"
    headers = {**ana.headers, "x-csrf-token": ana.csrf, "content-type": content_type}
    refused = await post(desk, path, headers, content=content)
    # Every HTTP error of the API is JSON (one handler), with the same words as before.
    assert refused.headers["content-type"].startswith("application/json")
    assert (refused.status_code, refused.json()["message"]) == (status, text)


async def test_desk_names_a_field_that_is_not_a_string(desk: LiveServer) -> None:  # noqa: F811
    ana = await login(desk, "ana@example.com")
    agent = await online(desk, ana)
    _, conv_id = await chat_with(desk, agent)
    refused = await ana.post(f"/api/desk/conversations/{conv_id}/notes", {"body": 5})
    assert refused.status_code == 400
    assert refused.json() == {
        "error": "invalid_field",
        "message": "`body` must be a string of at most 1000 characters",
    }
    noted = await ana.post(f"/api/desk/conversations/{conv_id}/notes", {"body": "  vip  "})
    assert noted.status_code == 201 and noted.json()["body"] == "vip"


# ---------------------------------------------------------------------------- login, visitors


async def test_login_and_visitor_bodies_keep_their_answers(desk: LiveServer) -> None:  # noqa: F811
    json_type = {"content-type": "application/json"}
    bad = await post(desk, "/login", json_type, content=b"{nope")
    assert (bad.status_code, bad.json()) == (
        400,
        {"error": "invalid_field", "message": "body must be JSON"},
    )
    listed = await post(desk, "/api/visitor/session", json_type, content=b"[]")
    assert (listed.status_code, listed.json()) == (
        400,
        {"error": "invalid_field", "message": "body must be a JSON object"},
    )
    empty = await post(desk, "/api/visitor/session", json_type, content=b"")
    assert empty.status_code == 200 and empty.json()["token"]


def test_optional_str_trims_and_refuses_what_is_not_a_short_string() -> None:
    assert optional_str({"a": "  x "}, "a") == "x"
    assert optional_str({"a": "   "}, "a") is None
    assert optional_str({}, "a") is None
    for bad in (5, ["x"], "y" * 11):
        with pytest.raises(BadRequest) as refused:
            optional_str({"a": bad}, "a", limit=10)
        assert refused.value.status == 400
        assert refused.value.message == "`a` must be a string of at most 10 characters"
