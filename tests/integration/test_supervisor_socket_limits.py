"""The supervisor socket runs the same frame loop as visitor and agent sockets: its frame
size is counted in bytes and a flood of refused frames closes it."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.conftest import make_settings, seed_agents
from tests.integration.test_desk_api import login
from tests.integration.test_desk_supervisor import board_socket
from tests.live import LiveServer


@pytest.fixture
def strict_desk(tmp_path: Path) -> Iterator[LiveServer]:
    settings = make_settings(tmp_path, max_frame_bytes=1000, flood_errors_before_close=5)
    seed_agents(settings, ("sam@example.com", "supervisor", 5))
    live = LiveServer(settings).start()
    try:
        yield live
    finally:
        live.stop()


async def test_a_supervisor_frame_over_the_limit_in_bytes_but_not_in_characters_is_refused_with_1009(
    strict_desk: LiveServer,
) -> None:
    sam = await login(strict_desk, "sam@example.com")
    board = await board_socket(strict_desk, sam.cookie)
    await board.recv_type("board")
    # 600 characters, 1,800 bytes in UTF-8: over the 1,000-byte limit.
    await board.ws.send(json.dumps({"type": "ping", "pad": "€" * 600}, ensure_ascii=False))
    await asyncio.wait_for(board.ws.wait_closed(), 10)
    assert board.ws.close_code == 1009


async def test_a_flood_of_refused_supervisor_frames_closes_the_socket_with_1008(
    strict_desk: LiveServer,
) -> None:
    sam = await login(strict_desk, "sam@example.com")
    board = await board_socket(strict_desk, sam.cookie)
    await board.recv_type("board")
    for _ in range(20):
        await board.send({"type": "no_such_type"})
    await asyncio.wait_for(board.ws.wait_closed(), 10)
    assert board.ws.close_code == 1008
