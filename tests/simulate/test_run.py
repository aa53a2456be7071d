"""The runner's parts: the virtual clock, the control socket during a run, and a
wall-clock run against a real (loopback) OpenAI-compatible server."""

from __future__ import annotations

import math
import os
import signal
import threading
from pathlib import Path
from typing import Any

import anyio
import anyio.to_thread
import pytest
import trio

from actors.events import ActionRequest, GuildReady, MessageSeen, PresenceChanged
from runtime.core import Runtime
from runtime.errors import SendRejected
from runtime.ops.control import request
from runtime.simulate.channel import BOT_LINES, CHAT_LINES, TO_HER_LINES, SimDiscord
from runtime.simulate.run import run_policy
from runtime.simulate.setup import RunSetup
from runtime.simulate.traffic import (
    START_EPOCH,
    GuildPlan,
    GuildTraffic,
    Traffic,
    generate_traffic,
)
from runtime.simulate.virtual import VirtualClock
from tests.kit.fakeserver import Reply, open_fake_server


def _released_clock() -> VirtualClock:
    """The running loop's virtual clock, its start-up hold released."""
    clock = trio.lowlevel.current_clock()
    assert isinstance(clock, VirtualClock)
    clock.held -= 1
    return clock


async def _timer(seen: list[tuple[str, float]], times: tuple[float, ...]) -> None:
    """A trio timer at each of ``times``, noted in ``seen``."""
    for t in times:
        await trio.sleep_until(t)
        seen.append(("timer", trio.current_time()))


def test_the_virtual_clock_jumps_to_each_deadline_and_wakes_the_sleeper_exactly() -> None:
    """Time jumps only when every task waits; ``sleep_until`` and trio timers interleave
    in time order at their exact times."""
    seen: list[tuple[str, float]] = []

    async def main() -> None:
        clock = _released_clock()

        async with trio.open_nursery() as nursery:
            nursery.start_soon(_timer, seen, (2.5, 5.0))
            for t in (1.0, 3.0, 3.0, 7.25):
                await clock.sleep_until(t)
                seen.append(("driver", trio.current_time()))

    trio.run(main, clock=VirtualClock())
    assert seen == [("driver", 1.0), ("timer", 2.5), ("driver", 3.0), ("driver", 3.0),
                    ("timer", 5.0), ("driver", 7.25)]


class _At:
    def __init__(self, at: float, name: str) -> None:
        self.at, self.name = at, name


def test_a_fed_virtual_clock_hands_each_event_over_at_its_time_before_timers_then() -> None:
    """The feed hands events over at their exact times, in order with trio's timers (an
    event before a timer of the same instant), a past event at once, and the sleeper wakes
    after the last; ``fed`` counts them."""
    seen: list[tuple[str, float]] = []

    async def main() -> None:
        clock = _released_clock()

        async with trio.open_nursery() as nursery:
            nursery.start_soon(_timer, seen, (2.5, 3.0))
            await trio.lowlevel.checkpoint()  # the timer is armed
            events = [_At(100.0, "past"), _At(101.0, "a"), _At(103.0, "b"), _At(104.5, "c")]
            clock.feed(iter(events), lambda e: seen.append((e.name, trio.current_time())),
                       offset=100.0)
            await clock.sleep_until(10.0)
            seen.append(("driver", trio.current_time()))
            assert clock.fed == 4

    trio.run(main, clock=VirtualClock())
    assert seen == [("past", 0.0), ("a", 1.0), ("timer", 2.5), ("b", 3.0), ("timer", 3.0),
                    ("c", 4.5), ("driver", 10.0)]


def test_a_feed_that_raises_stops_and_the_sleeper_gets_the_error_not_trio() -> None:
    """A delivery that raises never reaches trio's loop (it would be a TrioInternalError):
    the feed stops there and the sleeping driver gets the exception."""
    handed: list[str] = []

    def deliver(e: _At) -> None:
        if e.name == "bad":
            raise ValueError("a malformed event")
        handed.append(e.name)

    async def main() -> None:
        clock = _released_clock()
        clock.feed([_At(1.0, "a"), _At(2.0, "bad"), _At(3.0, "c")], deliver)
        with pytest.raises(ValueError, match="a malformed event"):
            await clock.sleep_until(10.0)
        assert trio.current_time() == 2.0 and clock.fed == 1
        await clock.sleep_until(5.0)  # the clock goes on without the feed
        assert trio.current_time() == 5.0

    trio.run(main, clock=VirtualClock())
    assert handed == ["a"]


def test_a_cancelled_feed_hands_nothing_more_over() -> None:
    """Cancelling the driver's sleep and the feed (Ctrl-C in a run) leaves the rest."""
    handed: list[float] = []

    async def main() -> None:
        clock = _released_clock()
        clock.feed([_At(float(t), "e") for t in range(1, 10)],
                   lambda e: handed.append(trio.current_time()))
        with trio.move_on_after(3.5):
            await clock.sleep_until(100.0)
        clock.cancel_feed()
        await clock.sleep_until(20.0)

    trio.run(main, clock=VirtualClock())
    assert handed == [1.0, 2.0, 3.0]


