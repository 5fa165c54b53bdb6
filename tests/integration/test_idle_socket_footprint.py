"""What an idle socket keeps for its life, beyond its own state: its ASGI call stays on the
stack while it is open, so every layer it was called through is memory it holds
(benchmarks/connections.py measures the whole)."""

from __future__ import annotations

import asyncio
from typing import Any

from tests.live import LiveServer, connect_visitor

# Layers a websocket only passes through, found at the socket's endpoint directly instead.
PASSED_THROUGH = (
    "starlette/routing.py",
    "starlette/middleware/cors.py",
    "starlette/middleware/exceptions.py",
)


def await_chain(coro: Any) -> list[str]:
    """The files of the coroutines ``coro`` is awaiting through, outermost first."""
    files: list[str] = []
    while coro is not None:
        code = getattr(coro, "cr_code", None) or getattr(coro, "gi_code", None)
        if code is not None:
            files.append(f"{code.co_filename}:{code.co_name}")
        coro = getattr(coro, "cr_await", None) or getattr(coro, "gi_yieldfrom", None)
    return files


async def handler_chains(server: LiveServer) -> list[list[str]]:
    """Every task's await chain in the server's loop (read there, not from our thread)."""
    protocols = list(server._server.server_state.connections)  # type: ignore[union-attr]
    loop = protocols[0].loop

    async def collect() -> list[list[str]]:
        return [await_chain(t.get_coro()) for t in asyncio.all_tasks()]

    return await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(collect(), loop))


async def test_an_idle_visitor_socket_is_served_past_cors_the_exception_layer_and_router(
    server: LiveServer,
) -> None:
    client, _token = await connect_visitor(server)
    assert (await client.recv())["type"] == "welcome"
    chains = [c for c in await handler_chains(server) if any("visitor_endpoint" in f for f in c)]
    assert len(chains) == 1
    assert [f for f in chains[0] if any(layer in f for layer in PASSED_THROUGH)] == []
    # ...and it still answers.
    await client.send({"type": "ping"})
    assert (await client.recv())["type"] == "pong"
