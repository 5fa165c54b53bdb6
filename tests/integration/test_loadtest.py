"""`livedesk loadtest` runs briefly against a hub process of its own and against a running
hub (``--url``), its clients ride out a node restart, and its loss, duplicate and cap
counters are honest."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from pathlib import Path

from chatserver.cli.main import build_parser
from chatserver.testing.loadtest import Config, HubProcess, LoadTest, Stats, Stream
from tests.integration.conftest import AGENT_PASSWORD, add_agents, make_settings
from tests.live import LiveServer


def open_ended(url: str, pairs: int, agents: int, cap: int, agent_url: str | None = None) -> Config:
    """``pairs`` visitors at once, all writing until the test ends the run itself."""
    return Config(
        url=url,
        agent_url=agent_url,
        duration=60,  # an upper bound
        visitors_per_s=100,
        max_visitors=pairs,
        messages=10_000,
        message_rate=4,
        agents=agents,
        cap=cap,
        drain_s=15,
        progress=False,
    )


@contextlib.asynccontextmanager
async def load_running(run: LoadTest) -> AsyncIterator[asyncio.Task[dict]]:
    """``run`` goes on while the block does (the block ends it with ``run.finish()`` and
    awaits the task); a block that fails half way stops it quietly."""
    task = asyncio.create_task(run.run())
    try:
        yield task
    finally:
        run.finish()
        if not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task


def assert_clean(result: dict) -> None:
    report = json.dumps(result)  # in full: pytest would abbreviate the dict
    assert result["lost"] == 0, report
    assert result["duplicated"] == 0, report
    assert result["cap_violations"] == 0, report
    assert result["messages"] > 0 and result["delivered"] > 0, report
    assert result["conversations"] > 0 and result["closed"] == result["conversations"], report
    assert result["errors"] == 0, report


async def test_loadtest_against_its_own_hub_process_loses_nothing() -> None:
    cfg = Config(
        duration=3,
        visitors_per_s=4,
        messages=3,
        message_rate=4,
        agents=2,
        cap=2,
        drain_s=10,
        progress=False,
    )
    result = await LoadTest(cfg).run()
    assert_clean(result)
    assert result["assigned"] > 0 and result["delivery_p99_ms"] is not None
    assert result["server_rss_mb"] and result["server_rss_mb"] > 0
    assert result["max_held"] <= 2


async def test_loadtest_drives_a_running_hub_by_url_with_given_credentials(
    tmp_path: Path,
) -> None:
    settings = make_settings(tmp_path, rate_limit_per_s=1000.0, rate_limit_burst=1000)
    await add_agents(
        settings, ("tester0@example.com", "agent", 1), ("tester1@example.com", "agent", 1)
    )
    server = LiveServer(settings).start()
    try:
        cfg = Config(
            url=server.url,
            duration=2,
            visitors_per_s=4,
            messages=2,
            message_rate=5,
            agents=2,
            cap=1,
            agent_email_pattern="tester{i}@example.com",
            agent_password=AGENT_PASSWORD,
            drain_s=10,
            progress=False,
        )
        result = await LoadTest(cfg).run()
    finally:
        server.stop()
    assert_clean(result)
    # Cap 1 with 8 visitors: conversations waited their turn, none beyond the cap.
    assert result["max_held"] == 1
    assert result["queue_wait_max_ms"] is not None


async def test_loadtest_by_url_rides_out_a_hub_restart_and_still_counts_exactly(
    tmp_path: Path,
) -> None:
    """kill -9 of the hub mid-run, and a restart on the same database and port: every
    client reconnects, resumes by seq and retries what was not acknowledged, so the run
    ends with exact counts instead of failing."""
    pairs, agents = 8, 4
    hub = HubProcess(agents=agents, cap=2, db_dir=str(tmp_path))
    await hub.seed()
    hub.start()
    try:
        run = LoadTest(open_ended(hub.base, pairs, agents, cap=2))

        def answered(skip: set[tuple[str, int]]) -> set[str]:
            """Conversations with an agent's text acknowledged, other than those in ``skip``."""
            acked = list(run.acked.items())
            return {key[0] for key, (who, _) in acked if who == "agent" and key not in skip}

        async with load_running(run) as task:
            await asyncio.wait_for(run.reached(lambda: len(answered(set())) == pairs), 30)
            hub.kill()
            await asyncio.to_thread(hub.start)
            back = set(run.acked)
            # Every conversation goes on after the restart, answered again.
            await asyncio.wait_for(run.reached(lambda: len(answered(back)) == pairs), 30)
            run.finish()
            result = await asyncio.wait_for(task, 60)
    finally:
        hub.cleanup()
    report = json.dumps(result)  # in full: pytest would abbreviate the dict
    assert_clean(result)
    assert result["reconnects"] >= agents + pairs, report  # every socket came back


def test_the_counters_catch_duplicates_and_mismatches() -> None:
    stats = Stats()
    stream = Stream(stats)
    one = {"seq": 1, "author": "visitor", "client_msg_id": "a"}
    assert stream.take(one, replay=False)
    assert not stream.take(one, replay=True)  # a resume replay overlapping: fine
    assert stats.duplicated == 0
    assert not stream.take(one, replay=False)  # the same live frame twice: duplicated
    assert stats.duplicated == 1
    assert stream.take({"seq": 2, "author": "visitor", "client_msg_id": "a"}, replay=False)
    assert stats.duplicated == 2  # one client message stored under two seqs
    stream.take({"seq": 2, "author": "agent", "client_msg_id": "b"}, replay=True)
    assert stats.mismatched == 1  # two different items under one seq
    assert not stream.gap()
    stream.take({"seq": 4, "author": "bot", "client_msg_id": None}, replay=False)
    assert stream.gap() and stream.contiguous == 2


def test_a_live_copy_arriving_after_the_replay_is_not_a_duplicate() -> None:
    """With several nodes the live frame of an item can come after a resume returned it
    (the protocol says: ignore a seq already shown); only a second live copy counts."""
    stats = Stats()
    stream = Stream(stats, "visitor 0")
    reply = {"seq": 3, "author": "agent", "client_msg_id": "r-1", "conversation_id": "c"}
    assert stream.take(reply, replay=True)
    assert not stream.take(reply, replay=False)
    assert stats.duplicated == 0
    assert not stream.take(reply, replay=False)
    assert stats.duplicated == 1
    assert stats.failures == ["duplicated at visitor 0: seq 3 (None agent) of c came live twice"]


def test_the_command_is_registered_with_its_knobs() -> None:
    args = build_parser().parse_args(
        [
            "loadtest",
            "--url",
            "http://127.0.0.1:1",
            "--duration",
            "2",
            "--visitors-per-s",
            "3",
            "--message-rate",
            "1",
            "--think-ms",
            "50",
            "--agents",
            "2",
            "--cap",
            "4",
            "--agent-url",
            "http://127.0.0.1:2",
            "--no-reconnect",
            "--json",
        ]
    )
    assert args.func.__name__ == "cmd_loadtest"
    assert (args.duration, args.visitors_per_s, args.agents, args.cap) == (2.0, 3.0, 2, 4)
    assert (args.agent_url, args.reconnect) == ("http://127.0.0.1:2", False)
    assert build_parser().parse_args(["loadtest"]).reconnect is True