def test_a_held_virtual_clock_waits_for_threads_and_its_sleeper_can_be_cancelled() -> None:
    """While held, thread work takes no virtual time; a cancelled sleeper leaves."""
    async def main() -> None:
        clock = _released_clock()
        release = threading.Event()

        async def sleeper() -> None:
            await trio.sleep(100.0)  # a pending deadline the clock could jump to

        async with trio.open_nursery() as nursery:
            nursery.start_soon(sleeper)
            clock.held += 1
            trio.lowlevel.current_trio_token().run_sync_soon(release.set)
            await trio.to_thread.run_sync(release.wait)
            clock.held -= 1
            assert trio.current_time() == 0.0
            with trio.move_on_after(10.0):
                await clock.sleep_until(50.0)
            assert trio.current_time() == 10.0
            await clock.sleep_until(20.0)  # the sleeper slot is free again
            assert trio.current_time() == 20.0
            nursery.cancel_scope.cancel()

    trio.run(main, clock=VirtualClock())


def test_the_control_socket_serves_during_a_virtual_run(tmp_path: Path) -> None:
    """The runtime's control socket lists the simulated guilds while the run goes on."""
    traffic = generate_traffic(seed=1, guilds=4, hours=1)
    sock = str(tmp_path / "ctl.sock")
    answers: dict[str, Any] = {}
    clock = VirtualClock()

    async def probe(rt: Runtime) -> None:
        clock.held += 1  # the request is thread work: virtual time must not run meanwhile
        try:
            answers["list"] = await anyio.to_thread.run_sync(request, sock, {"type": "list"})
            answers["stats"] = await anyio.to_thread.run_sync(request, sock, {"type": "stats"})
        finally:
            clock.held -= 1

    async def main() -> Any:
        return await run_policy(traffic, "v2", RunSetup(seed=1, control_socket=sock),
                                virtual=clock, on_started=probe)

    result = trio.run(main, clock=clock)
    assert sorted(r["guild_id"] for r in answers["list"]) == sorted(
        g.plan.guild_id for g in traffic.guilds)
    assert answers["stats"]["supervisor"]["delivered"] >= 4
    assert result.runtime["traffic_events"] == traffic.event_count
    assert not Path(sock).exists()


def _tiny_traffic() -> Traffic:
    """One guild in Tokyo (9:00 local at the start): someone speaks to the persona, then
    starts a related game, within two seconds."""
    gid, user = 42, 7
    plan = GuildPlan(index=0, guild_id=gid, channel_id=4200, timezone="Asia/Tokyo", size=1.0,
                     chat=1.0, humans=(user, 8), bots=())
    at = START_EPOCH + 0.25
    events = [MessageSeen(gid, 4200, 8, at, addresses_self=True, message_id=1),
              PresenceChanged(gid, user, at + 0.25, "online", "Project DIVA Mega Mix")]
    return Traffic(1, START_EPOCH, START_EPOCH + 2.0,
                   [GuildTraffic(plan, GuildReady(gid, START_EPOCH, (user, 8)), events)])


@pytest.mark.anyio
async def test_a_wall_clock_run_against_a_real_server_sends_clean_words(
        anyio_backend: str, tmp_path: Path) -> None:
    """On the wall clock with an OpenAI-compatible server: the reply and the greeting go
    out in the guild's channel, and the pings in the server's words do not."""
    async with open_fake_server() as server:
        server.default = Reply.ok("Hi <@123>! @everyone look at this")
        setup = RunSetup(seed=1, grace_s=0.0, pinned_moods=("bubbly",),
                         store_path=str(tmp_path / "s.sqlite3"), llm_url=server.base_url)
        result = await run_policy(_tiny_traffic(), "v2", setup)
    assert result.clock == "realtime"
    assert sorted(r.action for r in result.sent) == ["engage_user", "reply"]
    assert all(not r.pinged and r.text_len > 0 for r in result.sent)
    [greet] = [r for r in result.sent if r.action == "engage_user"]
    assert (greet.target_user_id, greet.target_activity) == (7, "Project DIVA Mega Mix")
    assert len(server.chat_requests) == 2


@pytest.mark.anyio
async def test_the_simulated_discord_refuses_a_foreign_channel_and_stores_no_words(
        anyio_backend: str) -> None:
    """A send to a channel the guild does not speak in is a 404; a record keeps the
    length of the words, never the words (no transcript asked)."""
    class Clock:
        def now(self) -> float:
            return START_EPOCH

    discord = SimDiscord(Clock(), {42: 4200})  # type: ignore[arg-type]
    req = ActionRequest(1, 42, 4200, "break_silence", "bubbly", START_EPOCH,
                        START_EPOCH + 60)
    await discord.send(req, "hello there")
    with pytest.raises(SendRejected):
        await discord.send(ActionRequest(2, 42, 999, "break_silence", "bubbly", START_EPOCH,
                                         START_EPOCH + 60), "hi")
    [record] = discord.sent
    assert record.text_len == len("hello there") and not record.pinged
    assert not any(isinstance(v, str) and "hello" in v for v in record.__struct_fields__)
    assert discord.words == [] and math.isfinite(record.at)


@pytest.mark.anyio
async def test_the_context_shows_the_channel_so_far_in_generic_lines_and_her_own(
        anyio_backend: str) -> None:
    """The context is the guild's messages up to now, each a built-in generic line (lines
    to her for messages that address her), with her own words in time order; a reply's
    context ends with the message she answers."""
    gid = 42
    plan = GuildPlan(index=0, guild_id=gid, channel_id=4200, timezone="UTC", size=1.0,
                     chat=1.0, humans=(1, 2), bots=(9,))
    t0 = START_EPOCH + 0.5
    events = [MessageSeen(gid, 4200, 1, t0, message_id=11),
              MessageSeen(gid, 4200, 9, t0 + 1, author_is_bot=True, message_id=12),
              MessageSeen(gid, 4200, 2, t0 + 2, addresses_self=True, message_id=13),
              MessageSeen(gid, 4200, 1, t0 + 10, message_id=14)]
    traffic = Traffic(1, START_EPOCH, START_EPOCH + 60,
                      [GuildTraffic(plan, GuildReady(gid, START_EPOCH, (1, 2)), events)])
    now = [t0 + 3]

    class Clock:
        def now(self) -> float:
            return now[0]

    discord = SimDiscord(Clock(), {gid: 4200}, traffic)  # type: ignore[arg-type]
    await discord.send(ActionRequest(1, gid, 4200, "reply", "bubbly", now[0], now[0] + 60,
                                     priority=0), "hi there!")
    now[0] = t0 + 20
    lines = await discord.context(gid, 4200, 10)
    assert [(line.is_self, line.text in CHAT_LINES) for line in lines] == [
        (False, True), (False, False), (False, False), (True, False), (False, True)]
    assert lines[3].text == "hi there!" and lines[3].author == "Miku"
    assert lines[2].text in TO_HER_LINES and lines[1].text in BOT_LINES
    assert lines[0].author == discord.display_name(1) != lines[2].author
    assert len(await discord.context(gid, 4200, 2)) == 2
    upto = await discord.context(gid, 4200, 10, upto_message_id=13)
    assert [line.text for line in upto] == [line.text for line in lines[:3]]


@pytest.mark.anyio
async def test_a_wall_clock_run_lets_queued_words_go_out_after_the_window(
        anyio_backend: str, tmp_path: Path) -> None:
    """Three people speak to her just before the window ends, one worker, a slow server:
    the run waits for the words instead of failing the queued ones at shutdown."""
    gid = 42
    plan = GuildPlan(index=0, guild_id=gid, channel_id=4200, timezone="Asia/Tokyo", size=1.0,
                     chat=1.0, humans=(1, 2, 3), bots=())
    events = [MessageSeen(gid, 4200, u, START_EPOCH + 0.1 * u, addresses_self=True,
                          message_id=u) for u in (1, 2, 3)]
    traffic = Traffic(1, START_EPOCH, START_EPOCH + 0.5,
                      [GuildTraffic(plan, GuildReady(gid, START_EPOCH, (1, 2, 3)), events)])
    async with open_fake_server() as server:
        server.default = Reply.ok("hello!", latency=0.3)
        setup = RunSetup(seed=1, store_path=str(tmp_path / "s.sqlite3"),
                         llm_url=server.base_url, llm_workers=1)
        result = await run_policy(traffic, "v2", setup)
    assert [r.action for r in result.sent] == ["reply"] * 3
    assert result.runtime["pool_failed"] == 0 and result.runtime["pool_sent"] == 3


@pytest.mark.parametrize("anyio_backend", ["asyncio"])
@pytest.mark.anyio
async def test_a_signal_ends_a_wall_clock_run_early_with_what_happened(
        anyio_backend: str, tmp_path: Path) -> None:
    """SIGINT during a wall-clock run stops the traffic, shuts down in order and returns
    the run so far (asyncio only: the command line's wall-clock runs are asyncio)."""
    traffic = _tiny_traffic()
    traffic = Traffic(traffic.seed, traffic.start, traffic.start + 3600.0, traffic.guilds)

    async def interrupt(rt: Runtime) -> None:
        os.kill(os.getpid(), signal.SIGINT)

    setup = RunSetup(seed=1, grace_s=0.0, store_path=str(tmp_path / "s.sqlite3"),
                     stop_on_signals=True)
    with anyio.fail_after(30):
        result = await run_policy(traffic, "v2", setup, on_started=interrupt)
    assert traffic.start <= result.ended_at < traffic.start + 60.0
    assert result.runtime["traffic_events"] <= 2
    short = traffic.truncated(result.ended_at)
    assert short.end == result.ended_at and short.event_count == result.runtime[
        "traffic_events"]
